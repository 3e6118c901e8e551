"""Runbook step 7: upload the signed relay Worker with its bindings through the API.

The upload is built from config and state only: the shipped module, its compatibility date,
the KV namespace, one send_email binding per allow-listed sender, the sender and tuning vars
as plain text and, in strict mode, the RelayGuard Durable Object with the migration that
creates its SQLite namespace (sent only while the script's migration tag is not ours yet).
Secrets are kept across uploads (``keep_bindings``), or carried from the keyring on the
first upload, when the script does not exist yet to take a secret.
There is no server-side dry run, so the metadata is validated with the SDK's own param types
and, when Node is present, by ``wrangler deploy --dry-run`` on an equivalent config.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import tempfile
import time
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from polaris_tui.errors import NotFound, PolarisError
from polaris_tui.ports import WorkerSettings
from polaris_tui.relay import (
    GUARD_BINDING,
    GUARD_CLASS,
    GUARD_MIGRATION_TAG,
    WORKER_MAIN_MODULE,
)
from polaris_tui.steps.base import (
    Action,
    ApplyResult,
    Change,
    Check,
    Plan,
    Progress,
    Step,
    make_plan,
    no_progress,
    timed_check,
)
from polaris_tui.steps.kv import TITLE as KV_BINDING
from polaris_tui.steps.kv import kv_ids, list_namespaces
from polaris_tui.steps.secret import SLOTS, record_pushed
from polaris_tui.waiting import SLICE_SECONDS, of_limit, report

if TYPE_CHECKING:
    from polaris_tui.config import Config
    from polaris_tui.context import Context
    from polaris_tui.relay.engine import RelaySettings

MODULE_TYPE = "application/javascript+module"
REDACTED = "(redacted)"
SENDERS = {"CUSTOMER": "sender_customer", "ADMIN": "sender_admin"}  # suffix -> config field
SECRETS_ARE_SEPARATE = "(secret_text bindings are uploaded separately)"
COMPARED_KEYS = (
    "namespace_id",
    "class_name",
    "allowed_sender_addresses",
    "allowed_destination_addresses",
    "destination_address",
    "text",
)
CHECK_TIMEOUT = 10.0
WRANGLER_TIMEOUT = 120.0


class MigrationTagError(PolarisError):
    """The script carries a Durable Object migration history this tool did not write."""

    title = "Unknown Durable Object migration"


def relay_settings(config: Config, secret_a: str, secret_b: str | None = None) -> RelaySettings:
    """The relay's settings from the config: one derivation for the deploy and `relay`."""
    from polaris_tui.relay.engine import RelaySettings

    return RelaySettings(
        secret_a=secret_a,
        secret_b=secret_b,
        senders={getattr(config, field): f"SEND_{suffix}" for suffix, field in SENDERS.items()},
        ts_window_ms=config.ts_window_ms,
        nonce_ttl_seconds=config.nonce_ttl_seconds,
        rate_limit_max=config.rate_limit_max,
        rate_limit_window_seconds=config.rate_limit_window_seconds,
        relay_strict=config.relay_strict,
    )


def desired_bindings(config: Config, kv_id: str) -> list[dict[str, Any]]:
    """Every non-secret binding the Worker reads, derived like the local relay's settings."""
    settings = relay_settings(config, SECRETS_ARE_SEPARATE)
    bindings: list[dict[str, Any]] = [
        {"type": "kv_namespace", "name": KV_BINDING, "namespace_id": kv_id}
    ]
    if config.relay_strict:
        bindings.append(
            {"type": "durable_object_namespace", "name": GUARD_BINDING, "class_name": GUARD_CLASS}
        )
    bindings += [{"type": "send_email", **b} for b in settings.send_email_bindings()]
    bindings += [
        {"type": "plain_text", "name": name, "text": text}
        for name, text in settings.worker_vars().items()
    ]
    return bindings


def guard_migration(config: Config, current_tag: str | None) -> dict[str, Any] | None:
    """The migration an upload carries: the guard's SQLite class, once, while strict.

    Cloudflare refuses a Durable Object binding whose class no migration created (10061) and
    a migration whose ``old_tag`` is not the script's tag (10079). A tag we did not write means
    someone else migrated this script: say so rather than guess their history.
    """
    if not config.relay_strict or current_tag == GUARD_MIGRATION_TAG:
        return None
    if current_tag is not None:
        raise MigrationTagError(
            f"{config.worker_name} has Durable Object migration tag {current_tag!r}, not "
            f"{GUARD_MIGRATION_TAG!r}: another tool migrated it. Deploy to a fresh "
            "worker_name, or set relay_strict = false to run on KV only"
        )
    return {"new_tag": GUARD_MIGRATION_TAG, "new_sqlite_classes": [GUARD_CLASS]}


