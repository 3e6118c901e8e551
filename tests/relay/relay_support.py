"""Shared by the relay tests: fixed secrets, a loopback uvicorn runner, an SMTP inbox."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
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
