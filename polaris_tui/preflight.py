"""Before the runbook: every prerequisite the eight steps rely on, checked read-only and
concurrently, so a missing permission or a pending zone shows up before the first change
rather than halfway through ``apply all``.

Each check has a severity: ``error`` checks decide ``ok``; ``warning`` checks (Node, the
Traefik entry) are shown but never fail the preflight, since the runbook works without them.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from polaris_tui import troubleshooting
from polaris_tui.adapters import preload
from polaris_tui.blocking import run_blocking
from polaris_tui.errors import PermissionDenied, PolarisError
from polaris_tui.runner import CHECK_TIMEOUT_SECONDS, VerifyReport
from polaris_tui.steps.base import Check, timed_check
from polaris_tui.vault import VaultError

if TYPE_CHECKING:
    from polaris_tui.adapters.preflight_probe import CloudflareProbe, TokenStatus, ZoneInfo
    from polaris_tui.context import Context

STEP = "preflight"
ERROR, WARNING = "error", "warning"
TOKEN_MIN_DAYS = 14
CLOCK_MAX_SKEW_S = 60.0
NODE_MIN_MAJOR = 20
TCP_TIMEOUT_S = 3.0
TRAEFIK_PORT = 443
NO_R2_SUBSCRIPTION = 10042
DOCUMENTATION_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)
"""RFC 5737 and RFC 3849 addresses: examples, never a real Traefik entry, never connected to."""
FAMILY_PERMISSIONS = {
    "dns": "Zone · DNS · Edit",
    "email_routing": "Zone · Email Routing Rules · Edit and Zone · Zone Settings · Edit",
    "email_sending": "Zone · Email Sending · Edit",
    "workers_scripts": "Account · Workers Scripts · Edit",
    "workers_routes": "Zone · Workers Routes · Edit",
    "kv": "Account · Workers KV Storage · Edit",
    "r2": "Account · Workers R2 Storage · Edit",
}
ZONE_FAMILIES = frozenset({"dns", "email_routing", "email_sending", "workers_routes"})


@dataclass(frozen=True)
class Outcome:
    """A check's result; ``probed`` is False when another check's failure kept it from
    asking (its detail names that check, whose guidance is the one to follow)."""

    ok: bool
    detail: str
    severity: str = ERROR
    probed: bool = True


class PreflightReport(VerifyReport):
    """``verify``'s report, each check with its ``severity`` (``error`` or ``warning``)."""

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        for check, doc in zip(self.checks, out["checks"], strict=True):
            doc["severity"] = severity(check)
        return out


def severity(check: Check) -> str:
    return str(check.data.get("severity", ERROR))


class MissingToken(PolarisError):
    """No API token in the keyring: every API check waits on the token check's fix."""


class _Reads:
    """Reads several checks share (the token answer, the zone, the R2 list), made once."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._tasks: dict[str, asyncio.Future[Any]] = {}

    def once(self, key: str, fn: Callable[[], Any]) -> asyncio.Future[Any]:
        """The shared read, shielded: one check's timeout must not cancel it for the others."""
        if key not in self._tasks:
            self._tasks[key] = asyncio.ensure_future(asyncio.to_thread(fn))
        return asyncio.shield(self._tasks[key])

    def _make_probe(self) -> CloudflareProbe:
        from polaris_tui.adapters.preflight_probe import CloudflareProbe

        token = self.ctx.vault.get("cloudflare-api-token")
        if not token:
            raise MissingToken(
                "no API token in the keyring: run `polaris-tui secrets set cloudflare-api-token`"
            )
        return CloudflareProbe(token, self.ctx.config.account_id, self.ctx.endpoints.api_base)

    async def probe(self) -> CloudflareProbe:
        return await self.once("probe", self._make_probe)

    async def call(self, key: str, method: Callable[[CloudflareProbe], Any]) -> Any:
        probe = await self.probe()
        return await self.once(key, lambda: method(probe))

    async def token(self) -> TokenStatus:
        return await self.call("token", lambda p: p.token())

    async def zone(self) -> ZoneInfo | None:
        return await self.call("zone", lambda p: p.zone(self.ctx.config.zone))

    async def family(self, family: str) -> bool:
        """Read the family's resources; False when its zone does not exist to read in."""
        zone_id = ""
        if family in ZONE_FAMILIES:
            zone = await self.zone()
            if zone is None:
                return False
            zone_id = zone.id
        await self.call(f"read-{family}", lambda p: p.read(family, zone_id))
        return True


