"""Reading a delivered test message back: IMAPS (TLS, certificate checked) against a small
IMAP server on loopback, the Authentication-Results parse, and the mailbox config fields."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from polaris_tui import delivery
from polaris_tui.adapters.mailbox import ImapsMailbox, InboxFolder, split_host
from polaris_tui.config import ConfigError, validate
from polaris_tui.errors import Unavailable
from tests.imaps_server import ImapsServer, self_signed

PASSWORD = "imap-test-password-4f1c"
MESSAGE_ID = "1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed@polaris.test"
RAW = (
    b"Return-Path: <bounces@cf-bounce.polaris.test>\r\n"
    b"Authentication-Results: mx.example.org;\r\n"
    b" spf=pass smtp.mailfrom=bounces@cf-bounce.polaris.test;\r\n"
    b' dkim=fail reason="bad signature" header.d=polaris.test;\r\n'
    b" dmarc=pass header.from=polaris.test\r\n"
    b"Authentication-Results: forged.example; spf=fail; dkim=pass; dmarc=fail\r\n"
    b"From: noreply@polaris.test\r\nTo: you@example.org\r\nSubject: t\r\n"
    b"Message-ID: <" + MESSAGE_ID.encode() + b">\r\n\r\nhello\r\n"
)


@pytest.fixture
def certs(tmp_path: Path) -> tuple[Path, Path]:
    return self_signed(tmp_path)


@pytest.fixture
def server(certs: tuple[Path, Path]) -> Iterator[ImapsServer]:
    srv = ImapsServer(*certs, user="you@example.org", password=PASSWORD)
    srv.messages += [b"Message-ID: <other@polaris.test>\r\n\r\nx\r\n", RAW]
    yield srv
    srv.close()


def _mailbox(port: int, cert: Path, password: str = PASSWORD) -> ImapsMailbox:
    context = ssl.create_default_context(cafile=str(cert))
    return ImapsMailbox(f"127.0.0.1:{port}", "you@example.org", lambda: password, context)


def test_imaps_finds_the_message_by_its_message_id(server, certs) -> None:
    mailbox = _mailbox(server.port, certs[0])
    assert mailbox.find(MESSAGE_ID) == RAW
    assert mailbox.find("absent@polaris.test") is None
    assert server.logins == ["you@example.org", "you@example.org"]


def test_a_wrong_password_is_unavailable_without_the_password(server, certs) -> None:
    with pytest.raises(Unavailable) as err:
        _mailbox(server.port, certs[0], "wrong-password-9a").find(MESSAGE_ID)
    assert "imaps://you@example.org@127.0.0.1" in str(err.value)
    assert "wrong-password-9a" not in str(err.value)


def test_an_untrusted_certificate_is_refused(server) -> None:
    """The system trust store does not know the server's self-signed certificate."""
    mailbox = ImapsMailbox(f"127.0.0.1:{server.port}", "you@example.org", lambda: PASSWORD)
    with pytest.raises(Unavailable, match="CERTIFICATE_VERIFY_FAILED"):
        mailbox.find(MESSAGE_ID)
    assert server.logins == []


def test_a_plain_imap_server_is_never_spoken_to_in_the_clear(certs) -> None:
    plain = ImapsServer(*certs, user="you@example.org", password=PASSWORD, tls=False)
    try:
        with pytest.raises(Unavailable):
            _mailbox(plain.port, certs[0]).find(MESSAGE_ID)
        assert plain.logins == []
    finally:
        plain.close()


def test_the_topmost_authentication_results_is_the_verdict() -> None:
    auth = delivery.parse(RAW)
    assert (auth.spf, auth.dkim, auth.dmarc) == ("pass", "fail", "pass")
    assert not auth.passed and auth.failing() == ["dkim"]
    assert "mx.example.org" in auth.detail and "bad signature" in auth.detail


def test_a_message_without_the_header_is_judged_none() -> None:
    auth = delivery.parse(b"From: a@polaris.test\r\n\r\nx\r\n")
    assert (auth.spf, auth.dkim, auth.dmarc) == ("none", "none", "none")


def test_wait_for_polls_until_the_message_arrives(tmp_path: Path) -> None:
    inbox = InboxFolder(tmp_path)
    seen: list[str] = []

    def progress(message: str, _fraction: float) -> None:
        seen.append(message)
        if len(seen) == 2:
            (tmp_path / "1.eml").write_bytes(RAW)

    assert delivery.wait_for(inbox, MESSAGE_ID, 30, progress, poll=0.01) == RAW
    assert len(seen) == 2 and MESSAGE_ID in seen[0]
    assert delivery.wait_for(inbox, "absent@polaris.test", 0.05, poll=0.01) is None


def test_split_host() -> None:
    assert split_host("imap.example.com") == ("imap.example.com", 993)
    assert split_host("imap.example.com:1993") == ("imap.example.com", 1993)


BASE = {"domain": "example.com", "account_id": "0" * 32, "traefik_ipv4": "203.0.113.10"}


def test_imap_fields_validate_and_name_the_fix() -> None:
    config = validate({**BASE, "imap_host": "imap.example.com:993", "imap_user": "me@example.com"})
    assert config.imap_host == "imap.example.com:993" and config.delivery_timeout_seconds == 120
    with pytest.raises(ConfigError) as err:
        validate({**BASE, "imap_host": "imap.example.com"})
    assert err.value.field == "imap_user"
    with pytest.raises(ConfigError) as err:
        validate({**BASE, "imap_host": "imap example", "imap_user": "me"})
    assert err.value.field == "imap_host"
    with pytest.raises(ConfigError) as err:
        validate({**BASE, "delivery_timeout_seconds": 0})
    assert err.value.field == "delivery_timeout_seconds"


def test_the_delivery_check_is_announced_only_where_a_mailbox_is_readable(
    config_file: Path, memory_keyring: object
) -> None:
    """Verify sends mail only with a mailbox to read it back from, and says so beforehand."""
    from polaris_tui.config import set_value
    from polaris_tui.session import build_context
    from polaris_tui.steps import delivery_probe

    ctx = build_context(config_file)
    assert ctx.mailbox is None and delivery_probe.note(ctx) is None
    set_value(config_file, "imap_user", "ops@example.com")
    set_value(config_file, "imap_host", "imap.example.com")
    ctx = build_context(config_file)
    note = delivery_probe.note(ctx)
    assert note is not None and "sends one signed test message" in note
    assert "to ops@example.com" in note and "imaps://ops@example.com@imap.example.com" in note
