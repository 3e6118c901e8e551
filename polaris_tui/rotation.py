"""Rotating the relay signing secret with the runbook's two-secret design.

- graceful: a new secret becomes POLARIS_SECRET_B (Worker and keyring); both are accepted
  until the app is switched.
- promote: one Worker version sets A = the new secret and removes B; the keyring follows.
  It waits until the app has switched: while the Worker recorded a real send signed with A
  (the outgoing secret) within ``promote_quiet_seconds``, promote refuses unless forced.
- emergency: one Worker version sets a fresh A and removes B; the old value is purged.
- with ``app_secret_command`` configured, graceful and emergency then hand the new secret to
  the app (``polaris_tui.app_handoff``); a failed hand-off stops the rotation there and says
  what is left to do by hand.

Each stage is recorded in the tool state (fingerprints, never values) before the next
begins, and the pending new value waits in the keyring slot ``polaris-secret-b``, so an
interrupted rotation resumes from where it stopped when the same command is run again.
Probes against the deployed relay decide success; a graceful or promote whose new secret is
not accepted is rolled back on the Worker. Every disagreement is reported.

The rotations are coroutines, like the steps; a synchronous front end (the CLI, the TUI's
thread worker, the demo) runs one with ``polaris_tui.blocking.run_blocking``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from polaris_tui.app_handoff import HandOff, hand_off
from polaris_tui.context import fingerprint
from polaris_tui.errors import PolarisError
from polaris_tui.steps.base import Action, Change
from polaris_tui.steps.kv import kv_ids
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
SLOTS = ("A", "B")
LAST_ACCEPTED_KEY = "slot-last-accepted:"  # + slot; epoch ms, written by the Worker
# A graceful rotation whose B the Worker accepts, waiting for app_secret_command to succeed.
HANDOFF_STAGE = "app"
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
    app_secret: HandOff | None = None  # the run of app_secret_command, if one is configured

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "ok": self.ok,
            "lines": self.lines,
            "probes": self.probes,
            "next_actions": self.next_actions,
            "new_fingerprint": self.new_fingerprint,
            "app_secret_command": self.app_secret.to_json() if self.app_secret else None,
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


async def last_accepted(ctx: Context) -> dict[str, float | None]:
    """Epoch seconds of each slot's last accepted real send, as the Worker keeps it in KV.

    The Worker rewrites a slot's key at most once a minute, so a value may lag by up to 60 s.
    """
    namespace = kv_ids(ctx).get("id")
    if not namespace:
        return dict.fromkeys(SLOTS)
    raws = await asyncio.gather(
        *(ctx.kv.value(namespace, LAST_ACCEPTED_KEY + slot) for slot in SLOTS)
    )
    return {
        slot: int(raw) / 1000 if raw and raw.isdigit() else None
        for slot, raw in zip(SLOTS, raws, strict=True)
    }


def ago(seconds: float) -> str:
    """A short age for people: '40 s', '2 min', '3 h', '2 days'."""
    seconds = max(0.0, seconds)
    for size, unit in ((86400, "days"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return f"{int(seconds)} s"


async def _refuse_while_old_in_use(ctx: Context) -> None:
    """Promote removes A: refuse while the app still signed a real send with it lately."""
    used = (await last_accepted(ctx))["A"]
    quiet = ctx.config.promote_quiet_seconds
    if used is not None and time.time() - used < quiet:
        raise RotationError(
            f"the app still signs with the old secret (last accepted {ago(time.time() - used)} "
            f"ago): set {APP_VARIABLE} to the new one first, or pass --force "
            f"(promote waits until A has been unused for promote_quiet_seconds = {quiet} s)"
        )


async def _probe_all(ctx: Context, secrets: dict[str, str]) -> dict[str, ProbeResult]:
    """Signed dry-run probes for several secrets at once (label -> result)."""
    labels = list(secrets)
    results = await asyncio.gather(*(signed_probe(ctx, secrets[k]) for k in labels))
    return dict(zip(labels, results, strict=True))


async def _bulk(ctx: Context, changes: dict[str, str | None]) -> None:
    """One Worker version with all secret changes (a JSON merge patch: None removes)."""
    await ctx.workers.update_secrets(ctx.config.worker_name, changes)
    record_pushed(ctx, changes)


async def _names(ctx: Context) -> set[str]:
    names = await worker_secret_names(ctx)
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
    stopped = rot.get("stage") not in ("done", HANDOFF_STAGE)  # waiting on the app: Worker done
    if rot and stopped and rot.get("mode") not in (mode, None):
        raise RotationError(
            f"a {rot['mode']} rotation stopped at stage {rot['stage']!r}: re-run "
            f"`polaris-tui rotate --{rot['mode']}` to finish it (or --emergency to replace "
            "the secret outright)"
        )


GRACEFUL_NEXT = (
    f"Set {APP_VARIABLE} on the app to the new secret shown above and deploy the app.",
    "Then run `polaris-tui rotate --promote` to make it the only secret.",
)


def _handed_off(mode: str) -> list[str]:
    if mode == "graceful":
        return [
            "app_secret_command gave the app the new secret: check that the app signs with it "
            "(reload it if it reads the secret only at start).",
            "Then run `polaris-tui rotate --promote` to make it the only secret: it waits until "
            "the old secret has been unused for promote_quiet_seconds.",
        ]
    return ["app_secret_command gave the app the new secret: check that its mail goes out again."]


def _by_hand(mode: str, result: HandOff) -> list[str]:
    if mode == "graceful":
        return [
            f"The new secret is {BINDING_B} on the Worker and in the keyring (both secrets are "
            f"accepted), but the app was not updated: {result.summary()}.",
            f"Either set {APP_VARIABLE} on the app to the new secret shown above by hand, deploy "
            "the app, then run `polaris-tui rotate --promote`;",
            "or fix app_secret_command (`polaris-tui config set app_secret_command '...'`) and "
            f"run `polaris-tui rotate --graceful` again: it runs only the command ({BINDING_B} "
            "stays on the Worker).",
        ]
    return [
        f"The relay accepts only the new secret, but the app was not updated "
        f"({result.summary()}): its mail fails (401) until {APP_VARIABLE} is the new secret "
        "shown above. Set it by hand and restart the app now,",
        "or fix app_secret_command and run `polaris-tui rotate --emergency` again: it starts "
        "over with a fresh secret and hands that one to the app.",
    ]


async def _hand_off(
    ctx: Context, report: RotationReport, new: str, old: str | None, say: Say
) -> None:
    """Give the app the secret the Worker now accepts, when ``app_secret_command`` is set.

    A graceful rotation waits at HANDOFF_STAGE until the command succeeds: run again, it
    re-runs only the command, and promote is allowed once the app was switched by hand. An
    emergency is recorded done first: run again it starts over with a fresh secret, so a
    later leak is never answered by re-sending the value that leaked.
    """
    command = ctx.config.app_secret_command
    graceful = report.mode == "graceful"
    _save(ctx, report.mode, HANDOFF_STAGE if graceful and command else "done", new, old)
    if not command:
        return
    timeout = ctx.config.app_secret_timeout_seconds
    say(f"handing the new secret to the app: app_secret_command (stdin, timeout {timeout} s)")
    result = await asyncio.to_thread(hand_off, command, new, timeout)  # a subprocess
    report.app_secret = result
    report.lines.append(result.summary())
    rest = [] if graceful else report.next_actions[1:]  # the first says: switch the app
    if result.ok:
        if graceful:
            _save(ctx, "graceful", "done", new, old)
        report.next_actions = _handed_off(report.mode) + rest
        return
    report.ok = False
    report.new_secret = new  # what remains is done by hand, with this value
    report.next_actions = _by_hand(report.mode, result) + rest


async def _resume_hand_off(
    ctx: Context, report: RotationReport, new: str, old: str | None, say: Say, started: float
) -> RotationReport:
    """A graceful rotation whose hand-off failed: the Worker has B, run only the command."""
    report.ok = True
    report.new_fingerprint = fingerprint(new)
    report.lines.append(
        f"resuming: the Worker already accepts {BINDING_B} {fingerprint(new)}; "
        "handing it to the app again"
    )
    report.next_actions = list(GRACEFUL_NEXT)
    await _hand_off(ctx, report, new, old, say)
    report.elapsed_s = time.perf_counter() - started
    _journal(ctx, report, old)
    return report


async def graceful(ctx: Context, say: Say = lambda _: None) -> RotationReport:
    """Add a new secret as B on the Worker and in the keyring; both old and new work."""
    started = time.perf_counter()
    report = RotationReport("graceful")
    _unfinished_other(ctx, "graceful")
    old = ctx.vault.require(VAULT_A, "run `polaris-tui apply secret` first")
    names = await _names(ctx)
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
        if rot.get("stage") == HANDOFF_STAGE and BINDING_B in names:
            return await _resume_hand_off(ctx, report, new, old, say, started)
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
    await push_secret(ctx, BINDING_B, new)
    _save(ctx, "graceful", "worker-b", new, old)
    say(f"{BINDING_B} set on {ctx.config.worker_name}")
    results = await _probe_all(ctx, {"old": old, "new": new})
    _probe_lines(report, results, {"old": "old secret", "new": "new secret"})
    if results["new"].key != "B":
        await _bulk(ctx, {BINDING_B: None})
        ctx.vault.delete(VAULT_B)
        ctx.state.set(ROTATION_KEY, None)
        report.lines.append(
            f"rolled back: the relay did not accept the new secret as B "
            f"({report.probes['new']}); {BINDING_B} removed from the Worker and the keyring"
        )
        report.new_secret = None
    else:
        report.ok = results["old"].key == "A"
        report.lines.append(
            "both secrets accepted"
            if report.ok
            else f"the new secret works but the keyring's A does not ({report.probes['old']})"
        )
        report.next_actions = list(GRACEFUL_NEXT)
        await _hand_off(ctx, report, new, old, say)
    report.elapsed_s = time.perf_counter() - started
    _journal(ctx, report, old)
    return report


async def promote(
    ctx: Context, say: Say = lambda _: None, *, force: bool = False
) -> RotationReport:
    """After the app uses the new secret: A = new and B removed in one Worker version.

    ``force`` skips the check that the app stopped signing with the old secret.
    """
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
        names = await _names(ctx)
        if old is None:
            raise RotationError(
                f"no {VAULT_A} in the keyring to roll back to: use `polaris-tui rotate --emergency`"
            )
        if BINDING_B not in names and not resuming:
            raise RotationError(
                f"the Worker has no {BINDING_B}: run `polaris-tui rotate --graceful` to finish "
                "staging the new secret first"
            )
        if not resuming and not force:
            await _refuse_while_old_in_use(ctx)
        _save(ctx, "promote", "started", new, old)
        await _bulk(ctx, {BINDING_A: new} | ({BINDING_B: None} if BINDING_B in names else {}))
        _save(ctx, "promote", "worker", new, old)
        say(f"{BINDING_A} = {fingerprint(new)} and {BINDING_B} removed, in one Worker version")
        check = (await _probe_all(ctx, {"new": new}))["new"]
        if check.key != "A":
            await _bulk(ctx, {BINDING_A: old, BINDING_B: new})
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
    results = await _probe_all(ctx, probes)
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


async def emergency(ctx: Context, say: Say = lambda _: None) -> RotationReport:
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
        names = await _names(ctx)
        await _bulk(ctx, {BINDING_A: new} | ({BINDING_B: None} if BINDING_B in names else {}))
        _save(ctx, "emergency", "worker", new, old)
        say(f"{BINDING_A} replaced and {BINDING_B} removed, in one Worker version")
        ctx.vault.set(VAULT_A, new)
        ctx.vault.delete(VAULT_B)
        _save(ctx, "emergency", "vault", new, old)
        say("keyring: the old value is purged")
    probes = {"new": new} | ({"old": old} if old else {})
    results = await _probe_all(ctx, probes)
    _probe_lines(report, results, {"old": "leaked secret", "new": "new secret"})
    old_rejected = "old" not in results or results["old"].status == 401
    report.ok = results["new"].key == "A" and old_rejected
    report.lines.append(
        "the leaked secret is rejected and the new one accepted"
        if report.ok
        else "emergency rotation needs attention: see the probes"
    )
    report.next_actions = [
        f"Set {APP_VARIABLE} on the app to the new secret shown above and restart the app now: "
        "until then its requests get 401 and no mail is sent.",
        "Remove the leaked value wherever it was exposed (repository history, CI variables, "
        "logs); the relay already rejects it.",
        "Check the relay's recent sends for mail you did not expect during the exposure.",
        "Run `polaris-tui verify secret` and `polaris-tui verify route` once the app is switched.",
    ]
    if report.ok:
        await _hand_off(ctx, report, new, old, say)
    report.elapsed_s = time.perf_counter() - started
    _journal(ctx, report, old)
    return report


async def rotate(
    ctx: Context, mode: str, say: Say = lambda _: None, *, force: bool = False
) -> RotationReport:
    """Run one rotation mode; ``force`` matters only to promote (see ``promote``)."""
    if mode not in MODES:
        raise RotationError(f"mode {mode!r}: use one of {', '.join(MODES)}")
    if mode == "promote":
        return await promote(ctx, say, force=force)
    return await {"graceful": graceful, "emergency": emergency}[mode](ctx, say)
