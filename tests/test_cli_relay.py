"""`polaris-tui relay` and `send-test` as an operator runs them, over real HTTP.

The relay runs as the console script in its own process (`--sandbox`, so its secret comes
from the sandbox's keyring file); send-test runs in-process against it.
"""

from __future__ import annotations

import email
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from polaris_tui import cli
from polaris_tui.config import load_config
from polaris_tui.sandbox import Sandbox
from polaris_tui.sandbox.servers import free_port
from polaris_tui.session import sandbox_vault
from tests.runtime_helpers import CLI, RELAY_STEPS, run_cli

SECRET = "cli-test-signing-secret-0123456789abcdef"


def _store_secret(directory: Path, value: str | None) -> None:
    """Put (or remove) polaris-secret-a in the sandbox's keyring, as `apply secret` would."""
    box = Sandbox(directory)
    with box as endpoints:
        vault = sandbox_vault(box, endpoints.domain)
        if value is None:
            vault.delete("polaris-secret-a")
        else:
            vault.set("polaris-secret-a", value)


def _run(directory: Path, *argv: str) -> int:
    return cli.main(["--sandbox", "--sandbox-dir", str(directory), *argv])


@pytest.fixture
def local_relay(tmp_path: Path) -> Iterator[tuple[Path, Path, str]]:
    """`polaris-tui --sandbox relay --outbox DIR` on a free loopback port."""
    directory, outbox, port = tmp_path / "sbx", tmp_path / "outbox", free_port()
    _store_secret(directory, SECRET)
    argv = [str(CLI), "--sandbox", "--sandbox-dir", str(directory), "relay"]
    argv += ["--outbox", str(outbox), "--port", str(port)]
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    banner = proc.stdout.readline()
    try:
        assert "listening on http://127.0.0.1" in banner, proc.stderr.read() if proc.stderr else ""
        yield directory, outbox, f"http://127.0.0.1:{port}/send"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _exported(outbox: Path, count: int = 1) -> list[Path]:
    """The outbox's .eml files once there are ``count`` (the exporter runs behind the 202)."""
    deadline = time.monotonic() + 10
    while len(files := list(outbox.glob("*.eml"))) < count:
        assert time.monotonic() < deadline, f"fewer than {count} .eml files in {outbox}"
        time.sleep(0.01)
    return files


def test_send_test_against_the_local_relay_writes_an_eml(
    local_relay: tuple[Path, Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    directory, outbox, url = local_relay
    assert _run(directory, "send-test", "--to", "ada@example.com", "--url", url) == 0
    out, err = capsys.readouterr()
    assert "status   202" in out and "key slot A" in out
    files = _exported(outbox)
    assert len(files) == 1
    message = email.message_from_bytes(files[0].read_bytes())
    assert message["To"] == "ada@example.com"
    assert load_config(directory / "config.toml").sender_customer in message["From"]
    message_id = next(line.split()[1] for line in out.splitlines() if line.startswith("message"))
    assert message_id != "-" and message_id in files[0].name + message["Message-ID"]
    assert SECRET not in out + err

    assert _run(directory, "send-test", "--to", "ada@example.com", "--from", "admin",
                "--url", url, "--dry-run") == 0  # fmt: skip
    out, _ = capsys.readouterr()
    assert "status   200" in out and "sent nothing" in out
    assert len(_exported(outbox)) == 1


def test_send_test_with_a_secret_the_relay_does_not_hold_fails_with_guidance(
    local_relay: tuple[Path, Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    directory, outbox, url = local_relay
    _store_secret(directory, "a-different-secret-than-the-relay-holds")
    assert _run(directory, "send-test", "--to", "ada@example.com", "--url", url) == 1
    out, err = capsys.readouterr()
    assert "status   401" in out
    assert "rejects the keyring's secret" in err and "polaris-tui apply secret" in err
    assert not list(outbox.glob("*.eml"))


def test_send_test_defaults_to_mail_host_through_the_sandbox_edge(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "sbx"
    _store_secret(directory, SECRET)
    # No record and no route at mail.polaris.test yet: the edge does not know the host.
    assert _run(directory, "send-test", "--to", "ada@example.com") == 1
    out, err = capsys.readouterr()
    assert "status   404" in out
    assert "mail host returns 522 / 404" in err and "polaris-tui verify route" in err


def test_relay_and_send_test_without_a_secret_name_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "sbx"
    _store_secret(directory, None)
    for argv in (["send-test", "--to", "ada@example.com"], ["relay", "--outbox", "out"]):
        assert _run(directory, *argv) == 1
        err = capsys.readouterr().err
        assert "polaris-secret-a" in err and "polaris-tui apply secret" in err


def test_unreachable_url_is_a_clear_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "sbx"
    _store_secret(directory, SECRET)
    url = f"http://127.0.0.1:{free_port()}/send"
    assert _run(directory, "send-test", "--to", "ada@example.com", "--url", url) == 1
    err = capsys.readouterr().err
    assert f"no answer from {url}" in err and "polaris-tui relay" in err
    assert SECRET not in err


def test_send_test_a_send_cloudflare_refuses_is_502_with_the_delivery_guidance(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The relay is deployed and routed, but polaris.test never went through email-service:
    Cloudflare refuses the binding's send, the relay answers 502 send_failed and send-test
    explains it."""
    directory = tmp_path / "sbx"
    for step_id in RELAY_STEPS:
        done = run_cli(directory, "apply", step_id, "--yes")
        assert done.returncode == 0, done.stderr
    assert _run(directory, "send-test", "--to", "customer@example.com") == 1
    out, err = capsys.readouterr()
    assert "status   502" in out
    assert "the relay answered 502: send_failed" in err
    assert "Cloudflare refused to deliver the message" in err
    assert "polaris-tui verify email-service" in err
    assert not list((directory / "inbox").glob("*.eml"))
