"""Step ``assets``: the four brand PNGs in R2 under ``email/``, public at ``assets.<domain>``.

Email templates reference the logos by URL, so each file must be the right PNG at its exact
size, uploaded once (re-runs compare MD5 with the object's ETag and upload nothing), and
served publicly. R2 is public only through a custom domain (or r2.dev): a CNAME to
``<bucket>.r2.cloudflarestorage.com`` reaches the private S3 API and serves nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from polaris_tui import waiting
from polaris_tui.errors import ApiError, NotFound, PolarisError
from polaris_tui.plan import pending
from polaris_tui.png import PngError, read_png_size
from polaris_tui.ports import R2CustomDomain
from polaris_tui.steps.base import (
    Action,
    ApplyResult,
    Change,
    Check,
    Plan,
    Progress,
    Step,
    StepState,
    make_plan,
    no_progress,
    timed_check,
)
from polaris_tui.steps.records import (
    RECORD_KIND,
    Record,
    apply_record_changes,
    list_records,
    record_change,
)
from polaris_tui.steps.zone import private_r2_cnames

if TYPE_CHECKING:
    from polaris_tui.context import Context

STEP_ID = "assets"
REQUIRED_SIZES: tuple[tuple[str, tuple[int, int]], ...] = (
    ("polaris-logo-160.png", (160, 40)),
    ("polaris-logo-320.png", (320, 80)),
    ("expressync-logo-160.png", (160, 40)),
    ("expressync-logo-320.png", (320, 80)),
)
KEY_PREFIX = "email/"
CONTENT_TYPE = "image/png"
# Logos change rarely; a long max-age keeps mail clients from refetching on every open.
CACHE_CONTROL = "public, max-age=31536000"
BUCKET_KIND = "r2_bucket"
OBJECT_KIND = "r2_object"
DOMAIN_KIND = "r2_custom_domain"
BUCKET_EXISTS_CODE = 10004
CHECK_TIMEOUT_SECONDS = 10.0
PRIVATE_CNAME_WHY = (
    "{host} is R2's private S3 API endpoint and serves nothing publicly; "
    "the R2 custom domain replaces this CNAME"
)


class AssetError(PolarisError):
    """A brand PNG is missing, not a PNG, or not at its required size (nothing uploaded)."""

    title = "Brand assets"

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class LocalAsset:
    """One checked brand PNG and its bytes, ready to upload."""

    name: str
    data: bytes

    @property
    def key(self) -> str:
        return KEY_PREFIX + self.name

    @property
    def md5(self) -> str:
        return hashlib.md5(self.data, usedforsecurity=False).hexdigest()


def asset_problem(path: Path, required: tuple[int, int]) -> str | None:
    """Why ``path`` cannot be uploaded as a logo of size ``required``, or None when it can."""
    want = f"{required[0]}x{required[1]}"
    if not path.is_file():
        return f"{path.name}: file not found in {path.parent} (required: a {want} PNG)"
    try:
        width, height = read_png_size(path)
    except PngError as exc:
        return f"{path.name}: {exc} (required: a {want} PNG)"
    if (width, height) != required:
        return f"{path.name}: size {width}x{height} found, {want} required"
    return None


def load_assets(directory: Path) -> list[LocalAsset]:
    """All four PNGs, checked; any problem raises AssetError naming every bad file."""
    problems = [p for name, size in REQUIRED_SIZES if (p := asset_problem(directory / name, size))]
    if problems:
        raise AssetError(problems)
    return [LocalAsset(name, (directory / name).read_bytes()) for name, _ in REQUIRED_SIZES]


def public_url(ctx: Context, name: str) -> str:
    return f"https://{ctx.config.assets_host}/{KEY_PREFIX}{name}"


def _etag(value: str | None) -> str:
    return (value or "").strip('"').lower()


@dataclass
class Survey:
    """What exists now: local files, the bucket, its objects, the custom domain."""

    assets: list[LocalAsset]
    bucket_exists: bool
    remote_md5: dict[str, str] = field(default_factory=dict)  # key -> ETag (MD5)
    domain: R2CustomDomain | None = None  # the custom domain entry (r2 mode)
    private_cnames: list[Record] = field(default_factory=list)

    @property
    def domain_active(self) -> bool:
        return self.domain is not None and self.domain.active


def _r2_mode(ctx: Context) -> bool:
    return ctx.config.assets_origin == "r2"


async def _custom_domain(ctx: Context) -> R2CustomDomain | None:
    host = ctx.config.assets_host
    domains = await ctx.r2.custom_domains(ctx.config.r2_bucket)
    return next((d for d in domains if d.domain == host), None)


async def _bucket_contents(
    ctx: Context,
) -> tuple[bool, dict[str, str], R2CustomDomain | None]:
    """Whether the bucket exists, then (at once) its objects' ETags and its custom domain."""
    bucket = ctx.config.r2_bucket
    if not await ctx.r2.bucket_exists(bucket):
        return False, {}, None
    if not _r2_mode(ctx):
        return True, await ctx.r2.object_etags(bucket, KEY_PREFIX), None
    etags, domain = await asyncio.gather(
        ctx.r2.object_etags(bucket, KEY_PREFIX), _custom_domain(ctx)
    )
    return True, etags, domain


