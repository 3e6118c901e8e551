"""SMTP inbox: every accepted message becomes one ``.eml`` file (atomic write), judged first
by the receiving server (``receiver``): SPF, DKIM and DMARC in an Authentication-Results
header.

With a policy (``send_email_policy.store_policy``) and an egress (``outbound.prepare``) it
stands for Cloudflare's delivery too: a message Cloudflare would not deliver is refused with
550 and never lands; one it would deliver is signed and handed to the receiving server from
Cloudflare's egress address. Without them, the connecting client is judged as it is.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from polaris_tui.fsutil import atomic_write
from polaris_tui.sandbox.servers import free_port

if TYPE_CHECKING:
    from polaris_tui.sandbox.outbound import Egress
    from polaris_tui.sandbox.receiver import UdpResolver
    from polaris_tui.sandbox.send_email_policy import Policy

EgressFn = Callable[[str, bytes], "Egress"]


class InboxHandler:
    def __init__(
        self,
        inbox: Path,
        resolver: UdpResolver,
        policy: Policy | None = None,
        egress: EgressFn | None = None,
    ) -> None:
        self.inbox, self.resolver, self.policy, self.egress = inbox, resolver, policy, egress

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        reason = self.policy(envelope.mail_from, list(envelope.rcpt_tos)) if self.policy else None
        if reason:
            return f"550 5.7.1 {reason}"
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode("utf-8")
        stored = await asyncio.to_thread(self._received, session, envelope.mail_from, data)
        name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.eml"
        atomic_write(self.inbox / name, stored, 0o600)
        return "250 Message accepted for delivery"

    def _received(self, session: Any, mail_from: str, data: bytes) -> bytes:
        from polaris_tui.sandbox.receiver import receive

        if self.egress is not None:
            out = self.egress(mail_from, data)
            client_ip, helo, mail_from, data = out.client_ip, out.helo, out.mail_from, out.data
        else:
            client_ip, helo = session.peer[0], session.host_name or ""
        return receive(self.resolver, data, client_ip=client_ip, helo=helo, mail_from=mail_from)


class SmtpInbox:
    def __init__(
        self,
        inbox: Path,
        resolver: UdpResolver,
        policy: Policy | None = None,
        egress: EgressFn | None = None,
    ) -> None:
        self.inbox = inbox
        self.handler = InboxHandler(inbox, resolver, policy, egress)
        self.port = 0
        self._controller: Any = None

    def start(self) -> int:
        from aiosmtpd.controller import Controller

        self.inbox.mkdir(parents=True, exist_ok=True)
        for _ in range(20):
            port = free_port()
            controller = Controller(self.handler, hostname="127.0.0.1", port=port)
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
