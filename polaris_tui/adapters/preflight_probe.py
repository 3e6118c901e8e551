"""Read-only probes a preflight makes before the runbook: the token, the zone, one read per
resource family, the account's subscriptions, the R2 key pair and a TCP connect.

Answers are plain dataclasses; refusals are ``polaris_tui.errors`` classes carrying
Cloudflare's codes, so the preflight itself never sees a vendor type.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from polaris_tui.adapters.cloudflare_api import make_client, translated
from polaris_tui.errors import ApiError, PolarisError, Unavailable

T = TypeVar("T")


@dataclass(frozen=True)
class TokenStatus:
    status: str  # active, disabled, expired
    expires_on: datetime | None
    server_date: datetime | None  # the answer's HTTP Date
    local_epoch: float  # this host's clock halfway through the request


@dataclass(frozen=True)
class ZoneInfo:
    id: str
    status: str
    name_servers: tuple[str, ...]


@dataclass(frozen=True)
class R2Keys:
    accepted: bool
    bucket_exists: bool


def _call(fn: Callable[[], T]) -> T:
    """One SDK call; its errors leave as the engine's port errors, Cloudflare's codes kept."""
    with translated():
        return fn()


class CloudflareProbe:
    """Read-only calls with one token; every method blocks (run it in a thread)."""

    def __init__(self, token: str, account_id: str, base_url: str | None = None) -> None:
        self.account_id = account_id
        self.cf = make_client(token, base_url, max_retries=1)

    def token(self) -> TokenStatus:
        before = time.time()
        raw = _call(lambda: self.cf.user.tokens.with_raw_response.verify())
        local = (before + time.time()) / 2
        result = raw.parse()
        date = raw.headers.get("date")
        try:
            server_date = parsedate_to_datetime(date) if date else None
        except (TypeError, ValueError):
            server_date = None
        return TokenStatus(str(result.status), result.expires_on, server_date, local)

    def zone(self, name: str) -> ZoneInfo | None:
        """The zone of that name in the configured account, or None."""
        page = _call(lambda: self.cf.zones.list(name=name, account={"id": self.account_id}))
        zones = list(page.result or [])
        if not zones:
            return None
        zone = zones[0]
        servers = tuple(str(ns).lower().rstrip(".") for ns in zone.name_servers or ())
        return ZoneInfo(zone.id, str(zone.status), servers)

    def read(self, family: str, zone_id: str) -> None:
        """One read-only list of the family's resources (raises when it is refused)."""
        cf, account = self.cf, self.account_id
        reads: dict[str, list[Callable[[], object]]] = {
            "dns": [lambda: cf.dns.records.list(zone_id=zone_id, per_page=1)],
            "email_routing": [
                lambda: cf.email_routing.get(zone_id=zone_id),
                lambda: cf.email_routing.rules.list(zone_id=zone_id, per_page=5),
            ],
            "email_sending": [lambda: cf.email_sending.subdomains.list(zone_id=zone_id)],
            "workers_scripts": [lambda: cf.workers.scripts.list(account_id=account)],
            "workers_routes": [lambda: cf.workers.routes.list(zone_id=zone_id)],
            "kv": [lambda: cf.kv.namespaces.list(account_id=account, per_page=5)],
            "r2": [lambda: cf.r2.buckets.list(account_id=account, per_page=1)],
        }
        for fn in reads[family]:
            _call(fn)

    def rate_plans(self) -> tuple[str, ...]:
        """The account's subscriptions as rate plan ids and names.

        The SDK's RatePlan type lists only zone plans; Workers Paid is recognised by a plan
        id or public name naming both "workers" and "paid" (the dashboard shows "Workers
        Paid"). Not pinned down against a real account: a miss fails the check, it does not
        pass it."""
        page = _call(lambda: self.cf.accounts.subscriptions.get(account_id=self.account_id))
        names: list[str] = []
        for sub in page.result or []:
            plan = sub.rate_plan
            if plan is not None and sub.state not in ("Cancelled", "Expired", "Failed"):
                names += [str(x) for x in (plan.id, plan.public_name) if x]
        return tuple(names)


def r2_keys(account_id: str, key_id: str, secret: str, endpoint: str | None, bucket: str) -> R2Keys:
    """HeadBucket with the key pair: 403 means R2 refused the keys; 404 that the keys are
    fine and the bucket does not exist yet (the assets step creates it)."""
    from botocore.exceptions import ClientError, EndpointConnectionError

    from polaris_tui.adapters.r2 import make_r2_client

    client = make_r2_client(account_id, key_id, secret, endpoint)
    try:
        client.head_bucket(Bucket=bucket)
    except ClientError as exc:
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if status == 404:
            return R2Keys(accepted=True, bucket_exists=False)
        if status in (401, 403):
            return R2Keys(accepted=False, bucket_exists=False)
        raise ApiError(f"R2 answered HeadBucket with HTTP {status}", status=status) from None
    except EndpointConnectionError as exc:
        raise Unavailable(f"no answer from R2: {exc}") from None
    return R2Keys(accepted=True, bucket_exists=True)


async def tcp_accepts(host: str, port: int, timeout: float) -> None:
    """Open and close one TCP connection; raises PolarisError saying why it failed."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except TimeoutError:
        raise PolarisError(f"no answer on {host} port {port} within {timeout:g}s") from None
    except OSError as exc:
        raise PolarisError(f"{host} port {port}: {exc.strerror or exc}") from None
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
