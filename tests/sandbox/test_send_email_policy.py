"""Which recipients a send_email binding reaches, over SMTP against the account's state:
verified destination addresses under Email Routing alone, anyone once the sender's
domain is a verified Email Sending domain, nobody from a domain not onboarded."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import pytest

from polaris_tui.sandbox.receiver import UdpResolver
from polaris_tui.sandbox.send_email_policy import store_policy
from polaris_tui.sandbox.smtp import SmtpInbox
from polaris_tui.sandbox.state import Settings, Store
from tests.sandbox.conftest import ACTIVATION_MS
from tests.sandbox.test_email import wait_until

SETTINGS = Settings(activation_ms=int(ACTIVATION_MS))  # addresses verified only by their link


def _send(inbox: SmtpInbox, sender: str, recipient: str) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, recipient, "policy"
    msg["Message-ID"] = "<policy@polaris.test>"
    msg.set_content("hello")
    with smtplib.SMTP("127.0.0.1", inbox.port, timeout=10) as smtp:
        smtp.send_message(msg)


@pytest.fixture
def delivery(ep, tmp_path):
    """An inbox that delivers only what Cloudflare would, judged on the account's state."""
    boxes: list[SmtpInbox] = []

    def start() -> SmtpInbox:
        store = Store(ep.directory)  # the account as it is now
        box = SmtpInbox(
            tmp_path / f"inbox{len(boxes)}",
            UdpResolver(lambda: (ep.dns_host, ep.dns_port)),
            store_policy(store, lambda: SETTINGS),
        )
        box.start()
        boxes.append(box)
        return box

    yield start
    for box in boxes:
        box.stop()


def test_email_routing_alone_reaches_only_verified_destinations(cf, ep, delivery):
    cf.email_routing.dns.create(zone_id=ep.zone_id)
    addr = cf.email_routing.addresses.create(account_id=ep.account_id, email="ops@inbox.example")
    ep.verify_address(addr.email)
    inbox = delivery()
    _send(inbox, "noreply@polaris.test", "ops@inbox.example")
    with pytest.raises(smtplib.SMTPDataError) as err:
        _send(inbox, "noreply@polaris.test", "customer@example.com")
    assert err.value.smtp_code == 550 and b"not verified destination" in err.value.smtp_error
    assert len(list(inbox.inbox.glob("*.eml"))) == 1


def test_a_verified_sending_domain_reaches_any_recipient(cf, ep, delivery):
    sub = cf.email_sending.subdomains.create(zone_id=ep.zone_id, name="polaris.test")
    wait_until(lambda: cf.email_sending.subdomains.get(sub.tag, zone_id=ep.zone_id).enabled)
    inbox = delivery()
    _send(inbox, "noreply@polaris.test", "customer@example.com")
    with pytest.raises(smtplib.SMTPDataError) as err:
        _send(inbox, "someone@elsewhere.example", "customer@example.com")
    assert b"not on a domain onboarded" in err.value.smtp_error
    assert len(list(inbox.inbox.glob("*.eml"))) == 1


def test_send_test_shows_the_delivery_guidance_for_a_refused_send():
    """send-test passes the relay's error to the lookup: 502 send_failed is Cloudflare
    refusing delivery, not a routing problem."""
    from polaris_tui import troubleshooting

    entry = troubleshooting.lookup(
        "route", check_id="route.unsigned-post", status=502, message="send_failed"
    )
    assert entry is not None and entry.id == "send-recipient-refused"
    assert "verified destination addresses" in entry.meaning
    other = troubleshooting.lookup("route", check_id="route.unsigned-post", status=502)
    assert other is None or other.id != "send-recipient-refused"
