"""Runbook step 6: the HMAC signing secret shared by the app and the relay Worker.

The value lives only in the keyring (``polaris-secret-a``) and on the Worker. The tool state
keeps fingerprints of what it pushed, never values, so it can tell when the keyring and the
Worker disagree. A present secret is never regenerated: re-running verifies it with a signed
dry-run probe instead. Rotation (polaris_tui.rotation) changes it deliberately.
"""

from __future__ import annotations

import asyncio
import base64
import os
from typing import TYPE_CHECKING

from polaris_tui.context import fingerprint
from polaris_tui.errors import NotFound
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
from polaris_tui.steps.relay_probe import (
    ProbeResult,
    StatusRun,
    describe,
    signed_probe,
    status_check,
)

if TYPE_CHECKING:
    from polaris_tui.context import Context

VAULT_A = "polaris-secret-a"
VAULT_B = "polaris-secret-b"
BINDING_A = "POLARIS_SECRET_A"
BINDING_B = "POLARIS_SECRET_B"
SLOTS = {BINDING_A: VAULT_A, BINDING_B: VAULT_B}  # Worker secret -> keyring name
PUSHED_KEY = "worker_secrets"  # state: Worker secret name -> fingerprint last pushed
ROTATION_KEY = "rotation"  # state: the stage a rotation reached (polaris_tui.rotation)
APP_VARIABLE = "CF_EMAIL_WORKER_SECRET"
CHECK_TIMEOUT = 10.0


def generate_secret() -> str:
    """32 random bytes, base64: what ``openssl rand -base64 32`` prints."""
    return base64.b64encode(os.urandom(32)).decode("ascii")


async def worker_secret_names(ctx: Context) -> set[str] | None:
    """Names of the Worker's secrets (values are never readable); None if it is not deployed."""
    try:
        return await ctx.workers.secret_names(ctx.config.worker_name)
    except NotFound:
        return None


def pushed(ctx: Context) -> dict[str, str]:
    """Fingerprints of the secret values the tool last put on the Worker."""
    return dict(ctx.state.get(PUSHED_KEY) or {})


def record_pushed(ctx: Context, values: dict[str, str | None]) -> None:
    """Remember what the Worker now holds (None: the secret was removed)."""
    current = pushed(ctx)
    for name, value in values.items():
        if value is None:
            current.pop(name, None)
        else:
            current[name] = fingerprint(value)
    ctx.state.set(PUSHED_KEY, current)


def disagreements(ctx: Context, names: set[str] | None) -> list[str]:
    """Where the keyring and the Worker (as far as the tool knows) disagree, in plain words."""
    problems = []
    rotation = ctx.state.get(ROTATION_KEY) or {}
    if rotation.get("stage") not in (None, "done"):
        problems.append(
            f"a {rotation['mode']} rotation stopped at stage {rotation['stage']!r}: re-run "
            f"`polaris-tui rotate --{rotation['mode']}` to finish it"
        )
    if names is None:
        return problems
    known = pushed(ctx)
    for binding, vault_name in SLOTS.items():
        value = ctx.vault.get(vault_name)
        on_worker = binding in names
        if value and not on_worker:
            problems.append(f"{vault_name} is in the keyring but the Worker has no {binding}")
        elif on_worker and not value:
            problems.append(f"the Worker has {binding} but the keyring has no {vault_name}")
        elif value and binding in known and known[binding] != fingerprint(value):
            problems.append(
                f"{binding} on the Worker ({known[binding]}) differs from {vault_name} "
                f"in the keyring ({fingerprint(value)})"
            )
    return problems


async def push_secret(ctx: Context, binding: str, value: str) -> None:
    await ctx.workers.put_secret(ctx.config.worker_name, binding, value)
    record_pushed(ctx, {binding: value})


