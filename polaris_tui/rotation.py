"""Rotating the relay signing secret with the runbook's two-secret design.

- graceful: a new secret becomes POLARIS_SECRET_B (Worker and keyring); both are accepted
  until the app is switched.
- promote: one Worker version sets A = the new secret and removes B; the keyring follows.
- emergency: one Worker version sets a fresh A and removes B; the old value is purged.

Each stage is recorded in the tool state (fingerprints, never values) before the next
begins, and the pending new value waits in the keyring slot ``polaris-secret-b``, so an
interrupted rotation resumes from where it stopped when the same command is run again.
Probes against the deployed relay decide success; a graceful or promote whose new secret is
not accepted is rolled back on the Worker. Every disagreement is reported.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from polaris_tui.context import fingerprint
from polaris_tui.errors import PolarisError
from polaris_tui.steps.base import Action, Change
from polaris_tui.steps.relay_probe import ProbeResult, describe, signed_probe
from polaris_tui.steps.secret import (
    APP_VARIABLE,
    BINDING_A,
    BINDING_B,
    ROTATION_KEY,
    VAULT_A,
    VAULT_B,
    generate_secret,
    push_secret,
    record_pushed,
    worker_secret_names,
)

if TYPE_CHECKING:
    from polaris_tui.context import Context

MODES = ("graceful", "promote", "emergency")
Say = Callable[[str], None]


class RotationError(PolarisError):
    """A rotation cannot start or continue; the message says what to do."""

    title = "Rotation stopped"


@dataclass
class RotationReport:
    mode: str
    ok: bool = False
    lines: list[str] = field(default_factory=list)
    probes: dict[str, str] = field(default_factory=dict)
    next_actions: list[str] = field(default_factory=list)
    new_fingerprint: str | None = None
    elapsed_s: float = 0.0
    # The new value, for the operator's one copy on the terminal; never logged or serialised.
    new_secret: str | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "ok": self.ok,
            "lines": self.lines,
            "probes": self.probes,
            "next_actions": self.next_actions,
            "new_fingerprint": self.new_fingerprint,
            "elapsed_s": round(self.elapsed_s, 3),
        }


def progress_of(ctx: Context) -> dict[str, Any]:
    return dict(ctx.state.get(ROTATION_KEY) or {})


def _save(ctx: Context, mode: str, stage: str, new: str, old: str | None) -> None:
    ctx.state.set(
        ROTATION_KEY,
        {
            "mode": mode,
            "stage": stage,
            "new_fp": fingerprint(new),
            "old_fp": fingerprint(old) if old else None,
            "updated": time.time(),
        },
    )


def _probe_all(ctx: Context, secrets: dict[str, str]) -> dict[str, ProbeResult]:
    """Signed dry-run probes for several secrets at once (label -> result)."""

    async def run() -> dict[str, ProbeResult]:
        labels = list(secrets)
        results = await asyncio.gather(*(signed_probe(ctx, secrets[k]) for k in labels))
        return dict(zip(labels, results, strict=True))

    return asyncio.run(run())


def _bulk(ctx: Context, changes: dict[str, str | None]) -> None:
    """One Worker version with all secret changes (a JSON merge patch: None removes)."""
    ctx.workers.update_secrets(ctx.config.worker_name, changes)
    record_pushed(ctx, changes)


def _names(ctx: Context) -> set[str]:
    names = worker_secret_names(ctx)
    if names is None:
        raise RotationError(
            f"{ctx.config.worker_name} is not deployed: run `polaris-tui apply deploy` first"
        )
    return names


def _journal(ctx: Context, report: RotationReport, old: str | None) -> None:
    change = Change(
        Action.UPDATE,
        "signing_secret",
        report.mode,
        fingerprint(old) if old else None,
        report.new_fingerprint,
    )
    detail = "; ".join(report.lines[-1:] + list(report.probes.values()))
    ctx.journal.append(
        ctx.config.domain, "rotate", "ok" if report.ok else "failed", [change], detail
    )


def _probe_lines(
    report: RotationReport, results: dict[str, ProbeResult], labels: dict[str, str]
) -> None:
    for key, result in results.items():
        report.probes[key] = describe(result, labels[key])


def _unfinished_other(ctx: Context, mode: str) -> None:
    rot = progress_of(ctx)
    if rot and rot.get("stage") != "done" and rot.get("mode") not in (mode, None):
        raise RotationError(
            f"a {rot['mode']} rotation stopped at stage {rot['stage']!r}: re-run "
            f"`polaris-tui rotate --{rot['mode']}` to finish it (or --emergency to replace "
            "the secret outright)"
        )


def graceful(ctx: Context, say: Say = lambda _: None) -> RotationReport:
    """Add a new secret as B on the Worker and in the keyring; both old and new work."""
    started = time.perf_counter()
    report = RotationReport("graceful")
    _unfinished_other(ctx, "graceful")
    old = ctx.vault.require(VAULT_A, "run `polaris-tui apply secret` first")
    names = _names(ctx)
    rot = progress_of(ctx)
    new = ctx.vault.get(VAULT_B)
    if new and rot.get("mode") == "graceful" and rot.get("new_fp") == fingerprint(new):
        if rot.get("stage") == "done" and BINDING_B in names:
            report.ok = True
            report.new_fingerprint = fingerprint(new)
            report.lines.append(
                f"already staged: {BINDING_B} {fingerprint(new)} is on the Worker and in the "
                "keyring; switch the app, then run `polaris-tui rotate --promote`"
            )
            return report
        say(f"resuming the graceful rotation at stage {rot.get('stage')}")
    elif new:
        raise RotationError(
            f"{VAULT_B} ({fingerprint(new)}) is already in the keyring outside a graceful "
            "rotation: finish it with `polaris-tui rotate --promote`, or replace everything "
            "with `polaris-tui rotate --emergency`"
        )
    else:
        new = generate_secret()
        ctx.vault.set(VAULT_B, new)
        _save(ctx, "graceful", "vault-b", new, old)
        say(f"new secret {fingerprint(new)} stored in the keyring as {VAULT_B}")
    report.new_fingerprint, report.new_secret = fingerprint(new), new
    push_secret(ctx, BINDING_B, new)
    _save(ctx, "graceful", "worker-b", new, old)
    say(f"{BINDING_B} set on {ctx.config.worker_name}")
    results = _probe_all(ctx, {"old": old, "new": new})
    _probe_lines(report, results, {"old": "old secret", "new": "new secret"})
    if results["new"].key != "B":
        _bulk(ctx, {BINDING_B: None})
        ctx.vault.delete(VAULT_B)
        ctx.state.set(ROTATION_KEY, None)
        report.lines.append(
            f"rolled back: the relay did not accept the new secret as B "
            f"({report.probes['new']}); {BINDING_B} removed from the Worker and the keyring"
        )
        report.new_secret = None
    else:
        _save(ctx, "graceful", "done", new, old)
        report.ok = results["old"].key == "A"
        report.lines.append(
            "both secrets accepted"
            if report.ok
            else f"the new secret works but the keyring's A does not ({report.probes['old']})"
        )
        report.next_actions = [
            f"Set {APP_VARIABLE} on the app to the new secret shown above and deploy the app.",
            "Then run `polaris-tui rotate --promote` to make it the only secret.",
        ]
    report.elapsed_s = time.perf_counter() - started
    _journal(ctx, report, old)
    return report


def promote(ctx: Context, say: Say = lambda _: None) -> RotationReport:
    """After the app uses the new secret: A = new and B removed in one Worker version."""
    started = time.perf_counter()
    report = RotationReport("promote")
    _unfinished_other(ctx, "promote")
    rot = progress_of(ctx)
    old = ctx.vault.get(VAULT_A)
    new = ctx.vault.get(VAULT_B)
    resuming = rot.get("mode") == "promote" and rot.get("stage") != "done"
    worker_done = resuming and rot.get("stage") in ("worker", "vault")
    if new is None and resuming and old and fingerprint(old) == rot.get("new_fp"):
        new, old, worker_done = old, None, True  # the keyring already follows
    if new is None:
        raise RotationError(
            f"no {VAULT_B} in the keyring: start with `polaris-tui rotate --graceful`"
        )
    if not worker_done:
        names = _names(ctx)
        if old is None:
            raise RotationError(
                f"no {VAULT_A} in the keyring to roll back to: use `polaris-tui rotate --emergency`"
            )
        if BINDING_B not in names and not resuming:
            raise RotationError(
                f"the Worker has no {BINDING_B}: run `polaris-tui rotate --graceful` to finish "
                "staging the new secret first"
            )
        _save(ctx, "promote", "started", new, old)
        _bulk(ctx, {BINDING_A: new} | ({BINDING_B: None} if BINDING_B in names else {}))
        _save(ctx, "promote", "worker", new, old)
        say(f"{BINDING_A} = {fingerprint(new)} and {BINDING_B} removed, in one Worker version")
        check = _probe_all(ctx, {"new": new})["new"]
        if check.key != "A":
            _bulk(ctx, {BINDING_A: old, BINDING_B: new})
            _save(ctx, "graceful", "done", new, old)
            raise RotationError(
                f"the relay did not accept the new secret as A ({describe(check, 'new secret')}); "
                "rolled the Worker back to A = old, B = new. Nothing changed in the keyring."
            )
    ctx.vault.set(VAULT_A, new)
    ctx.vault.delete(VAULT_B)
    _save(ctx, "promote", "vault", new, old)
    say(f"keyring: {VAULT_A} = {fingerprint(new)}, {VAULT_B} removed")
    report.new_fingerprint = fingerprint(new)
    probes = {"new": new} | ({"old": old} if old and old != new else {})
    results = _probe_all(ctx, probes)
    _probe_lines(report, results, {"old": "old secret", "new": "new secret"})
    old_rejected = "old" not in results or results["old"].status == 401
    report.ok = results["new"].key == "A" and old_rejected
    if "old" not in results:
        report.lines.append("the old value was already gone from the keyring; not probed")
    report.lines.append(
        "promoted: only the new secret is accepted" if report.ok else "promote needs attention"
    )
    if report.ok:
        _save(ctx, "promote", "done", new, old)
    report.elapsed_s = time.perf_counter() - started
    _journal(ctx, report, old)
    return report


def emergency(ctx: Context, say: Say = lambda _: None) -> RotationReport:
    """A leaked secret: fresh A and no B in one Worker version, the old value purged."""
    started = time.perf_counter()
    report = RotationReport("emergency")
    rot = progress_of(ctx)
    stage = rot.get("stage") if rot.get("mode") == "emergency" else None
    old = ctx.vault.get(VAULT_A)
    pending = ctx.vault.get(VAULT_B)
    worker_done = False
    if pending and stage not in (None, "done") and rot.get("new_fp") == fingerprint(pending):
        new = pending
        say(f"resuming the emergency rotation at stage {stage}")
    elif stage == "vault" and old and rot.get("new_fp") == fingerprint(old):
        new, old, worker_done = old, None, True  # only the probes were left
    else:
        new = generate_secret()
        ctx.vault.set(VAULT_B, new)  # the pending value waits in B until the Worker has it
        _save(ctx, "emergency", "vault-new", new, old)
    report.new_fingerprint, report.new_secret = fingerprint(new), new
    if not worker_done:
        names = _names(ctx)
        _bulk(ctx, {BINDING_A: new} | ({BINDING_B: None} if BINDING_B in names else {}))
        _save(ctx, "emergency", "worker", new, old)
        say(f"{BINDING_A} replaced and {BINDING_B} removed, in one Worker version")
        ctx.vault.set(VAULT_A, new)
        ctx.vault.delete(VAULT_B)
        _save(ctx, "emergency", "vault", new, old)
        say("keyring: the old value is purged")
    probes = {"new": new} | ({"old": old} if old else {})
    results = _probe_all(ctx, probes)
    _probe_lines(report, results, {"old": "leaked secret", "new": "new secret"})
    old_rejected = "old" not in results or results["old"].status == 401
    report.ok = results["new"].key == "A" and old_rejected
    report.lines.append(
        "the leaked secret is rejected and the new one accepted"
        if report.ok
        else "emergency rotation needs attention: see the probes"
    )
    if report.ok:
        _save(ctx, "emergency", "done", new, old)
    report.next_actions = [
        f"Set {APP_VARIABLE} on the app to the new secret shown above and restart the app now: "
        "until then its requests get 401 and no mail is sent.",
        "Remove the leaked value wherever it was exposed (repository history, CI variables, "
        "logs); the relay already rejects it.",
        "Check the relay's recent sends for mail you did not expect during the exposure.",
        "Run `polaris-tui verify secret` and `polaris-tui verify route` once the app is switched.",
    ]
    report.elapsed_s = time.perf_counter() - started
    _journal(ctx, report, old)
    return report


def rotate(ctx: Context, mode: str, say: Say = lambda _: None) -> RotationReport:
    if mode not in MODES:
        raise RotationError(f"mode {mode!r}: use one of {', '.join(MODES)}")
    return {"graceful": graceful, "promote": promote, "emergency": emergency}[mode](ctx, say)
