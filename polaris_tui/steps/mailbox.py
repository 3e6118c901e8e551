"""The DMARC mailbox (``dmarc_mailbox``): the operator's own inbox that reports sent to
``dmarc_rua`` are forwarded to, added by the API as an Email Routing destination address.

Cloudflare mails a verification link to a new destination address and forwards nothing to it
until the link is opened, so apply adds the address, waits (with progress, cancellable like
every apply) until it is verified, then creates the rule. A re-run after a timeout finds the
address already there and only waits again: it is never added twice.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from polaris_tui.steps.base import Action, Change, Progress
from polaris_tui.waiting import backoff, of_limit, pause_async

if TYPE_CHECKING:
    from polaris_tui.context import Context

ADDRESS_KIND = "email_routing_address"
POLL_MAX_SECONDS = 5.0


def plan_mailbox(
    rua: str,
    mailbox: str,
    *,
    rule_kind: str,
    verified: tuple[str, ...],
    unverified: tuple[str, ...],
    timeout: int,
) -> list[Change]:
    """The address (when the account lacks it) and the rule ``rua`` → ``mailbox`` (pure)."""
    known = {a.lower() for a in (*verified, *unverified)}
    changes = []
    if mailbox.lower() not in known:
        changes.append(
            Change(
                Action.CREATE,
                ADDRESS_KIND,
                mailbox,
                after={"email": mailbox},
                note=f"Cloudflare sends a verification mail to {mailbox}; click the link in "
                f"it (apply waits up to {timeout}s)",
            )
        )
    waiting = mailbox.lower() not in {a.lower() for a in verified}
    changes.append(
        Change(
            Action.CREATE,
            rule_kind,
            rua,
            after={"to": rua, "forward": mailbox},
            note=f"forward DMARC reports to {mailbox}"
            + (" once it is verified" if waiting else ""),
        )
    )
    return changes


async def add_address(ctx: Context, mailbox: str, progress: Progress) -> None:
    progress(
        f"adding {mailbox} as an Email Routing destination address; Cloudflare sends a "
        "verification mail to it",
        None,
    )
    await ctx.email_routing.create_address(mailbox)
    ctx.state.mark_owned(ADDRESS_KIND, mailbox.lower())


async def is_verified(ctx: Context, mailbox: str) -> bool:
    addresses = await ctx.email_routing.addresses()
    return any(a.verified and a.email.lower() == mailbox.lower() for a in addresses)


async def wait_verified(ctx: Context, mailbox: str, progress: Progress) -> bool:
    """Poll the account's addresses with backoff until ``mailbox`` is verified or
    ``mailbox_timeout_seconds`` pass; every poll reports progress (where a cancel lands)."""
    timeout = ctx.config.mailbox_timeout_seconds
    started, delay = time.monotonic(), 0.25

    def waiting(_left: float = 0.0) -> str:
        return (
            f"waiting for {mailbox} to be verified: click the link in the mail from Cloudflare "
            + of_limit(time.monotonic() - started, timeout)
        )

    while True:
        if await is_verified(ctx, mailbox):
            progress(f"{mailbox} is verified", None)
            return True
        elapsed = time.monotonic() - started
        if elapsed >= timeout:
            progress(waiting(), 0.99)
            return False
        # the backoff sleeps in reported slices, so a cancel lands within one
        wait = min(delay, timeout - elapsed)
        await pause_async(wait, waiting, min(elapsed / timeout, 0.99), progress=progress)
        delay = backoff(delay, elapsed, POLL_MAX_SECONDS)


def timeout_detail(ctx: Context, mailbox: str) -> str:
    return (
        f"{mailbox} is not verified after {ctx.config.mailbox_timeout_seconds}s: open the mail "
        f"from Cloudflare at {mailbox} and click its verification link, then re-run "
        "`polaris-tui apply auth` (it resumes: the address is not added again)"
    )