# ── the checks ───────────────────────────────────────────────────────────────────────────────


async def keyring(reads: _Reads) -> Outcome:
    await asyncio.to_thread(reads.ctx.vault.ensure_usable)
    return Outcome(True, f"usable ({reads.ctx.vault.backend_name})")


async def token(reads: _Reads) -> Outcome:
    status = await reads.token()
    if status.status != "active":
        return Outcome(False, f"the API token is {status.status}")
    if status.expires_on is None:
        return Outcome(True, "active, no expiry date")
    days = (status.expires_on - datetime.now(UTC)).total_seconds() / 86400
    when = status.expires_on.strftime("%Y-%m-%d %H:%M UTC")
    if days < TOKEN_MIN_DAYS:
        return Outcome(False, f"active, but expires on {when} (in {days:.1f} days)")
    return Outcome(True, f"active, expires on {when} (in {days:.0f} days)")


async def clock(reads: _Reads) -> Outcome:
    status = await reads.token()
    if status.server_date is None:
        return Outcome(False, "the API answer carried no Date header to compare with")
    skew = status.local_epoch - status.server_date.timestamp()
    where = "ahead of" if skew > 0 else "behind"
    text = f"this host's clock is {abs(skew):.0f} s {where} Cloudflare's"
    if abs(skew) > CLOCK_MAX_SKEW_S:
        return Outcome(False, f"{text} (more than {CLOCK_MAX_SKEW_S:g} s)")
    return Outcome(True, f"{text} (Date has 1 s resolution)")


async def zone(reads: _Reads) -> Outcome:
    name, account = reads.ctx.config.zone, reads.ctx.config.account_id
    info = await reads.zone()
    if info is None:
        return Outcome(False, f"zone {name} not found in account {account}")
    if info.status != "active":
        return Outcome(False, f"zone {name} is {info.status}, not active")
    return Outcome(True, f"zone {name} is active in account {account}")


async def delegation(reads: _Reads) -> Outcome:
    ctx, name = reads.ctx, reads.ctx.config.zone
    info = await reads.zone()
    if info is None:
        return Outcome(False, f"not probed: zone {name} not found (see zone)", probed=False)
    assigned = sorted(info.name_servers)
    if ctx.endpoints.resolvers:
        answers = await ctx.dns.ask_public(name, "NS")
    elif ctx.is_sandbox:  # the sandbox's DNS plays the parent and the public resolvers
        answers = await ctx.dns.ask_authoritative(name, "NS")
    else:
        return Outcome(False, "no public resolvers configured (config field 'public_resolvers')")
    wrong = [
        f"{a.server} answers {', '.join(a.records) or a.rcode}"
        for a in answers
        if not a.ok or sorted(r.lower().rstrip(".") for r in a.records) != assigned
    ]
    if wrong:
        return Outcome(False, f"Cloudflare assigned {', '.join(assigned)}; " + "; ".join(wrong))
    return Outcome(True, f"NS {', '.join(assigned)} at {len(answers)} resolver(s)")


def _refusal(exc: PermissionDenied) -> str:
    codes = ", ".join(map(str, exc.codes)) or "none"
    return f"Cloudflare answered {exc.status}, error code {codes}"


