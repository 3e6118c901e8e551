"""Which recipients a Worker's ``send_email`` binding may reach, as Cloudflare documents it.

The account decides before any binding restriction does (those, ``destination_address``
and ``allowed_*_addresses``, are checked where the binding runs):
- the sender must belong to a domain onboarded to Email Service;
- a sender on a verified Email Sending domain may write to any recipient;
- otherwise (Email Routing only) only verified destination addresses of the account.
Sources and what is unverified: docs/cloudflare-behaviour.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from polaris_tui.sandbox.address_verification import verified_at
from polaris_tui.sandbox.state import Settings, Store, epoch_ms

Policy = Callable[[str, list[str]], "str | None"]


def _domain(address: str) -> str:
    return address.rpartition("@")[2].strip().rstrip(">").lower()


def _sending_verified(state: dict[str, Any], domain: str, activation_ms: int) -> bool:
    for sub in state["sending_subdomains"].values():
        since = sub.get("records_since")
        if sub["name"] == domain and since is not None and epoch_ms() >= since + activation_ms:
            return True
    return False


def _verified_destinations(state: dict[str, Any], auto_verify_ms: int) -> set[str]:
    return {
        a["email"].lower()
        for a in state["email_addresses"].values()
        if verified_at(a, auto_verify_ms)
    }


def refusal(
    state: dict[str, Any],
    sender: str,
    recipients: list[str],
    activation_ms: int,
    auto_verify_ms: int,
) -> str | None:
    """Why Cloudflare would not deliver this message, or None when it would."""
    domain, zone = _domain(sender), state["zone"]["name"]
    if _sending_verified(state, domain, activation_ms):
        return None
    routing = state["email_routing"]["enabled"] and (domain == zone or domain.endswith("." + zone))
    if not routing:
        return f"sender {sender} is not on a domain onboarded to Email Service"
    allowed = _verified_destinations(state, auto_verify_ms)
    outside = sorted(r for r in recipients if r.lower() not in allowed)
    if outside:
        return (
            f"recipient(s) {', '.join(outside)} are not verified destination addresses; "
            f"without Email Sending on {domain}, Email Routing delivers only to those"
        )
    return None


def store_policy(store: Store, settings: Callable[[], Settings]) -> Policy:
    """The SMTP inbox's check against the live account state."""

    def check(sender: str, recipients: list[str]) -> str | None:
        now = settings()
        with store.read() as state:
            return refusal(state, sender, recipients, now.activation_ms, now.address_verify_ms)

    return check