class SecretStep(Step):
    id = "secret"

    def __init__(self) -> None:
        self._generated: str | None = None

    def reveal_once(self) -> str | None:
        """The secret this step object just generated, once (for the TUI's masked view)."""
        value, self._generated = self._generated, None
        return value

    async def plan(self, ctx: Context) -> Plan:
        value = ctx.vault.get(VAULT_A)
        if not value:
            names = await worker_secret_names(ctx)
            changes = self._changes(ctx, value, names)
            return make_plan(self.id, changes, "no signing secret in the keyring yet")
        # the probe does not wait for the secret names: they only decide whether it counts
        names, probe = await asyncio.gather(worker_secret_names(ctx), signed_probe(ctx, value))
        changes = self._changes(ctx, value, names)
        facts = {"fingerprint": fingerprint(value), "worker_secrets": sorted(names or [])}
        problems = disagreements(ctx, names)
        if problems:
            return make_plan(
                self.id, changes, "; ".join(problems), facts=facts, hold=StepState.DRIFT
            )
        if names is None:
            summary = f"secret {fingerprint(value)} in the keyring; the first deploy carries it"
            return make_plan(self.id, changes, summary, facts=facts)
        label = f"secret {fingerprint(value)} on the Worker"
        if probe.status in (None, 404, 522):
            summary = f"{label}; relay not reachable to probe yet"
        elif not probe.accepted:
            summary = f"{label}, but {describe(probe, 'the relay')}"
            return make_plan(self.id, changes, summary, facts=facts, hold=StepState.DRIFT)
        else:
            summary = f"{label}; the relay accepts it as key {probe.key}"
        return make_plan(self.id, changes, summary, facts=facts)

    def _changes(self, ctx: Context, value: str | None, names: set[str] | None) -> list[Change]:
        changes = []
        if value:
            changes.append(Change(Action.NOOP, "signing_secret", VAULT_A, fingerprint(value), None))
        else:
            changes.append(
                Change(
                    Action.CREATE,
                    "signing_secret",
                    VAULT_A,
                    None,
                    "32 random bytes, base64, kept in the keyring",
                    note=f"set it as {APP_VARIABLE} on the app",
                )
            )
        if names is None:
            changes.append(
                Change(
                    Action.NOOP,
                    "worker_secret",
                    BINDING_A,
                    note="the Worker is not deployed yet: the first deploy carries it",
                )
            )
            return changes
        recorded = pushed(ctx).get(BINDING_A)
        want = fingerprint(value) if value else "(new secret)"
        if BINDING_A not in names:
            changes.append(Change(Action.CREATE, "worker_secret", BINDING_A, None, want))
        elif not value or (recorded is not None and recorded != want):
            changes.append(Change(Action.UPDATE, "worker_secret", BINDING_A, recorded, want))
        else:
            changes.append(Change(Action.NOOP, "worker_secret", BINDING_A, recorded, want))
        return changes

    async def apply(
        self, ctx: Context, changes: list[Change], *, progress: Progress = no_progress
    ) -> ApplyResult:
        applied, messages = [], []
        for change in changes:
            if change.kind == "signing_secret" and change.action is Action.CREATE:
                if ctx.vault.get(VAULT_A):
                    raise RuntimeError(
                        f"{VAULT_A} appeared in the keyring since the plan; re-run plan "
                        "(the tool never overwrites a signing secret outside rotation)"
                    )
                value = generate_secret()
                ctx.vault.set(VAULT_A, value)
                self._generated = value
                progress(f"generated {VAULT_A} ({fingerprint(value)})", 0.5)
                messages.append(
                    f"New signing secret {fingerprint(value)} stored in the keyring as {VAULT_A}. "
                    f"Set the same value as {APP_VARIABLE} on the app: the TUI's secret screen "
                    "shows it once (masked until revealed, with copy); from a shell, "
                    f"`python -m keyring get {ctx.vault.service} {VAULT_A}` prints it."
                )
                applied.append(change)
            elif change.kind == "worker_secret" and change.action is not Action.NOOP:
                value = ctx.vault.require(VAULT_A, "run `polaris-tui apply secret`")
                progress(f"putting {BINDING_A} on {ctx.config.worker_name}", 0.8)
                await push_secret(ctx, BINDING_A, value)
                messages.append(f"{BINDING_A} set on {ctx.config.worker_name}")
                applied.append(change)
        progress("signing secret ready", 1.0)
        return ApplyResult(True, applied, f"{len(applied)} change(s) applied", messages)

    async def verify(self, ctx: Context) -> list[Check]:
        names_task = asyncio.create_task(worker_secret_names(ctx))

        async def in_keyring() -> tuple[bool, str]:
            value = await asyncio.to_thread(ctx.vault.get, VAULT_A)
            if not value:
                return False, f"no {VAULT_A} in the keyring: run `polaris-tui apply secret`"
            return True, f"{VAULT_A} {fingerprint(value)} in the keyring"

        async def on_worker() -> tuple[bool, str]:
            names = await names_task
            if names is None:
                return False, f"{ctx.config.worker_name} is not deployed: run the deploy step"
            problems = await asyncio.to_thread(disagreements, ctx, names)
            if BINDING_A not in names:
                problems.insert(0, f"the Worker has no {BINDING_A}")
            if problems:
                return False, "; ".join(problems)
            return True, "Worker secrets: " + ", ".join(sorted(names))

        def accepted(vault_name: str, slot: str) -> StatusRun:
            async def run() -> tuple[bool, str, int | None]:
                value = await asyncio.to_thread(ctx.vault.get, vault_name)
                if not value:
                    return False, f"no {vault_name} in the keyring", None
                probe: ProbeResult = await signed_probe(ctx, value)
                label = f"{vault_name} {fingerprint(value)}"
                return probe.accepted and probe.key == slot, describe(probe, label), probe.status

            return run

        async def b_checks() -> list[Check]:
            """Secret B is probed only while it exists (a rotation in progress)."""
            if not await asyncio.to_thread(ctx.vault.get, VAULT_B):
                return []
            return [
                await status_check(
                    self.id, "secret.relay-accepts-b", accepted(VAULT_B, "B"), CHECK_TIMEOUT
                )
            ]

        keyring, worker, relay, relay_b = await asyncio.gather(
            timed_check(self.id, "secret.in-keyring", in_keyring, CHECK_TIMEOUT),
            timed_check(self.id, "secret.on-worker", on_worker, CHECK_TIMEOUT),
            status_check(self.id, "secret.relay-accepts", accepted(VAULT_A, "A"), CHECK_TIMEOUT),
            b_checks(),
        )
        return [keyring, worker, relay, *relay_b]