def code_digest() -> str:
    """SHA-256 of the shipped main module, compared with what Cloudflare serves back."""
    from polaris_tui.relay import worker_files

    return hashlib.sha256(worker_files()[WORKER_MAIN_MODULE]).hexdigest()


def _normalise(binding: dict[str, Any]) -> dict[str, Any]:
    """A binding as compared and shown: secret values never appear."""
    out = {"type": binding["type"], "name": binding["name"]}
    if binding["type"] == "secret_text":
        return out
    for key in COMPARED_KEYS:
        # Cloudflare names a Durable Object's namespace itself: the class is what we chose.
        if key == "namespace_id" and binding["type"] == "durable_object_namespace":
            continue
        if binding.get(key) is not None:
            out[key] = binding[key]
    return out


def redacted(bindings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {**_normalise(b), "text": REDACTED} if b["type"] == "secret_text" else _normalise(b)
        for b in bindings
    ]


class Deployed(typing.NamedTuple):
    exists: bool
    code_sha256: str | None = None
    compatibility_date: str | None = None
    bindings: tuple[dict[str, Any], ...] = ()


async def deployed(ctx: Context) -> Deployed:
    """What Cloudflare has now: code digest, compatibility date and bindings (no values),
    its two reads in flight at once (they are independent)."""
    name = ctx.config.worker_name
    try:
        settings, code = await asyncio.gather(
            ctx.workers.settings(name), ctx.workers.content(name, WORKER_MAIN_MODULE)
        )
    except NotFound:
        return Deployed(False)
    return _deployed(settings, code)


def _deployed(settings: WorkerSettings, code: str) -> Deployed:
    """The script as the two reads describe it (settings: bindings and date; code)."""
    return Deployed(
        True,
        hashlib.sha256(code.encode("utf-8")).hexdigest(),
        settings.compatibility_date,
        tuple(_normalise(dict(b)) for b in settings.bindings),
    )


def _summary(code: str | None, date: str | None, bindings: list[dict[str, Any]]) -> dict[str, Any]:
    return {"code_sha256": code, "compatibility_date": date, "bindings": bindings}


def _secret_bindings(ctx: Context) -> list[dict[str, Any]]:
    """The keyring's secrets as bindings: the first upload carries them, verify names them."""
    out = []
    for binding, vault_name in SLOTS.items():
        value = ctx.vault.get(vault_name)
        if value:
            out.append({"type": "secret_text", "name": binding, "text": value})
    return out


async def _kv_id(ctx: Context) -> str | None:
    return kv_ids(ctx).get("id") or (await list_namespaces(ctx)).get(KV_BINDING)