def permission(family: str) -> Callable[[_Reads], Awaitable[Outcome]]:
    needed = FAMILY_PERMISSIONS[family]

    async def run(reads: _Reads) -> Outcome:
        try:
            if not await reads.family(family):
                zone = reads.ctx.config.zone
                return Outcome(False, f"not probed: zone {zone} not found (see zone)", probed=False)
        except PermissionDenied as exc:
            if NO_R2_SUBSCRIPTION in exc.codes:
                return Outcome(
                    False,
                    "not probed: the account has no R2 subscription (see r2-subscription)",
                    WARNING,
                    probed=False,
                )
            return Outcome(False, f"the token cannot read it: needs {needed} ({_refusal(exc)})")
        return Outcome(True, f"read allowed; {needed} is confirmed at the first write")

    return run


async def r2_subscription(reads: _Reads) -> Outcome:
    try:
        await reads.family("r2")
    except PermissionDenied as exc:
        if NO_R2_SUBSCRIPTION in exc.codes:
            return Outcome(False, f"the account has no R2 subscription ({_refusal(exc)})")
        return Outcome(
            False, "unknown: the token cannot read R2 (see permission-r2)", WARNING, probed=False
        )
    return Outcome(True, "R2 is enabled on the account")


async def workers_paid(reads: _Reads) -> Outcome:
    try:
        plans = await reads.call("plans", lambda p: p.rate_plans())
    except PermissionDenied:
        return Outcome(
            False,
            "unknown: the token cannot read the account's subscriptions (Account · Billing · "
            "Read); the send_email binding is confirmed at the first deploy",
            WARNING,
        )
    if any("workers" in p.lower() and "paid" in p.lower() for p in plans):
        return Outcome(True, "Workers Paid: the account can bind send_email")
    return Outcome(False, "no Workers Paid subscription: the send_email binding needs it")


async def r2_keys(reads: _Reads) -> Outcome:
    from polaris_tui.adapters.preflight_probe import r2_keys as head_bucket

    ctx = reads.ctx
    names = ("r2-access-key-id", "r2-secret-access-key")
    key_id, secret = await asyncio.to_thread(lambda: [ctx.vault.get(n) for n in names])
    missing = [n for n, v in zip(names, (key_id, secret), strict=True) if not v]
    if missing or not key_id or not secret:
        return Outcome(False, f"not set in the keyring: {', '.join(missing)}")
    bucket = ctx.config.r2_bucket
    keys = await asyncio.to_thread(
        head_bucket, ctx.config.account_id, key_id, secret, ctx.endpoints.s3, bucket
    )
    if not keys.accepted:
        return Outcome(False, f"R2 refused the key pair (HeadBucket {bucket}: 403)")
    if not keys.bucket_exists:
        return Outcome(True, f"accepted by R2; no bucket {bucket} yet (the assets step creates it)")
    return Outcome(True, f"accepted by R2 (HeadBucket {bucket})")


