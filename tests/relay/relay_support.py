"""Shared by the relay tests: fixed secrets, a loopback uvicorn runner, an SMTP inbox."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from polaris_tui.relay.engine import RelaySettings

SECRET_A = "q7Z0m3kV1x9sY2fB8nR4tW6uH5jL0pC3aE1dG7iK9oM="
SECRET_B = "Xc2vB7nM1qW9eR4tY6uI3oP0aS5dF8gH2jK7lZ1xC4v="
MAIL_URL = "https://mail.polaris.test/send"
SETTINGS = RelaySettings(
    secret_a=SECRET_A,
    secret_b=SECRET_B,
    senders={"hello@polaris.test": "SEND_CUSTOMER", "admin@polaris.test": "SEND_ADMIN"},
)


def payload(to: str = "ada@example.com", **extra: Any) -> dict[str, Any]:
    return {"from": "hello@polaris.test", "to": to, "subject": "Sign in", "text": "Hi", **extra}


def _wait(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.01)


def exported(outbox: Path, count: int) -> list[Path]:
    """The outbox's ``.eml`` files once there are ``count`` (the exporter runs behind the 202)."""
    _wait(lambda: len(list(outbox.glob("*.eml"))) >= count, f"{count} .eml in {outbox}")
    return sorted(outbox.glob("*.eml"))


@contextmanager
def serve_app(app: Any) -> Iterator[str]:
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        _wait(lambda: server.started, "uvicorn did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@dataclass
class Inbox:
    host: str
    port: int
    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


LAUNCH = """
import json, os, sys
from pathlib import Path
from polaris_tui.relay.cli import cmd_relay
from polaris_tui.relay.engine import RelaySettings
args = json.loads(os.environ.pop("RELAY_TEST_ARGS"))
settings = RelaySettings(**args.pop("settings"))
outbox = args.pop("outbox")
state_dir = Path(args.pop("state_dir"))
sys.exit(cmd_relay(settings=settings, outbox=outbox and Path(outbox), state_dir=state_dir, **args))
"""


def launch_relay(tmp_path: Path, **args: Any) -> tuple[subprocess.Popen[str], str]:
    args.setdefault("state_dir", str(tmp_path / "state"))
    env = {**os.environ, "TMPDIR": str(tmp_path), "RELAY_TEST_ARGS": json.dumps(args)}
    proc = subprocess.Popen(
        [sys.executable, "-c", LAUNCH], env=env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    banner = proc.stdout.readline()
    return proc, banner


def wait_for_port(port: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "relay exited early"
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port}")


def stop_relay(proc: subprocess.Popen[str], signum: int = signal.SIGTERM) -> int:
    proc.send_signal(signum)
    return proc.wait(timeout=30)


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (from /proc), to check none outlives the relay."""
    children: dict[int, list[int]] = {}
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat_file.parent.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found
