"""cmd_relay: refusals, and both engines launched for real on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from relay_support import MAIL_URL, SECRET_A, SECRET_B, SETTINGS, payload

from polaris_tui.relay.cli import cmd_relay, dev_config
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
    assert cmd_relay(settings=SETTINGS, **kwargs) == 2
    assert message in capsys.readouterr().err


def test_dev_config_derives_the_allow_list_from_the_bindings() -> None:
    config = dev_config(SETTINGS, {"RATE_LIMIT_MAX": "3"})
    assert config["send_email"] == [
        {"name": "SEND_CUSTOMER", "allowed_sender_addresses": ["hello@polaris.test"]},
        {"name": "SEND_ADMIN", "allowed_sender_addresses": ["admin@polaris.test"]},
    ]
    assert config["vars"]["SENDER_CUSTOMER"] == "hello@polaris.test"
    assert config["vars"]["SENDER_ADMIN"] == "admin@polaris.test"
    assert config["vars"]["RATE_LIMIT_MAX"] == "3"
    assert SECRET_A not in json.dumps(config)


LAUNCH = """
import json, os, sys
from pathlib import Path
from polaris_tui.relay.cli import cmd_relay
from polaris_tui.relay.engine import RelaySettings
args = json.loads(os.environ.pop("RELAY_TEST_ARGS"))
settings = RelaySettings(**args.pop("settings"))
outbox = args.pop("outbox")
sys.exit(cmd_relay(settings=settings, outbox=outbox and Path(outbox), **args))
"""


def _launch(tmp_path: Path, **args: Any) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "TMPDIR": str(tmp_path), "RELAY_TEST_ARGS": json.dumps(args)}
    proc = subprocess.Popen(
        [sys.executable, "-c", LAUNCH], env=env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    banner = proc.stdout.readline()
    return proc, banner


def _wait_for_port(port: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "relay exited early"
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port}")


def _stop(proc: subprocess.Popen[str], signum: int = signal.SIGTERM) -> int:
    proc.send_signal(signum)
    return proc.wait(timeout=30)


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["int", "term"])
def test_python_engine_serves_and_writes_the_outbox(tmp_path: Path, stop_signal: int) -> None:
    port = free_port()
    outbox = tmp_path / "outbox"
    proc, banner = _launch(
        tmp_path, settings=asdict(SETTINGS), port=port, outbox=str(outbox), smtp=None
    )
    try:
        assert banner.strip() == (
            f"relay (python) listening on http://127.0.0.1:{port}/send; "
            f"mail goes to outbox {outbox}"
        )
        _wait_for_port(port, proc)
        result = send_signed(MAIL_URL, SECRET_A, payload(), connect_to=f"http://127.0.0.1:{port}")
        assert result.status == 202
        assert len(list(outbox.glob("*.eml"))) == 1
    finally:
        assert _stop(proc, stop_signal) == 0


def _cmdlines() -> list[bytes]:
    found = []
    for proc_dir in Path("/proc").iterdir():
        if proc_dir.name.isdigit():
            try:
                found.append((proc_dir / "cmdline").read_bytes())
            except OSError:
                continue
    return found


def test_workerd_engine_runs_the_shipped_worker(tmp_path: Path) -> None:
    """wrangler dev serves the Worker; secrets sit only in a 0600 file that is gone on exit."""
    port = free_port()
    settings = asdict(SETTINGS)
    proc, banner = _launch(tmp_path, settings=settings, port=port, outbox=None, smtp=None,
                           engine="workerd")  # fmt: skip
    try:
        assert banner.startswith(f"relay (workerd) listening on http://127.0.0.1:{port}/send")
        _wait_for_port(port, proc)
        [private] = tmp_path.glob("polaris-relay-*")
        dev_vars = private / ".dev.vars"
        assert stat.S_IMODE(private.stat().st_mode) == 0o700
        assert stat.S_IMODE(dev_vars.stat().st_mode) == 0o600
        assert all(SECRET_A.encode() not in line for line in _cmdlines())
        base = f"http://127.0.0.1:{port}"
        assert send_signed(MAIL_URL, SECRET_A, payload(), connect_to=base).status == 202
        assert (
            send_signed(MAIL_URL, SECRET_B, payload(dry_run=True), connect_to=base).key_slot == "B"
        )
        assert send_signed(MAIL_URL, "wrong", payload(), connect_to=base).status == 401
    finally:
        assert _stop(proc) == 0
    assert not private.exists()