async def survey(ctx: Context) -> Survey:
    """Read-only look at everything the step manages (local files are checked first)."""
    assets = load_assets(ctx.config.assets_dir)
    if not _r2_mode(ctx):
        exists, etags, _ = await _bucket_contents(ctx)
        return Survey(assets, exists, etags)
    (exists, etags, domain), cnames = await asyncio.gather(
        _bucket_contents(ctx), list_records(ctx, name=ctx.config.assets_host, rtype="CNAME")
    )
    return Survey(assets, exists, etags, domain, private_r2_cnames(cnames))


def plan_changes(ctx: Context, found: Survey) -> list[Change]:
    """The diff from a Survey: CNAME removal, bucket, four objects, custom domain."""
    changes: list[Change] = []
    for rec in found.private_cnames:
        changes.append(record_change(rec, None, note=PRIVATE_CNAME_WHY.format(host=rec.content)))
    bucket = ctx.config.r2_bucket
    if not found.bucket_exists:
        changes.append(
            Change(Action.CREATE, BUCKET_KIND, bucket, None, {"name": bucket}, "new R2 bucket")
        )
    for asset in found.assets:
        after = {"md5": asset.md5, "bytes": len(asset.data), "content_type": CONTENT_TYPE}
        remote = found.remote_md5.get(asset.key)
        if remote is None:
            action, before, note = Action.CREATE, None, "upload"
        elif remote != asset.md5:
            action, before, note = Action.UPDATE, {"md5": remote}, "content differs: re-upload"
        else:
            action, before, note = Action.NOOP, {"md5": remote}, "already uploaded"
        changes.append(Change(action, OBJECT_KIND, f"{bucket}/{asset.key}", before, after, note))
    if _r2_mode(ctx):
        host = ctx.config.assets_host
        after = {"bucket": bucket, "domain": host, "enabled": True}
        if found.domain is None:
            changes.append(
                Change(Action.CREATE, DOMAIN_KIND, host, None, after, "public access to the bucket")
            )
        else:
            before = {"bucket": bucket, "domain": host, "enabled": found.domain.enabled}
            action = Action.NOOP if found.domain.enabled else Action.UPDATE
            changes.append(Change(action, DOMAIN_KIND, host, before, after))
    return changes


