"""Destination addresses are verified by mail, as in Cloudflare: creating one sends a message
with a link to the address, and the address stays unverified until that link is opened.

The sandbox delivers the message to its own inbox (``inbox/*.eml``), so a test or the
session standing in for the operator "clicks" the link over HTTP. For unattended runs the
``POLARIS_SANDBOX_ADDRESS_VERIFY_MS`` knob (``Settings.address_verify_ms``) also verifies an
address that many milliseconds after it was created; negative (the default) means only the
link verifies. docs/cloudflare-behaviour.md describes both.
"""

from __future__ import annotations

import email
import email.policy
import re
import time
import urllib.request
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from polaris_tui.fsutil import atomic_write
from polaris_tui.sandbox.state import epoch_ms, now_iso

VERIFY_PATH = "/email-verification/"
SENDER = "noreply@notify.cloudflare.com"
SUBJECT = "[Cloudflare] Verify your email address for Email Routing"
_LINK = re.compile(r"https?://\S+" + re.escape(VERIFY_PATH) + r"[A-Za-z0-9_-]+")


def verified_at(addr: dict[str, Any], auto_verify_ms: int) -> str | None:
    """When the address was verified (its link opened, or the auto-verify knob's delay
    passed since it was created), else None."""
    if addr.get("verified_at"):
        return str(addr["verified_at"])
    if auto_verify_ms >= 0 and epoch_ms() >= addr["created_ts"] + auto_verify_ms:
        return str(addr["created"])
    return None


def send_verification(inbox: Path, address: str, link: str) -> None:
    """The verification message Cloudflare sends to a new destination address."""
    msg = EmailMessage()
    msg["From"] = SENDER
    msg["To"] = address
    msg["Subject"] = SUBJECT
    msg.set_content(
        f"Someone added {address} as a destination address for Email Routing.\n"
        f"Open this link to verify it:\n\n{link}\n"
    )
    inbox.mkdir(parents=True, exist_ok=True)
    name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.eml"
    atomic_write(inbox / name, msg.as_bytes(), 0o600)


def verification_link(inbox: Path, address: str) -> str | None:
    """The newest verification link mailed to ``address``, or None when none arrived."""
    found = None
    for path in sorted(inbox.glob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if str(msg["To"]).lower() != address.lower() or str(msg["Subject"]) != SUBJECT:
            continue
        body = msg.get_body(preferencelist=("plain",))
        match = _LINK.search(body.get_content() if body else "")
        found = match.group(0) if match else found
    return found


def click(inbox: Path, address: str) -> None:
    """Open the verification link mailed to ``address``, as its owner would."""
    link = verification_link(inbox, address)
    if link is None:
        raise LookupError(f"no verification mail for {address} in {inbox}")
    with urllib.request.urlopen(link, timeout=10) as answer:
        answer.read()


def mark_verified(addr: dict[str, Any]) -> None:
    addr.setdefault("verified_at", None)
    if not addr["verified_at"]:
        addr["verified_at"] = now_iso()
        addr["modified"] = addr["verified_at"]
