"""Account conditions a preflight must catch, modelled so each has a test over HTTP.

Read once when the API starts, from the environment:
  POLARIS_SANDBOX_TOKEN_DENY          families the token lacks, separated by ``,``: ``dns``,
                                      ``email_routing``, ``email_sending``, ``workers_scripts``,
                                      ``workers_routes``, ``kv``, ``r2``; ``FAMILY:read`` grants
                                      reads only (writes answer 403), like a Read permission
  POLARIS_SANDBOX_TOKEN_EXPIRES_DAYS  the token's ``expires_on`` this many days from now
  POLARIS_SANDBOX_ZONE_STATUS         ``active`` (default) or ``pending``: a pending zone has
                                      Cloudflare's assigned nameservers, while the parent (the
                                      sandbox DNS) still delegates to the old ones
  POLARIS_SANDBOX_NO_R2               ``1``: the account has no R2 subscription (403, 10042)
  POLARIS_SANDBOX_WORKERS_PLAN        ``paid`` (default) or ``free`` (no Workers Paid, so no
                                      ``send_email`` binding)
  POLARIS_SANDBOX_CLOCK_SKEW_S        seconds added to the API's ``Date`` header
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from polaris_tui.sandbox.api.common import check_account
from polaris_tui.sandbox.envelope import ok

FAMILY_PATHS: dict[str, tuple[str, ...]] = {
    "dns": ("/zones/*/dns_records*",),
    "email_routing": ("/zones/*/email/routing*", "/accounts/*/email/routing*"),
    "email_sending": ("/zones/*/email/sending*",),
    "workers_scripts": ("/accounts/*/workers/scripts*",),
    "workers_routes": ("/zones/*/workers/routes*",),
    "kv": ("/accounts/*/storage/kv*",),
    "r2": ("/accounts/*/r2/*",),
}
ASSIGNED_WHEN_PENDING = ("ada.ns.cloudflare.test", "bob.ns.cloudflare.test")
SUBSCRIPTION_ID = "9f0ab5a2c3d44e1fb0c2d6e7a8b9c0d1"


@dataclass(frozen=True)
class AccountKnobs:
    denied: frozenset[str] = frozenset()  # families with no permission at all
    read_only: frozenset[str] = frozenset()  # families granted Read, not Edit
    token_expires_days: float | None = None
    zone_status: str = "active"
    r2_subscribed: bool = True
    workers_paid: bool = True
    clock_skew_s: float = 0.0

    @classmethod
    def from_env(cls) -> AccountKnobs:
        denied, read_only = set(), set()
        for raw in os.environ.get("POLARIS_SANDBOX_TOKEN_DENY", "").split(","):
            family, _, mode = raw.strip().partition(":")
            if not family:
                continue
            if family not in FAMILY_PATHS or mode not in ("", "read"):
                raise ValueError(
                    f"POLARIS_SANDBOX_TOKEN_DENY: {raw.strip()!r} is not FAMILY or FAMILY:read "
                    f"(families: {', '.join(FAMILY_PATHS)})"
                )
            (read_only if mode else denied).add(family)
        status = os.environ.get("POLARIS_SANDBOX_ZONE_STATUS", "active").strip() or "active"
        if status not in ("active", "pending"):
            raise ValueError("POLARIS_SANDBOX_ZONE_STATUS must be 'active' or 'pending'")
        plan = os.environ.get("POLARIS_SANDBOX_WORKERS_PLAN", "paid").strip() or "paid"
        if plan not in ("paid", "free"):
            raise ValueError("POLARIS_SANDBOX_WORKERS_PLAN must be 'paid' or 'free'")
        return cls(
            denied=frozenset(denied),
            read_only=frozenset(read_only),
            token_expires_days=_number("POLARIS_SANDBOX_TOKEN_EXPIRES_DAYS"),
            zone_status=status,
            r2_subscribed=os.environ.get("POLARIS_SANDBOX_NO_R2", "").strip() not in ("1", "true"),
            workers_paid=plan == "paid",
            clock_skew_s=_number("POLARIS_SANDBOX_CLOCK_SKEW_S") or 0.0,
        )

    def refusal(self, method: str, path: str) -> tuple[int, int, str] | None:
        """Cloudflare's answer when the token or the account cannot serve this request."""
        for family, globs in FAMILY_PATHS.items():
            if not any(fnmatch.fnmatchcase(path, g) for g in globs):
                continue
            if family in self.denied or (family in self.read_only and method != "GET"):
                return 403, 10000, "Authentication error"
            if family == "r2" and not self.r2_subscribed:
                return 403, 10042, "Please enable R2 through the Cloudflare Dashboard."
        return None

    def date_header(self) -> str:
        """The HTTP ``Date`` the API answers with, skewed as configured."""
        return format_datetime(
            datetime.now(UTC) + timedelta(seconds=self.clock_skew_s), usegmt=True
        )

    def token_expires_on(self) -> str | None:
        if self.token_expires_days is None:
            return None
        when = datetime.now(UTC) + timedelta(days=self.token_expires_days)
        return when.strftime("%Y-%m-%dT%H:%M:%SZ")

    def name_servers(self, delegated: list[str]) -> list[str]:
        """The nameservers Cloudflare assigned: the delegated ones once the zone is active."""
        return list(ASSIGNED_WHEN_PENDING) if self.zone_status == "pending" else delegated


def _number(name: str) -> float | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number") from None


def knobs(request: Request) -> AccountKnobs:
    return request.app.state.knobs


async def list_subscriptions(request: Request) -> Response:
    """The account's subscriptions: Workers Paid unless the account is on the free plan."""
    check_account(request)
    if not knobs(request).workers_paid:
        return ok([])
    return ok(
        [
            {
                "id": SUBSCRIPTION_ID,
                "currency": "USD",
                "frequency": "monthly",
                "price": 5,
                "state": "Paid",
                "rate_plan": {
                    "id": "workers_paid",
                    "public_name": "Workers Paid",
                    "currency": "USD",
                    "scope": "account",
                    "externally_managed": False,
                    "is_contract": False,
                    "sets": [],
                },
            }
        ]
    )


routes = [Route("/accounts/{account_id}/subscriptions", list_subscriptions, methods=["GET"])]