class AssetsStep(Step):
    id = STEP_ID

    async def plan(self, ctx: Context) -> Plan:
        found = await survey(ctx)
        changes = plan_changes(ctx, found)
        facts: dict[str, Any] = {
            "bucket": ctx.config.r2_bucket,
            "bucket_exists": found.bucket_exists,
            "objects": {
                a.name: "current"
                if found.remote_md5.get(a.key) == a.md5
                else ("missing" if a.key not in found.remote_md5 else "different")
                for a in found.assets
            },
        }
        notes = [PRIVATE_CNAME_WHY.format(host=r.content) for r in found.private_cnames]
        if _r2_mode(ctx):
            facts["custom_domain"] = found.domain.to_json() if found.domain else None
        uploaded = sum(1 for a in found.assets if found.remote_md5.get(a.key) == a.md5)
        summary = f"{uploaded}/{len(found.assets)} PNGs current in {ctx.config.r2_bucket}"
        hold = None
        if not pending(changes):
            if _r2_mode(ctx) and not found.domain_active:
                hold = StepState.PENDING  # Cloudflare is still issuing the domain's certificate
                notes.append(f"custom domain {ctx.config.assets_host} is not active yet")
            else:
                summary += f", public at https://{ctx.config.assets_host}/{KEY_PREFIX}"
        # what the changes follow from (not the domain's certificate, which Cloudflare moves on)
        observed = {
            "local": {a.key: a.md5 for a in found.assets},
            "bucket": found.bucket_exists,
            "remote": found.remote_md5,
            "domain": found.domain.enabled if found.domain else None,
            "private_cnames": found.private_cnames,
        }
        summary = "; ".join([summary, *notes])
        return make_plan(self.id, changes, summary, observed=observed, facts=facts, hold=hold)

    async def apply(
        self, ctx: Context, changes: list[Change], *, progress: Progress = no_progress
    ) -> ApplyResult:
        assets = {a.key: a for a in load_assets(ctx.config.assets_dir)}
        uploads = [c for c in changes if c.kind == OBJECT_KIND and c.action is not Action.NOOP]
        for c in uploads:
            asset = assets[c.target.split("/", 1)[1]]
            if asset.md5 != c.after["md5"]:
                raise AssetError([f"{asset.name}: changed since the plan; plan again"])
        applied: list[Change] = []
        records = [c for c in changes if c.kind == RECORD_KIND]
        if records:
            await apply_record_changes(ctx, records)
            applied += records
        for c in changes:
            if c.kind == BUCKET_KIND and c.action is Action.CREATE:
                progress(f"creating R2 bucket {ctx.config.r2_bucket}", None)
                await _create_bucket(ctx)
                applied.append(c)
        for i, c in enumerate(uploads, 1):
            asset = assets[c.target.split("/", 1)[1]]
            progress(f"uploading {asset.key} ({i}/{len(uploads)})", (i - 1) / len(uploads))
            await _upload(ctx, asset)
            applied.append(c)
        if uploads:
            progress(f"uploaded {len(uploads)} file(s)", 1.0)
        messages = [
            f"uploaded {len(uploads)} file(s), {len(assets) - len(uploads)} already current"
        ]
        domain_changes = [
            c for c in changes if c.kind == DOMAIN_KIND and c.action is not Action.NOOP
        ]
        ok = True
        if domain_changes:
            await _attach_domain(ctx, domain_changes[0].action)
            applied += domain_changes
            ok = await _wait_domain_active(ctx, progress)
        detail = f"{len(applied)} change(s) applied"  # the custom domain counted too
        if not ok:
            detail = (
                f"{ctx.config.assets_host} is attached but not active after "
                f"{ctx.config.propagation_timeout_seconds}s; run `polaris-tui verify assets` "
                "later"
            )
        return ApplyResult(ok, applied, detail, messages)

    async def verify(self, ctx: Context) -> list[Check]:
        md5s = _local_md5s(ctx.config.assets_dir)
        checks = [_head_check(ctx, name, md5s.get(name)) for name, _ in REQUIRED_SIZES]
        if _r2_mode(ctx):
            checks.append(
                timed_check(
                    STEP_ID,
                    "assets.custom-domain",
                    lambda: _domain_check(ctx),
                    CHECK_TIMEOUT_SECONDS,
                )
            )
        return list(await asyncio.gather(*checks))


