"""Probing the deployed relay at ``https://mail.<domain>/send`` the way the app will call it.

Shared by the secret and route steps, rotation and the demo. A signed *dry-run* probe
exercises signature, nonce and sender checks without sending mail and answers with the key
slot ("A" or "B") that accepted it, which is how rotation proves which secret the Worker holds.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from polaris_tui.steps.base import Check, timed_check

if TYPE_CHECKING:
    from polaris_tui.config import Config
    from polaris_tui.context import Context

PROBE_SUBJECT = "polaris-tui relay probe"


def relay_url(config: Config) -> str:
    return f"https://{config.mail_host}/send"


def probe_payload(config: Config) -> dict[str, Any]:
    """A valid message from the customer sender that the relay validates but does not send."""
    return {
        "from": config.sender_customer,
        "to": config.sender_admin,
        "subject": PROBE_SUBJECT,
        "text": "signature probe (dry run, nothing is sent)",
        "dry_run": True,
    }


@dataclass(frozen=True)
class ProbeResult:
    status: int | None  # None: no HTTP answer at all
    key: str | None
    detail: str

    @property
    def accepted(self) -> bool:
        return self.status == 200 and self.key in ("A", "B")


async def signed_probe(ctx: Context, secret: str) -> ProbeResult:
    """POST a signed dry run; 200 names the key slot, 401 means the secret is not accepted."""
    from polaris_tui.relay import sign

    url = relay_url(ctx.config)
    body = json.dumps(probe_payload(ctx.config), separators=(",", ":")).encode()
    headers = {"content-type": "application/json", **sign(secret, "POST", url, body)}
    try:
        response = await ctx.http.request("POST", url, headers=headers, content=body)
    except Exception as exc:  # no answer is a probe result, not a crash
        return ProbeResult(None, None, f"no answer from {url}: {type(exc).__name__}: {exc}")
    key = None
    try:
        parsed = response.json()
        if isinstance(parsed, dict):
            key = parsed.get("key")
    except ValueError:
        pass
    return ProbeResult(response.status_code, key, f"HTTP {response.status_code}")


async def unsigned_request(ctx: Context, method: str) -> int:
    """The status of an unsigned request (the runbook's curl checks)."""
    content = b"{}" if method == "POST" else None
    headers = {"content-type": "application/json"} if content else None
    response = await ctx.http.request(
        method, relay_url(ctx.config), headers=headers, content=content
    )
    return response.status_code


def describe(probe: ProbeResult, secret_label: str) -> str:
    """One line for the operator: what the relay said about a secret (never the value)."""
    if probe.status is None:
        return f"{secret_label}: {probe.detail}"
    if probe.accepted:
        return f"{secret_label}: accepted as key {probe.key}"
    if probe.status == 401:
        return f"{secret_label}: rejected (401)"
    return f"{secret_label}: HTTP {probe.status}, relay not reachable as expected"


StatusRun = Callable[[], Awaitable[tuple[bool, str, int | None]]]


async def status_check(step: str, check_id: str, run: StatusRun, timeout: float) -> Check:
    """``timed_check`` that also records the HTTP status, so guidance can match on it."""
    seen: dict[str, int | None] = {}

    async def inner() -> tuple[bool, str]:
        ok, detail, status = await run()
        seen["status"] = status
        return ok, detail

    check = await timed_check(step, check_id, inner, timeout)
    if seen.get("status") is not None:
        check.data["status"] = seen["status"]
    return check
