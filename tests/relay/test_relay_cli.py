"""cmd_relay: refusals, and both engines launched for real on 127.0.0.1."""

from __future__ import annotations

import signal
import stat
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from relay_support import (
    MAIL_URL,
    SECRET_A,
    SECRET_B,
    SETTINGS,
    descendants,
    exported,
    launch_relay,
    payload,
    stop_relay,
    wait_for_port,
)

from polaris_tui.relay.cli import cmd_relay
from polaris_tui.relay.client import send_signed
from polaris_tui.sandbox.servers import free_port


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"host": "0.0.0.0", "outbox": Path("out"), "smtp": None}, "not a loopback address"),
        ({"host": "192.0.2.10", "outbox": Path("out"), "smtp": None}, "--public"),
        ({"outbox": None, "smtp": None}, "exactly one of --outbox"),
        ({"outbox": Path("out"), "smtp": "127.0.0.1:25"}, "exactly one of --outbox"),
        ({"outbox": None, "smtp": "localhost"}, "--smtp must be HOST:PORT"),
        ({"outbox": Path("out"), "smtp": None, "engine": "workerd"}, "apply to --engine python"),
        ({"outbox": None, "smtp": None, "engine": "deno"}, "--engine must be"),
    ],
)
def test_usage_errors_exit_2_with_a_clear_message(
    kwargs: dict[str, Any], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cmd_relay(settings=SETTINGS, state_dir=Path("state"), **kwargs) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["int", "term"])
def test_python_engine_serves_and_writes_the_outbox(tmp_path: Path, stop_signal: int) -> None:
    port = free_port()
    outbox = tmp_path / "outbox"
    proc, banner = launch_relay(
        tmp_path, settings=asdict(SETTINGS), port=port, outbox=str(outbox), smtp=None
    )
    try:
        assert banner.strip() == (
            f"relay (python) listening on http://127.0.0.1:{port}/send; "
            f"mail goes to outbox {outbox}"
        )
        wait_for_port(port, proc)
        result = send_signed(MAIL_URL, SECRET_A, payload(), connect_to=f"http://127.0.0.1:{port}")
        assert result.status == 202
        assert len(exported(outbox, 1)) == 1
    finally:
        assert stop_relay(proc, stop_signal) == 0


def test_workerd_engine_runs_the_shipped_worker(tmp_path: Path) -> None:
    """serve.mjs runs the Worker in workerd; the secrets reach it over a pipe, no file."""
    leftover = tmp_path / "polaris-relay-old"  # what a killed wrangler-era relay left
    leftover.mkdir()
    (leftover / ".dev.vars").write_text(f"POLARIS_SECRET_A={SECRET_A}\n")
    port = free_port()
    proc, banner = launch_relay(tmp_path, settings=asdict(SETTINGS), port=port, outbox=None,
                                smtp=None, engine="workerd")  # fmt: skip
    try:
        assert banner.startswith(f"relay (workerd) listening on http://127.0.0.1:{port}/send")
        wait_for_port(port, proc)
        assert not leftover.exists()
        base = f"http://127.0.0.1:{port}"
        assert send_signed(MAIL_URL, SECRET_A, payload(), connect_to=base).status == 202
        assert (
            send_signed(MAIL_URL, SECRET_B, payload(dry_run=True), connect_to=base).key_slot == "B"
        )
        assert send_signed(MAIL_URL, "wrong", payload(), connect_to=base).status == 401
        for pid in descendants(proc.pid):
            for name in ("cmdline", "environ"):
                assert SECRET_A.encode() not in (Path("/proc") / str(pid) / name).read_bytes()
        written = [p for p in tmp_path.rglob("*") if p.is_file()]
        assert all(SECRET_A.encode() not in p.read_bytes() for p in written), "secret on disk"
        assert not list(tmp_path.rglob(".dev.vars"))
        mail_files = list((tmp_path / "state").rglob("*.eml"))
        assert mail_files, "miniflare wrote no mail under the state dir"
        for path in mail_files:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
            assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700, path.parent
    finally:
        assert stop_relay(proc) == 0