async def _create_bucket(ctx: Context) -> None:
    try:
        await ctx.r2.create_bucket(ctx.config.r2_bucket)
    except ApiError as exc:  # created meanwhile by us is fine; anything else propagates
        if BUCKET_EXISTS_CODE not in exc.codes:
            raise
    ctx.state.mark_owned(BUCKET_KIND, ctx.config.r2_bucket)  # destroy may remove it


async def _upload(ctx: Context, asset: LocalAsset) -> None:
    await ctx.r2.put_object(
        ctx.config.r2_bucket,
        asset.key,
        asset.data,
        content_type=CONTENT_TYPE,
        cache_control=CACHE_CONTROL,
    )


async def _attach_domain(ctx: Context, action: Action) -> None:
    if action is Action.CREATE:
        await ctx.r2.attach_custom_domain(ctx.config.r2_bucket, ctx.config.assets_host)
        ctx.state.mark_owned(DOMAIN_KIND, ctx.config.assets_host)
    else:
        await ctx.r2.enable_custom_domain(ctx.config.r2_bucket, ctx.config.assets_host)


async def _domain_status(ctx: Context) -> dict[str, str]:
    got = await ctx.r2.custom_domain(ctx.config.r2_bucket, ctx.config.assets_host)
    return {"ownership": got.ownership, "ssl": got.ssl}


async def _wait_domain_active(ctx: Context, progress: Progress) -> bool:
    """Poll the custom domain with backoff until ownership and SSL are active."""
    timeout = ctx.config.propagation_timeout_seconds
    started, delay = time.monotonic(), 0.25
    while True:
        status = await _domain_status(ctx)
        elapsed = time.monotonic() - started

        def said(_left: float, status: dict[str, str] = status) -> str:
            return (
                f"{ctx.config.assets_host}: waiting for Cloudflare to activate it "
                f"(ownership {status['ownership']}, ssl {status['ssl']}) "
                + waiting.of_limit(time.monotonic() - started, timeout)
            )

        progress(said(0), None)
        if status == {"ownership": "active", "ssl": "active"}:
            return True
        if elapsed >= timeout:
            return False
        await waiting.pause_async(min(delay, max(0.0, timeout - elapsed)), said, progress=progress)
        delay = waiting.backoff(delay, elapsed, 5.0)


async def _domain_check(ctx: Context) -> tuple[bool, str]:
    try:
        status = await _domain_status(ctx)
    except NotFound:
        return False, f"{ctx.config.assets_host} is not attached to {ctx.config.r2_bucket}"
    ok = status == {"ownership": "active", "ssl": "active"}
    return ok, f"{ctx.config.assets_host}: ownership {status['ownership']}, ssl {status['ssl']}"


def _local_md5s(directory: Path) -> dict[str, str]:
    """MD5 of each local PNG that exists, to tell a stale public copy from a current one."""
    return {
        name: hashlib.md5((directory / name).read_bytes(), usedforsecurity=False).hexdigest()
        for name, _ in REQUIRED_SIZES
        if (directory / name).is_file()
    }


async def _head_check(ctx: Context, name: str, md5: str | None) -> Check:
    """Anonymous HEAD of the public URL: 200 and image/png (and the local content)."""
    seen: dict[str, Any] = {}
    url = public_url(ctx, name)

    async def run() -> tuple[bool, str]:
        resp = await ctx.http.request("HEAD", url)
        seen["status"] = resp.status_code
        ctype = resp.headers.get("content-type", "")
        if resp.status_code != 200:
            return False, f"HEAD {url} -> {resp.status_code}"
        if not ctype.startswith(CONTENT_TYPE):
            return False, f"HEAD {url} -> 200 but Content-Type {ctype or '(none)'}"
        etag = _etag(resp.headers.get("etag"))
        if md5 and etag and "-" not in etag and etag != md5:
            return False, f"{url} serves other content than {name} in assets_dir (ETag {etag})"
        return True, f"HEAD {url} -> 200 {ctype}"

    check = await timed_check(
        STEP_ID, f"assets.public-{name.removesuffix('.png')}", run, CHECK_TIMEOUT_SECONDS
    )
    check.data.update(seen)
    return check