async def node(reads: _Reads) -> Outcome:
    path = shutil.which("node")
    if path is None:
        return Outcome(False, "node not found on PATH", WARNING)
    proc = await asyncio.create_subprocess_exec(
        path, "--version", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    out, _ = await proc.communicate()
    version = out.decode(errors="replace").strip()
    match = re.match(r"v(\d+)\.", version)
    if match is None or int(match.group(1)) < NODE_MIN_MAJOR:
        shown = version or "(no version)"
        return Outcome(False, f"node {shown} is older than {NODE_MIN_MAJOR}", WARNING)
    return Outcome(True, f"node {version}", WARNING)


def traefik(address: str, port: int) -> Callable[[_Reads], Awaitable[Outcome]]:
    from polaris_tui.adapters.preflight_probe import tcp_accepts

    async def run(reads: _Reads) -> Outcome:
        if reads.ctx.is_sandbox and not ipaddress.ip_address(address).is_loopback:
            return Outcome(
                False,
                f"not probed: the sandbox never connects to {address} (not loopback)",
                WARNING,
                probed=False,
            )
        ip = ipaddress.ip_address(address)
        if any(ip.version == n.version and ip in n for n in DOCUMENTATION_NETWORKS):
            return Outcome(False, f"not probed: {address} is a documentation address", WARNING)
        try:
            await tcp_accepts(address, port, TCP_TIMEOUT_S)
        except PolarisError as exc:
            return Outcome(False, f"{exc.message} (Phase 1 may not have started Traefik)", WARNING)
        return Outcome(True, f"{address} accepts TCP on port {port}", WARNING)

    return run


def checks(ctx: Context, traefik_port: int) -> dict[str, Callable[[_Reads], Awaitable[Outcome]]]:
    """Every check by id, in the order they are shown."""
    found: dict[str, Callable[[_Reads], Awaitable[Outcome]]] = {
        "keyring": keyring,
        "token": token,
        "clock": clock,
        "zone": zone,
        "delegation": delegation,
    }
    for family in FAMILY_PERMISSIONS:
        found[f"permission-{family.replace('_', '-')}"] = permission(family)
    found |= {"workers-paid": workers_paid, "r2-subscription": r2_subscription, "r2-keys": r2_keys}
    found["node"] = node
    found["traefik-ipv4"] = traefik(ctx.config.traefik_ipv4, traefik_port)
    if ctx.config.traefik_ipv6:
        found["traefik-ipv6"] = traefik(ctx.config.traefik_ipv6, traefik_port)
    return found


async def _one(
    reads: _Reads, check_id: str, fn: Callable[[_Reads], Awaitable[Outcome]], values: dict[str, str]
) -> Check:
    kept: list[Outcome] = []

    async def run() -> tuple[bool, str]:
        try:
            outcome = await fn(reads)
        except (MissingToken, VaultError) as exc:
            owner, what = (
                ("token", "no API token in the keyring")
                if isinstance(exc, MissingToken)
                else ("keyring", "the keyring is unusable")
            )
            own = check_id == owner
            detail = str(exc) if own else f"not probed: {what} (see {owner})"
            outcome = Outcome(False, detail, probed=own)
        except PolarisError as exc:  # said for the operator already: no exception type name
            outcome = Outcome(False, exc.message)
        kept.append(outcome)
        return outcome.ok, outcome.detail

    check = await timed_check(STEP, f"{STEP}.{check_id}", run, CHECK_TIMEOUT_SECONDS)
    default = WARNING if check_id == "node" or check_id.startswith("traefik") else ERROR
    check.data["severity"] = kept[0].severity if kept else default
    if not check.ok and (not kept or kept[0].probed):
        family = check_id.removeprefix("permission-").replace("-", "_")
        entry = troubleshooting.lookup(
            STEP,
            values={**values, "permission": FAMILY_PERMISSIONS.get(family, "")},
            check_id=check.id,
            message=check.detail,
        )
        if entry is not None:
            check.guidance = entry.text()
    return check


async def run_async(ctx: Context, *, traefik_port: int = TRAEFIK_PORT) -> PreflightReport:
    """Every check concurrently; ``ok`` when no error-severity check failed."""
    started = time.perf_counter()
    preload("preflight")  # before the fan-out, in this thread: concurrent imports can deadlock
    reads = _Reads(ctx)
    values = troubleshooting.config_values(ctx.config)
    found = checks(ctx, traefik_port)
    results = list(await asyncio.gather(*(_one(reads, i, f, values) for i, f in found.items())))
    ok = all(c.ok or severity(c) == WARNING for c in results)
    return PreflightReport(ok, (time.perf_counter() - started) * 1000, results)


def run(ctx: Context, *, traefik_port: int = TRAEFIK_PORT) -> PreflightReport:
    """``run_async`` on its own event loop, with a thread pool wide enough for its calls."""
    return run_blocking(run_async(ctx, traefik_port=traefik_port))