class DeployStep(Step):
    id = "deploy"

    def _metadata(self, ctx: Context, now: Deployed, kv_id: str | None) -> dict[str, Any]:
        from polaris_tui.relay import WORKER_COMPATIBILITY_DATE, WORKER_MAIN_MODULE

        bindings = desired_bindings(ctx.config, kv_id or "(id from the kv step)")
        metadata: dict[str, Any] = {
            "main_module": WORKER_MAIN_MODULE,
            "compatibility_date": WORKER_COMPATIBILITY_DATE,
            "bindings": bindings,
        }
        if now.exists:
            metadata["keep_bindings"] = ["secret_text"]
        else:
            metadata["bindings"] = bindings + _secret_bindings(ctx)
        return metadata

    async def plan(self, ctx: Context) -> Plan:
        now, kv_id = await asyncio.gather(deployed(ctx), _kv_id(ctx))
        change = self._change(ctx, now, kv_id)
        if not now.exists:
            summary = f"{ctx.config.worker_name} is not deployed"
        elif change.action is Action.NOOP:
            summary = f"{ctx.config.worker_name} deployed, up to date"
        else:
            summary = f"differs from the shipped Worker: {change.note}"
        return make_plan(self.id, [change], summary)

    def _change(self, ctx: Context, now: Deployed, kv_id: str | None) -> Change:
        metadata = self._metadata(ctx, now, kv_id)
        ctx.workers.validate_metadata(metadata)
        want = _summary(
            code_digest(), metadata["compatibility_date"], redacted(metadata["bindings"])
        )
        if not now.exists:
            return Change(
                Action.CREATE,
                "worker_script",
                ctx.config.worker_name,
                None,
                want,
                note="first upload carries the keyring's secrets",
            )
        plain = [b for b in now.bindings if b["type"] != "secret_text"]
        secrets = [b for b in now.bindings if b["type"] == "secret_text"]
        before = _summary(now.code_sha256, now.compatibility_date, redacted(list(now.bindings)))
        want["bindings"] = want["bindings"] + redacted(secrets)  # kept by keep_bindings
        diffs = []
        if now.code_sha256 != want["code_sha256"]:
            diffs.append("code")
        if now.compatibility_date != want["compatibility_date"]:
            diffs.append("compatibility_date")
        key = json.dumps
        have = {key(b, sort_keys=True) for b in plain}
        wanted = {key(b, sort_keys=True) for b in redacted(metadata["bindings"])}
        diffs += [f"+{json.loads(b)['name']}" for b in sorted(wanted - have)]
        diffs += [f"-{json.loads(b)['name']}" for b in sorted(have - wanted)]
        action = Action.UPDATE if diffs else Action.NOOP
        return Change(
            action, "worker_script", ctx.config.worker_name, before, want, note=", ".join(diffs)
        )

    async def apply(
        self, ctx: Context, changes: list[Change], *, progress: Progress = no_progress
    ) -> ApplyResult:
        from polaris_tui.relay import worker_files

        if not any(c.kind == "worker_script" and c.action is not Action.NOOP for c in changes):
            return ApplyResult(True, [], "nothing to do")
        now, kv_id = await asyncio.gather(deployed(ctx), _kv_id(ctx))
        if kv_id is None:
            raise RuntimeError("no EMAIL_NONCE_DEDUP namespace yet: run `polaris-tui apply kv`")
        metadata = self._metadata(ctx, now, kv_id)
        tag = await ctx.workers.migration_tag(ctx.config.worker_name) if now.exists else None
        migration = guard_migration(ctx.config, tag)
        if migration is not None:
            metadata["migrations"] = migration
        if not now.exists and not any(b["type"] == "secret_text" for b in metadata["bindings"]):
            raise RuntimeError(
                "the first upload must carry POLARIS_SECRET_A: run `polaris-tui apply secret`"
            )
        ctx.workers.validate_metadata(metadata)
        progress("metadata matches the SDK's types", 0.2)
        # a subprocess of up to WRANGLER_TIMEOUT: waited for off the event loop
        messages = [await asyncio.to_thread(wrangler_dry_run, ctx.config, metadata)]
        progress(messages[0], 0.5)
        files = [(name, body, MODULE_TYPE) for name, body in worker_files().items()]
        await ctx.workers.upload(ctx.config.worker_name, metadata, files)
        if not now.exists:
            record_pushed(
                ctx,
                {b["name"]: b["text"] for b in metadata["bindings"] if b["type"] == "secret_text"},
            )
            ctx.state.mark_owned("worker_script", ctx.config.worker_name)
        progress(f"uploaded {ctx.config.worker_name}", 1.0)
        sent = len(metadata["bindings"])
        kept = sum(b["type"] == "secret_text" for b in now.bindings) if now.exists else 0
        # counted as the plan counts them: the secrets a re-upload keeps are bindings too
        messages.append(
            f"uploaded {ctx.config.worker_name} ({sent + kept} bindings"
            + (f", {kept} secret(s) kept as they were)" if kept else ")")
        )
        if migration is not None:
            messages.append(f"migration {GUARD_MIGRATION_TAG} created Durable Object {GUARD_CLASS}")
        return ApplyResult(True, list(changes), f"deployed {ctx.config.worker_name}", messages)

    async def verify(self, ctx: Context) -> list[Check]:
        now_task = asyncio.create_task(deployed(ctx))
        kv_task = asyncio.create_task(_kv_id(ctx))

        async def exists() -> tuple[bool, str]:
            now = await now_task
            if not now.exists:
                return False, f"{ctx.config.worker_name} is not deployed"
            if now.code_sha256 != code_digest():
                return False, "deployed code differs from the shipped Worker: re-run apply deploy"
            return (
                True,
                f"{ctx.config.worker_name} runs the shipped code ({now.compatibility_date})",
            )

        async def bindings() -> tuple[bool, str]:
            now = await now_task
            kv_id = await kv_task
            want = {
                json.dumps(b, sort_keys=True) for b in desired_bindings(ctx.config, kv_id or "")
            }
            have = {
                json.dumps(b, sort_keys=True) for b in now.bindings if b["type"] != "secret_text"
            }
            missing = sorted(json.loads(b)["name"] for b in want - have)
            extra = sorted(json.loads(b)["name"] for b in have - want)
            if missing or extra:
                return False, f"bindings differ: missing/changed {missing}, unexpected {extra}"
            return True, f"{len(have)} bindings exactly as expected"

        async def secrets() -> tuple[bool, str]:
            now = await now_task
            names = {b["name"] for b in now.bindings if b["type"] == "secret_text"}
            expected = {b["name"] for b in await asyncio.to_thread(_secret_bindings, ctx)}
            if names != expected:
                return False, (
                    f"Worker secrets {sorted(names)} but the keyring implies {sorted(expected)}"
                )
            return True, "secret names present: " + ", ".join(sorted(names))

        return list(
            await asyncio.gather(
                timed_check(self.id, "deploy.script", exists, CHECK_TIMEOUT),
                timed_check(self.id, "deploy.bindings", bindings, CHECK_TIMEOUT),
                timed_check(self.id, "deploy.secret-names", secrets, CHECK_TIMEOUT),
            )
        )


