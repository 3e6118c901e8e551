"""Fixtures for relay tests: an aiosmtpd inbox on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from relay_support import Inbox


@pytest.fixture
def smtp_inbox() -> Iterator[Inbox]:
    """An aiosmtpd server on 127.0.0.1 collecting (mail from, rcpt to, data)."""
    from aiosmtpd.controller import Controller

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox("127.0.0.1", port)
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()
