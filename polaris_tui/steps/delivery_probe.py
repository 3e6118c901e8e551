"""Verify's ``delivery.authenticated``: one real signed message through the relay, read back
from the mailbox, judged by the receiving server's Authentication-Results.

It runs only where a mailbox is readable (the sandbox inbox, or ``imap_host``), and the plan
and the route panel say so beforehand, because unlike every other check it sends mail.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

from polaris_tui import delivery
from polaris_tui.steps.base import Check, timed_check
from polaris_tui.steps.relay_probe import relay_url
from polaris_tui.steps.secret import VAULT_A

if TYPE_CHECKING:
    from polaris_tui.context import Context

SEND_TIMEOUT = 15.0  # the relay's answer; the wait for delivery comes on top


def planned_recipient(ctx: Context) -> str | None:
    """Whom verify's test message goes to, None when no mailbox can be read back."""
    if ctx.mailbox is None:
        return None
    return delivery.recipient(ctx.config, ctx.is_sandbox)


def note(ctx: Context) -> str | None:
    """The line the plan and the route panel show before verify sends anything."""
    to = planned_recipient(ctx)
    if to is None:
        return None
    assert ctx.mailbox is not None
    return (
        f"verify sends one signed test message from {ctx.config.sender_customer} to {to} and "
        f"reads SPF/DKIM/DMARC from {ctx.mailbox.description}"
    )


def timeout(ctx: Context) -> float:
    return SEND_TIMEOUT + ctx.config.delivery_timeout_seconds


async def authenticated(ctx: Context) -> tuple[bool, str]:
    from polaris_tui.relay import sign

    to, mailbox = planned_recipient(ctx), ctx.mailbox
    assert to is not None and mailbox is not None
    secret = await asyncio.to_thread(ctx.vault.get, VAULT_A)
    if not secret:
        return False, f"no {VAULT_A} in the keyring to sign the test message with"
    url = relay_url(ctx.config)
    body = json.dumps(delivery.payload(ctx.config, to), separators=(",", ":")).encode()
    headers = {"content-type": "application/json", **sign(secret, "POST", url, body)}
    response = await ctx.http.request("POST", url, headers=headers, content=body)
    try:
        answer = response.json()
    except ValueError:
        answer = None
    message_id = answer.get("id") if isinstance(answer, dict) else None
    if response.status_code != 202 or not message_id:
        return False, f"the relay answered {response.status_code}: {response.text[:200]}"
    wait = ctx.config.delivery_timeout_seconds
    raw = await asyncio.to_thread(delivery.wait_for, mailbox, message_id, wait)
    if raw is None:
        return False, f"<{message_id}> not delivered to {mailbox.description} within {wait}s"
    auth = delivery.parse(raw)
    return auth.passed, f"{auth.summary()} to {to} ({auth.detail})"


async def check(ctx: Context, step: str) -> Check:
    return await timed_check(step, delivery.CHECK_ID, lambda: authenticated(ctx), timeout(ctx))