def wrangler_config(config: Config, metadata: dict[str, Any]) -> dict[str, Any]:
    """The wrangler.json equivalent of an upload (secrets left out, as wrangler does)."""
    out: dict[str, Any] = {
        "name": config.worker_name,
        "main": f"src/{metadata['main_module']}",
        "compatibility_date": metadata["compatibility_date"],
        "kv_namespaces": [],
        "send_email": [],
        "vars": {},
    }
    for b in metadata["bindings"]:
        if b["type"] == "durable_object_namespace":
            out.setdefault("durable_objects", {"bindings": []})["bindings"].append(
                {"name": b["name"], "class_name": b["class_name"]}
            )
            out["migrations"] = [{"tag": GUARD_MIGRATION_TAG, "new_sqlite_classes": [GUARD_CLASS]}]
        elif b["type"] == "kv_namespace":
            out["kv_namespaces"].append({"binding": b["name"], "id": b["namespace_id"]})
        elif b["type"] == "send_email":
            out["send_email"].append(
                {"name": b["name"], "allowed_sender_addresses": b["allowed_sender_addresses"]}
            )
        elif b["type"] == "plain_text":
            out["vars"][b["name"]] = b["text"]
    return out


def wrangler_dry_run(config: Config, metadata: dict[str, Any]) -> str:
    """Run ``wrangler deploy --dry-run`` on the generated config; a one-line outcome.

    Skipped (and said so) when Node or the pinned wrangler cannot be set up; a failing dry
    run raises, so nothing is uploaded.
    """
    from polaris_tui.relay import worker_files
    from polaris_tui.relay.node import NodeMissingError, ensure_node_modules, node_bin

    try:
        wrangler = node_bin(ensure_node_modules(), "wrangler")
    except NodeMissingError as exc:
        return f"wrangler dry run skipped: {str(exc).splitlines()[0]}"
    with tempfile.TemporaryDirectory(prefix="polaris-deploy-") as tmp:
        root = Path(tmp)
        (root / "src").mkdir()
        for name, body in worker_files().items():
            (root / "src" / name).write_bytes(body)
        (root / "wrangler.json").write_text(json.dumps(wrangler_config(config, metadata)))
        returncode, stdout, stderr = _run_reporting(
            [str(wrangler), "deploy", "--dry-run", "--outdir", str(root / "dist")], root
        )
    if returncode != 0:
        tail = (stderr or stdout).strip().splitlines()[-8:]
        raise RuntimeError("wrangler deploy --dry-run rejected the config:\n" + "\n".join(tail))
    return "wrangler deploy --dry-run accepted the generated config"


def _run_reporting(argv: list[str], cwd: Path) -> tuple[int, str, str]:
    """Run the dry run, saying every slice how long it has run of its limit: it takes seconds,
    and a bar that sits still reads as a hang. A cancel (the callback raising) kills it."""
    from polaris_tui.relay.node import node_env

    started = time.monotonic()
    with subprocess.Popen(
        argv, cwd=cwd, env=node_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            while True:
                elapsed = time.monotonic() - started
                if elapsed > WRANGLER_TIMEOUT:
                    raise RuntimeError(
                        f"wrangler deploy --dry-run gave no answer within {WRANGLER_TIMEOUT:g}s"
                    )
                report(f"wrangler deploy --dry-run {of_limit(elapsed, WRANGLER_TIMEOUT)}", 0.3)
                try:
                    stdout, stderr = proc.communicate(timeout=SLICE_SECONDS)
                except subprocess.TimeoutExpired:
                    continue  # output is kept across retries of communicate
                return proc.returncode, stdout, stderr
        except BaseException:
            proc.kill()
            raise
