"""Proof of authenticated delivery: the receiving server's own verdict on a test message.

Records can exist and mail still fail SPF, DKIM or DMARC where it lands (a key copied wrong,
an SPF record without Cloudflare's include). So ``send-test`` and verify's
``delivery.authenticated`` read the delivered message back from a mailbox (the sandbox inbox,
or IMAPS) and parse the ``Authentication-Results`` header (RFC 8601) the receiving server
added at the top: that header, not our own reading of DNS, is the verdict.
"""

from __future__ import annotations

import email.parser
import email.policy
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from polaris_tui.config import Config
    from polaris_tui.ports import Mailbox

METHODS = ("spf", "dkim", "dmarc")
POLL_SECONDS = 1.0
CHECK_ID = "delivery.authenticated"
# Troubleshooting check ids per method, so each failing method gets its own guidance.
METHOD_CHECK = {m: f"delivery.{m}" for m in METHODS}
SANDBOX_RECIPIENT = "delivery-check@example.org"
SUBJECT = "polaris-tui delivery check"


@dataclass(frozen=True)
class Authentication:
    """SPF, DKIM and DMARC as the receiving server reported them (RFC 8601 result values)."""

    spf: str
    dkim: str
    dmarc: str
    detail: str

    @property
    def passed(self) -> bool:
        return all(r == "pass" for r in (self.spf, self.dkim, self.dmarc))

    def failing(self) -> list[str]:
        return [m for m in METHODS if getattr(self, m) != "pass"]

    def summary(self) -> str:
        return f"spf={self.spf} dkim={self.dkim} dmarc={self.dmarc}"

    def to_json(self) -> dict[str, str]:
        return {"spf": self.spf, "dkim": self.dkim, "dmarc": self.dmarc, "detail": self.detail}


def parse(raw: bytes) -> Authentication:
    """The verdicts of the topmost ``Authentication-Results`` header, the one the last
    receiving server prepended (a header further down may come from anyone who handled it)."""
    import authres

    headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
    values = headers.get_all("Authentication-Results") or []
    if not values:
        return Authentication("none", "none", "none", "the message has no Authentication-Results")
    text = " ".join(str(values[0]).split())
    try:
        header = authres.AuthenticationResultsHeader.parse(f"Authentication-Results: {text}")
    except authres.AuthResError as exc:
        return Authentication("none", "none", "none", f"unreadable Authentication-Results: {exc}")
    found: dict[str, Any] = {}
    for result in header.results:
        found.setdefault(str(result.method).lower(), result)
    verdicts = {m: str(found[m].result).lower() if m in found else "none" for m in METHODS}
    reasons = [f"{m}: {found[m].reason}" for m in METHODS if getattr(found.get(m), "reason", None)]
    detail = f"by {header.authserv_id}" + (f"; {'; '.join(reasons)}" if reasons else "")
    return Authentication(verdicts["spf"], verdicts["dkim"], verdicts["dmarc"], detail)


Progress = Callable[[str, float], None]


def wait_for(
    mailbox: Mailbox,
    message_id: str,
    timeout: float,
    progress: Progress | None = None,
    *,
    poll: float = POLL_SECONDS,
) -> bytes | None:
    """The delivered message, polled until ``timeout`` seconds have passed (None then)."""
    started = time.monotonic()
    while True:
        raw = mailbox.find(message_id)
        elapsed = time.monotonic() - started
        if raw is not None:
            return raw
        if elapsed >= timeout:
            return None
        if progress is not None:
            progress(
                f"waiting for <{message_id}> in {mailbox.description} "
                f"({elapsed:.0f}s of {timeout:g}s)",
                min(elapsed / timeout, 1.0) if timeout else 1.0,
            )
        time.sleep(min(poll, max(timeout - elapsed, 0.0)))


def recipient(config: Config, sandbox: bool) -> str | None:
    """Where verify's test message goes: any address lands in the sandbox inbox; a configured
    mailbox receives at its login when that is an address."""
    if sandbox:
        return SANDBOX_RECIPIENT
    if config.imap_host and "@" in config.imap_user:
        return config.imap_user
    return None


def payload(config: Config, to: str) -> dict[str, Any]:
    """The one real message verify sends (from the customer sender, as the app's mail is)."""
    return {
        "from": config.sender_customer,
        "to": to,
        "subject": SUBJECT,
        "text": "polaris-tui verify sent this message to check SPF, DKIM and DMARC on arrival.",
    }
