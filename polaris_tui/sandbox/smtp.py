"""SMTP inbox: every accepted message becomes one ``.eml`` file (atomic write).

With a policy (``send_email_policy.store_policy``) it stands for Cloudflare's delivery
too: a message Cloudflare would not deliver is refused with 550 and never lands.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from polaris_tui.fsutil import atomic_write
from polaris_tui.sandbox.servers import free_port

if TYPE_CHECKING:
    from polaris_tui.sandbox.send_email_policy import Policy


class InboxHandler:
    def __init__(self, inbox: Path, policy: Policy | None = None) -> None:
        self.inbox, self.policy = inbox, policy

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        reason = self.policy(envelope.mail_from, list(envelope.rcpt_tos)) if self.policy else None
        if reason:
            return f"550 5.7.1 {reason}"
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode("utf-8")
        name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.eml"
        atomic_write(self.inbox / name, data, 0o600)
        return "250 Message accepted for delivery"


class SmtpInbox:
    def __init__(self, inbox: Path, policy: Policy | None = None) -> None:
        self.inbox, self.policy = inbox, policy
        self.port = 0
        self._controller: Any = None

    def start(self) -> int:
        from aiosmtpd.controller import Controller

        self.inbox.mkdir(parents=True, exist_ok=True)
        for _ in range(20):
            port = free_port()
            controller = Controller(
                InboxHandler(self.inbox, self.policy), hostname="127.0.0.1", port=port
            )
            try:
                controller.start()
            except Exception:  # the port was taken between probing and binding
                continue
            self._controller, self.port = controller, port
            return port
        raise RuntimeError("no free loopback port for the sandbox SMTP inbox")

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
