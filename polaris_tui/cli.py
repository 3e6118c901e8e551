"""The headless CLI: the same engine as the TUI, JSON output and exit codes CI can read.

Exit codes: 0 ok, 1 failure, 2 usage or config error, 3 changes pending (plan only),
130 interrupted. Data goes to stdout; progress, prompts and errors to stderr; a ``--json`` run
prints exactly one JSON document on stdout, ``{"error": {...}}`` when it fails.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from polaris_tui.errors import PolarisError, UsageError
from polaris_tui.paths import LOG_ENV
from polaris_tui.steps.catalog import STEP_IDS
from polaris_tui.vault import SECRET_NAMES, Vault, VaultError

if TYPE_CHECKING:
    from polaris_tui.app_handoff import HandOff
    from polaris_tui.context import Context
    from polaris_tui.session import SessionOptions
    from polaris_tui.steps.base import Check


class Exit(IntEnum):
    OK = 0
    FAILURE = 1
    USAGE = 2
    CHANGES = 3


class _Parser(argparse.ArgumentParser):
    """argparse that raises its complaint, so that it reaches the one error path (and a
    ``--json`` run still gets its JSON document)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, guidance=f"{self.format_usage().strip()}\nsee {self.prog} --help")


def _steps(**_: object) -> tuple[str, ...]:
    """Shell completion of a step argument (argcomplete calls it)."""
    return (*STEP_IDS, "all")


def _add_global_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        type=Path,
        help="config file (default: $POLARIS_TUI_CONFIG or "
        "the user config dir's polaris-tui/config.toml)",
    )
    p.add_argument(
        "--sandbox",
        action="store_true",
        help="run against the embedded sandbox (a local stand-in for Cloudflare)",
    )
    p.add_argument("--sandbox-dir", type=Path, help="sandbox state folder")
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="debug log (API requests, status, timing, retries; never secrets) on stderr, "
        "or in --log-file; also POLARIS_TUI_LOG=debug",
    )
    p.add_argument("--log-file", type=Path, help="append the debug log to this file")


def build_parser() -> argparse.ArgumentParser:
    from importlib.metadata import version

    p = _Parser(
        prog="polaris-tui",
        description="Polaris Express Phase 2 runbook: DNS, mail authentication, Cloudflare "
        "Email, R2 assets, KV, signing secret and the signed relay. No command opens the TUI.",
    )
    p.add_argument("--version", action="version", version=f"polaris-tui {version('polaris-tui')}")
    _add_global_options(p)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    steps_help = "step id (" + ", ".join(STEP_IDS) + ") or all"

    s = sub.add_parser("status", help="state of every step")
    s.add_argument("--json", action="store_true")

    s = sub.add_parser("plan", help="what apply would change (exit 3 when changes are pending)")
    s.add_argument("step", help=steps_help).completer = _steps  # type: ignore[attr-defined]
    s.add_argument("--json", action="store_true")

    s = sub.add_parser("apply", help="apply a step's plan after confirmation")
    s.add_argument("step", help=steps_help).completer = _steps  # type: ignore[attr-defined]
    s.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    s.add_argument(
        "--allow-delete", action="store_true", help="allow deleting records the tool did not create"
    )
    s.add_argument(
        "--wait", action="store_true", help="wait for another apply to this domain to finish"
    )

    s = sub.add_parser(
        "destroy",
        help="remove what the tool created, the runbook in reverse (exit 3 with --json and "
        "no --yes when something would be removed)",
    )
    s.add_argument("step", help=steps_help).completer = _steps  # type: ignore[attr-defined]
    s.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    s.add_argument("--json", action="store_true")
    s.add_argument(
        "--purge-secrets",
        action="store_true",
        help="also delete the relay signing secret(s) from the OS keyring",
    )

    s = sub.add_parser("verify", help="run the checks of one step or all, concurrently")
    s.add_argument("step", nargs="?", help=steps_help).completer = _steps  # type: ignore[attr-defined]
    s.add_argument("--json", action="store_true")

    s = sub.add_parser(
        "preflight", help="check the prerequisites of the runbook, read-only (exit 1 if any fails)"
    )
    s.add_argument("--json", action="store_true")

    s = sub.add_parser("rotate", help="rotate the relay signing secret")
    g = s.add_mutually_exclusive_group(required=True)
    g.add_argument("--graceful", action="store_true", help="add a new secret as B")
    g.add_argument("--promote", action="store_true", help="make B the only secret (A)")
    g.add_argument("--emergency", action="store_true", help="replace a leaked secret now")
    s.add_argument("--yes", action="store_true")
    s.add_argument(
        "--force",
        action="store_true",
        help="promote even though the old secret signed a send within promote_quiet_seconds",
    )
    s.add_argument(
        "--json",
        action="store_true",
        help="print the report as JSON (the new secret goes to stderr, never into the JSON)",
    )

    s = sub.add_parser("relay", help="run the signed relay locally")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8787)
    out = s.add_mutually_exclusive_group()
    out.add_argument("--outbox", type=Path, help="store accepted messages as .eml files here")
    out.add_argument("--smtp", metavar="HOST:PORT", help="hand accepted messages to SMTP")
    s.add_argument("--engine", choices=("python", "workerd"), default="python")
    s.add_argument("--public", action="store_true", help="allow a non-loopback --host")

    s = sub.add_parser("send-test", help="send a signed test email through the relay")
    s.add_argument("--to", required=True, metavar="ADDR")
    s.add_argument("--from", dest="sender", choices=("customer", "admin"), default="customer")
    s.add_argument("--url", help="relay URL (default https://mail.<domain>/send)")
    s.add_argument("--dry-run", action="store_true")
    s.add_argument("--json", action="store_true")

    s = sub.add_parser("sandbox", help="the embedded sandbox")
    s.add_argument("action", choices=("serve", "reset"))
    s.add_argument("--sandbox-dir", type=Path, dest="sandbox_dir_sub", help="sandbox folder")

    s = sub.add_parser("demo", help="walk the whole runbook in the sandbox")
    s.add_argument("--json", action="store_true")

    s = sub.add_parser("history", help="the journal of applies")
    s.add_argument("--json", action="store_true")

    s = sub.add_parser("config", help="show or change the config file")
    s.add_argument("action", choices=("path", "show", "set"))
    s.add_argument("key", nargs="?")
    s.add_argument("value", nargs="?")

    s = sub.add_parser("secrets", help="secrets in the OS keyring (values are never shown)")
    s.add_argument("action", choices=("status", "set", "delete"))
    s.add_argument("name", nargs="?", choices=SECRET_NAMES)

    s = sub.add_parser("completion", help="print a shell completion script")
    s.add_argument("shell", choices=("bash", "zsh", "fish"))
    return p


def _print_json(data: Any) -> None:
    import json  # here, not at the top: the TUI opens through this module and never needs it

    print(json.dumps(data, indent=2, default=str))


def _options(
    args: argparse.Namespace, *, warm_edge: bool = False, preload: str | None = None
) -> SessionOptions:
    from polaris_tui.session import SessionOptions

    return SessionOptions(
        config_path=args.config,
        sandbox=args.sandbox,
        sandbox_dir=args.sandbox_dir,
        warm_edge=warm_edge,
        preload=preload,
    )


def _context(
    args: argparse.Namespace, *, warm_edge: bool = False, preload: str | None = "reads"
) -> contextlib.AbstractContextManager[Context]:
    """The run's Context; under --sandbox a sandbox process lives for the command.

    ``preload`` names the adapters' modules the command uses (None: it reads no API), which
    are imported while that process starts."""
    from polaris_tui.session import session

    return session(_options(args, warm_edge=warm_edge, preload=preload))


def cmd_status(args: argparse.Namespace) -> int:
    from polaris_tui import runner

    with _context(args) as ctx:
        rows = runner.status(ctx)
        try:
            ctx.vault.ensure_usable()
        except VaultError as exc:
            print(f"error: {exc}", file=sys.stderr)
    if args.json:
        _print_json({"steps": [r.to_json() for r in rows]})
    else:
        for r in rows:
            print(f"{r.id:<14} {r.state:<8} {r.summary}")
    return Exit.OK


def _render_change(c: Any) -> str:
    arrow = f"{c.before_text()} -> {c.after_text()}" if c.before is not None else c.after_text()
    note = f"  ({c.note})" if c.note else ""
    return f"  {c.action:<6} {c.kind:<14} {c.target}: {arrow}{note}"


def _print_failure(failure: Any) -> None:
    print(f"error: {failure}", file=sys.stderr)
    if failure.entry is not None:
        print("\n" + failure.entry.text(), file=sys.stderr)


def cmd_plan(args: argparse.Namespace) -> int:
    from polaris_tui import runner

    steps = _select(args.step)
    out, any_changes, failed = [], False, False
    with _context(args) as ctx:
        for step, planned in zip(steps, runner.plan_each(ctx, steps), strict=True):
            if isinstance(planned, runner.StepFailure):
                failed = True
                out.append({"id": step.id, "changes": [], "error": planned.message})
                if not args.json:
                    _print_failure(planned)
                continue
            changes = planned.pending
            any_changes = any_changes or bool(changes)
            notes = _plan_notes(ctx, step.id)
            out.append({"id": step.id, "changes": [c.to_json() for c in changes], "notes": notes})
            if not args.json:
                print(f"{step.id}: " + (f"{len(changes)} change(s)" if changes else "no changes"))
                for c in changes:
                    print(_render_change(c))
                for note in notes:
                    print(f"  note: {note}")
    if args.json:
        _print_json({"steps": out})
    if failed:
        return Exit.FAILURE
    return Exit.CHANGES if any_changes else Exit.OK


def _plan_notes(ctx: Context, step_id: str) -> list[str]:
    """What a step's verify will do beyond reading: the route step sends a test message."""
    if step_id != "route":
        return []
    from polaris_tui.steps import delivery_probe

    note = delivery_probe.note(ctx)
    return [note] if note else []


def _select(step_arg: str | None) -> list[Any]:
    from polaris_tui import runner

    try:
        return runner.select(step_arg)
    except KeyError:
        raise UsageError(
            f"unknown step {step_arg!r}: use one of {', '.join(STEP_IDS)} or all"
        ) from None


def _ask(question: str) -> bool:
    if not sys.stdin.isatty():
        print(f"{question} [y/N] no (stdin is not a terminal; pass --yes)", file=sys.stderr)
        return False
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)  # prompts stay off stdout
    return sys.stdin.readline().strip().lower() in ("y", "yes")


OUTPUT = threading.RLock()
"""Held while a block of apply output is written: steps applied at the same time interleave
their lines, and a step's change list, its prompt and its answer stay together."""


def cmd_apply(args: argparse.Namespace) -> int:
    import asyncio

    from polaris_tui import runner

    steps = _select(args.step)

    def confirm(step: Any, changes: list[Any]) -> bool:
        with OUTPUT:
            print(f"{step.id}: {len(changes)} change(s)")
            for c in changes:
                print(_render_change(c))
            return bool(args.yes) or _ask(f"Apply {len(changes)} change(s) to {step.id}?")

    async def apply_one(ctx: Context, step: Any, again: bool) -> bool:
        if again:
            with OUTPUT:
                print(f"{step.id}: a later step changed what it manages; applying it again")
        try:
            planned = await runner.plan_async(ctx, step)
            result = await runner.apply_async(
                ctx,
                step,
                planned,
                confirm=confirm,
                allow_delete=args.allow_delete,
                progress=ProgressLines(step=step.id),
            )
        except runner.StepFailure as failure:
            with OUTPUT:
                _print_failure(failure)
            return False
        except asyncio.CancelledError:  # Ctrl-C: each running step says where it stopped
            with OUTPUT:
                print(f"{step.id}: {runner.INTERRUPTED}", file=sys.stderr)
            raise
        with OUTPUT:
            print(f"{step.id}: {result.detail or ('ok' if result.ok else 'failed')}")
            for m in result.messages:
                print(f"  {m}")
        return result.ok

    def skipped(step: Any, blocked: list[str]) -> None:
        with OUTPUT:
            print(f"{step.id}: not started: {', '.join(blocked)} did not succeed")

    from polaris_tui.apply_lock import apply_lock

    def waiting(holder: str) -> None:
        print(f"waiting for the apply of {holder}", file=sys.stderr, flush=True)

    command = f"polaris-tui apply {args.step}"
    with (
        _context(args) as ctx,
        apply_lock(ctx.state.path.parent, command, wait=args.wait, on_wait=waiting),
    ):
        try:
            run = runner.apply_all(
                ctx, steps, lambda step, again: apply_one(ctx, step, again), skipped
            )
        except runner.StepFailure as failure:
            _print_failure(failure)
            return Exit.FAILURE
    if len(run.failed) > 1:
        print(f"failed: {', '.join(run.failed)}", file=sys.stderr)
    return Exit.OK if run.ok else Exit.FAILURE


def _render_removal(c: Any) -> str:
    note = f"  ({c.note})" if c.note else ""
    verb = "remove" if c.action == "delete" else "keep"
    return f"  {verb:<6} {c.kind:<14} {c.target}{note}"


def cmd_destroy(args: argparse.Namespace) -> int:
    """Plan each step's teardown, show it, confirm (unless --yes), remove; in reverse order.

    With --json and no --yes nothing is removed: the plans are printed and the exit code says
    whether anything would be (3) or nothing is left (0).
    """
    from polaris_tui import destroy
    from polaris_tui.apply_lock import apply_lock
    from polaris_tui.runner import StepFailure

    try:
        step_ids = destroy.select(args.step)
    except KeyError:
        raise UsageError(
            f"unknown step {args.step!r}: use one of {', '.join(STEP_IDS)} or all"
        ) from None
    out: list[dict[str, Any]] = []
    ok, anything = True, False

    progress = ProgressLines(quiet=args.json)

    def destroy_one(ctx: Context, step_id: str) -> bool:
        nonlocal anything
        try:
            planned = destroy.plan(ctx, step_id, purge_secrets=args.purge_secrets)
        except StepFailure as failure:
            out.append({"id": step_id, "changes": [], "error": failure.message})
            if not args.json:
                _print_failure(failure)
            return False
        removals = [c for c in planned if c.action == "delete"]
        anything = anything or bool(removals)
        entry: dict[str, Any] = {"id": step_id, "changes": [c.to_json() for c in planned]}
        out.append(entry)
        if not args.json:
            count = f"{len(removals)} removal(s)" if removals else "nothing to remove"
            print(f"{step_id}: {count}")
            for c in planned:
                print(_render_removal(c))
        if not removals or not (
            args.yes or (not args.json and _ask(f"Remove {len(removals)} thing(s) of {step_id}?"))
        ):
            return True
        try:
            result = destroy.apply(ctx, step_id, planned, progress=progress)
        except StepFailure as failure:
            entry["error"] = failure.message
            if not args.json:
                _print_failure(failure)
            return False
        entry["removed"] = len(result.applied)
        if not args.json:
            print(f"{step_id}: {result.detail}")
        return True

    with _context(args) as ctx:
        removing = args.yes or not args.json  # a --json preview removes nothing: no lock
        lock = apply_lock(ctx.state.path.parent, f"polaris-tui destroy {args.step}")
        with lock if removing else contextlib.nullcontext():
            ok = all(destroy_one(ctx, step_id) for step_id in step_ids)
    if args.json:
        _print_json({"steps": out})
    if not ok:
        return Exit.FAILURE
    return Exit.CHANGES if anything and not args.yes else Exit.OK


class ProgressLines:
    """Apply and destroy progress on stderr, one line per report, except that a wait ticking
    every second (the same words, other numbers) prints at most every ``TICK_SECONDS``: a
    DKIM wait is then a dozen lines, not 120, and each still says elapsed of its limit.

    One instance per step: each line names its ``step``, so the lines of steps applied at
    the same time read apart, and one step's ticking does not hold back another's."""

    TICK_SECONDS = 10.0

    def __init__(
        self, *, quiet: bool = False, step: str = "", clock: Callable[[], float] = time.monotonic
    ):
        self.quiet, self.step, self.clock = quiet, step, clock
        self._shape, self._printed = "", 0.0

    def __call__(self, message: str, fraction: float | None = None) -> None:
        shape, now = re.sub(r"\d+", "#", message), self.clock()
        ticking = shape == self._shape
        self._shape = shape
        if self.quiet or (ticking and now - self._printed < self.TICK_SECONDS):
            return
        self._printed = now
        pct = f" {fraction * 100:3.0f}%" if fraction is not None else ""
        label = f" {self.step}:" if self.step else ""
        with OUTPUT:
            print(f"  ..{label}{pct} {message}", file=sys.stderr)


def _print_checks(checks: Iterable[Check], mark: Callable[[Check], str]) -> None:
    """One line per check (mark, id, time, detail), a failure's guidance indented under it."""
    for c in checks:
        print(f"{mark(c)} {c.id:<40} {c.ms:7.0f} ms  {c.detail}")
        if not c.ok and c.guidance:
            print("     " + c.guidance.replace("\n", "\n     "))


def cmd_verify(args: argparse.Namespace) -> int:
    from polaris_tui import runner

    steps = _select(args.step)
    with _context(args, warm_edge=True, preload="verify") as ctx:
        report = runner.verify(ctx, steps)
    if args.json:
        _print_json(report.to_json())
    else:
        _print_checks(report.checks, lambda c: "PASS" if c.ok else "FAIL")
        print(
            f"{'all checks passed' if report.ok else 'some checks failed'} in "
            f"{report.elapsed_ms:.0f} ms"
        )
    return Exit.OK if report.ok else Exit.FAILURE


def cmd_preflight(args: argparse.Namespace) -> int:
    from polaris_tui import preflight

    with _context(args, preload="preflight") as ctx:
        report = preflight.run(ctx)
    if args.json:
        _print_json(report.to_json())
    else:

        def mark(c: Check) -> str:
            warn = preflight.severity(c) == preflight.WARNING
            return "PASS" if c.ok else "WARN" if warn else "FAIL"

        _print_checks(report.checks, mark)
        print(
            f"{'ready for the runbook' if report.ok else 'fix the failures above first'} "
            f"({report.elapsed_ms:.0f} ms)"
        )
    return Exit.OK if report.ok else Exit.FAILURE


def cmd_history(args: argparse.Namespace) -> int:
    with _context(args, preload=None) as ctx:
        entries = ctx.journal.entries(ctx.config.domain)
    if args.json:
        _print_json([e.__dict__ for e in entries])
        return Exit.OK
    import datetime as dt

    for e in entries:
        when = dt.datetime.fromtimestamp(e.time).isoformat(timespec="seconds")
        print(f"{when} {e.step:<14} {e.outcome:<7} {len(e.changes)} change(s) {e.detail}")
    return Exit.OK


def cmd_config(args: argparse.Namespace) -> int:
    path = _options(args).config_file
    if args.action == "path":
        print(path)
        return Exit.OK
    from polaris_tui.config import describe, load_config, set_value

    if args.action == "show":
        _print_json(describe(load_config(path)))
        return Exit.OK
    if not args.key or args.value is None:
        raise UsageError("usage: polaris-tui config set KEY VALUE")
    config = set_value(path, args.key, args.value)
    print(
        f"{args.key} saved to {path}"
        + ("" if config else " (config still incomplete: set domain, account_id and traefik_ipv4)")
    )
    return Exit.OK


def _vault(args: argparse.Namespace) -> Vault:
    """The vault, checked before anything else so a bad backend is named first."""
    if args.sandbox:
        raise UsageError(
            "the sandbox keeps its own credentials; secrets commands are for the OS keyring"
        )
    from polaris_tui.session import operator_vault

    return operator_vault(_options(args))


def cmd_secrets(args: argparse.Namespace) -> int:
    vault = _vault(args)
    if args.action == "status":
        st = vault.status()
        print(f"backend: {st.backend}")
        for name, present in st.present.items():
            print(f"  {name:<22} {'set' if present else 'not set'}")
        return Exit.OK
    if not args.name:
        raise UsageError(f"name required: one of {', '.join(SECRET_NAMES)}")
    if args.action == "delete":
        vault.delete(args.name)
        print(f"{args.name} removed from {vault.backend_name}")
        return Exit.OK
    if sys.stdin.isatty():
        import getpass

        value = getpass.getpass(f"{args.name} (input hidden): ")
    else:
        value = sys.stdin.readline().strip()
    if not value:
        raise UsageError(f"no value given for {args.name}")
    vault.set(args.name, value)
    print(f"{args.name} stored in {vault.backend_name}")
    return Exit.OK


def cmd_rotate(args: argparse.Namespace) -> int:
    from polaris_tui import rotation, runner
    from polaris_tui.blocking import run_blocking

    mode = "graceful" if args.graceful else "promote" if args.promote else "emergency"
    with _context(args) as ctx:
        question = f"Run a {mode} rotation of the signing secret of {ctx.config.worker_name}?"
        if not args.yes and not _ask(question):
            cancelled = PolarisError("cancelled: nothing was changed", title="Cancelled")
            return _report(cancelled, args.json)
        try:
            report = run_blocking(
                rotation.rotate(
                    ctx, mode, say=lambda m: print(f"  .. {m}", file=sys.stderr), force=args.force
                )
            )
        except rotation.RotationError as exc:
            return _report(exc, args.json)
        except Exception as exc:
            return _report(runner.describe_error(ctx, "secret", exc), args.json)
    out = sys.stderr if args.json else sys.stdout
    if args.json:
        _print_json(report.to_json())
    else:
        for line in report.lines:
            print(line)
        for result in report.probes.values():
            print(f"  probe: {result}")
        if report.app_secret is not None:
            _print_hand_off(report.app_secret)
    if report.new_secret:
        # The operator's one copy, on the terminal only: never logged, journaled or in JSON.
        print(
            f"\nNew signing secret {report.new_fingerprint}. Set it as CF_EMAIL_WORKER_SECRET "
            f"on the app; it is shown only this once:\n\n    {report.new_secret}\n",
            file=out,
        )
    if not args.json:
        for i, action in enumerate(report.next_actions, 1):
            print(f"{i}. {action}")
        print(f"{mode} rotation {'done' if report.ok else 'FAILED'} in {report.elapsed_s:.2f}s")
    return Exit.OK if report.ok else Exit.FAILURE


def _print_hand_off(result: HandOff) -> None:
    """app_secret_command's output (scrubbed of the secret and bounded by the engine)."""
    for name, text in (("stdout", result.stdout), ("stderr", result.stderr)):
        if text.strip():
            print(f"  app_secret_command {name}:")
            print("    " + text.rstrip("\n").replace("\n", "\n    "))


def cmd_demo(args: argparse.Namespace) -> int:
    if not args.sandbox:
        raise UsageError(
            "the demo runs only against the embedded sandbox: polaris-tui --sandbox demo"
        )
    from polaris_tui.demo import Stage, run_demo

    def show(stage: Stage) -> None:
        if not args.json:
            mark = "PASS" if stage.ok else "FAIL"
            print(f"{mark} {stage.name:<17} {stage.ms:7.0f} ms  {stage.detail}")

    with _context(args) as ctx:
        report = run_demo(ctx, on_stage=show)
    if args.json:
        _print_json(report.to_json())
    else:
        print("demo passed" if report.ok else "demo FAILED")
    return Exit.OK if report.ok else Exit.FAILURE


NO_SECRET_A = (
    "create it with `polaris-tui apply secret` (or store the app's value with "
    "`polaris-tui secrets set polaris-secret-a`)"
)


def cmd_sandbox(args: argparse.Namespace) -> int:
    from polaris_tui.session import sandbox_command

    return sandbox_command(args.action, args.sandbox_dir_sub or args.sandbox_dir)


def cmd_relay(args: argparse.Namespace) -> int:
    from polaris_tui.relay.cli import cmd_relay as run_relay
    from polaris_tui.steps.deploy import relay_settings

    with _context(args, preload=None) as ctx:
        secret_a = ctx.vault.require("polaris-secret-a", NO_SECRET_A)
        try:
            settings = relay_settings(ctx.config, secret_a, ctx.vault.get("polaris-secret-b"))
        except ValueError as exc:
            raise UsageError(f"relay settings: {exc}") from None
        return run_relay(
            settings=settings,
            host=args.host,
            port=args.port,
            outbox=args.outbox,
            smtp=args.smtp,
            engine=args.engine,
            public=args.public,
            state_dir=ctx.state.path.parent / "relay",
        )


def cmd_send_test(args: argparse.Namespace) -> int:
    """Sign with secret A and POST one message, as the app does; report status, id, key slot
    and, when a mailbox is readable, the receiving server's SPF/DKIM/DMARC verdict."""
    from polaris_tui import delivery, troubleshooting
    from polaris_tui.errors import Unavailable
    from polaris_tui.relay.client import send_signed
    from polaris_tui.relay.signing import SigningError
    from polaris_tui.steps.relay_probe import relay_url

    with _context(args, preload=None) as ctx:
        secret = ctx.vault.require("polaris-secret-a", NO_SECRET_A)
        config = ctx.config
        sender = config.sender_customer if args.sender == "customer" else config.sender_admin
        payload: dict[str, Any] = {
            "from": sender,
            "to": args.to,
            "subject": f"polaris-tui test message from {config.mail_host}",
            "text": f"This test message was signed with the relay secret and sent by {sender}.",
        }
        if args.dry_run:
            payload["dry_run"] = True
        url = args.url or relay_url(config)
        # The default URL is the public one; under --sandbox the connection goes to the edge.
        connect_to = None if args.url else ctx.endpoints.edge
        try:
            result = send_signed(url, secret, payload, connect_to=connect_to)
        except SigningError as exc:
            raise UsageError(f"--url: {exc}") from None
        except Unavailable as exc:
            print(f"error: no answer from {url}: {exc}", file=sys.stderr)
            print(
                "Is the relay running? Locally: `polaris-tui relay --outbox DIR`, then "
                "--url http://127.0.0.1:8787/send",
                file=sys.stderr,
            )
            return Exit.FAILURE
        values = troubleshooting.config_values(config)
        ok = 200 <= result.status < 300
        report: dict[str, Any] = {
            "status": result.status,
            "message_id": result.message_id,
            "slot": result.key_slot,
            "authentication": None,
        }
        # A relay at --url (a local one) delivers wherever it was told to: only mail through
        # mail.<domain> is known to reach the mailbox this run can read.
        mailbox = None if args.url else ctx.mailbox
        judged = ok and not args.dry_run and mailbox is not None and bool(result.message_id)
        raw = None
        if judged:
            assert mailbox is not None and result.message_id
            report["mailbox"] = mailbox.description
            raw = delivery.wait_for(
                mailbox,
                result.message_id,
                config.delivery_timeout_seconds,
                lambda message, _fraction: print(f"  .. {message}", file=sys.stderr),
            )
    auth = delivery.parse(raw) if raw is not None else None
    if auth is not None:
        report["authentication"] = auth.to_json()
    if args.json:
        _print_json(report)
    else:
        print(f"status   {result.status}")
        print(f"message  {result.message_id or '-'}")
        print(f"key slot {result.key_slot or '-'}")
        if auth is not None:
            print(f"auth     {auth.summary()}")
            print(f"         {auth.detail}")
    if args.dry_run and ok:
        note = "dry run: the relay checked the request and sent nothing"
        print(note, file=sys.stderr if args.json else sys.stdout)
    if not ok:
        detail = result.body.get("error") if isinstance(result.body, dict) else result.body
        print(f"error: the relay answered {result.status}: {detail}", file=sys.stderr)
        check = {401: "route.signed-probe", 404: "route.bound", 522: "route.bound"}.get(
            result.status, "route.unsigned-post"
        )
        entry = troubleshooting.lookup(
            "route", values=values, check_id=check, status=result.status, message=str(detail)
        )
        if entry is not None and result.status not in (400, 403, 413, 429):
            print("\n" + entry.text(), file=sys.stderr)
        return Exit.FAILURE
    if args.dry_run:
        return Exit.OK
    if not judged:
        why = (
            f"the relay at {args.url} delivers where it was told to"
            if args.url
            else "no mailbox to read the delivered message from (set imap_host, imap_user and "
            "the keyring's imap-password)"
        )
        print(f"{why}: only the relay's answer is shown, not SPF/DKIM/DMARC", file=sys.stderr)
        return Exit.OK
    if auth is None:
        print(
            f"error: <{result.message_id}> did not arrive in {report['mailbox']} within "
            f"{config.delivery_timeout_seconds}s (delivery_timeout_seconds)",
            file=sys.stderr,
        )
        return Exit.FAILURE
    for method in auth.failing():
        entry = troubleshooting.lookup(
            "route", values=values, check_id=delivery.METHOD_CHECK[method], message=auth.summary()
        )
        print(f"error: {method}={getattr(auth, method)}", file=sys.stderr)
        if entry is not None:
            print(entry.text() + "\n", file=sys.stderr)
    return Exit.OK if auth.passed else Exit.FAILURE


def cmd_completion(args: argparse.Namespace) -> int:
    """The shell's script; it asks polaris-tui itself for each completion (argcomplete), so
    subcommands, options and step ids complete from the parser that parses them."""
    import argcomplete

    print(argcomplete.shellcode(["polaris-tui"], shell=args.shell))
    return Exit.OK


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "status": cmd_status,
    "plan": cmd_plan,
    "apply": cmd_apply,
    "destroy": cmd_destroy,
    "verify": cmd_verify,
    "preflight": cmd_preflight,
    "history": cmd_history,
    "config": cmd_config,
    "secrets": cmd_secrets,
    "rotate": cmd_rotate,
    "relay": cmd_relay,
    "send-test": cmd_send_test,
    "sandbox": cmd_sandbox,
    "demo": cmd_demo,
    "completion": cmd_completion,
}


def _tui_args(argv: list[str]) -> argparse.Namespace | None:
    """The arguments when they are global options only (the TUI opens), parsed without
    building the command parsers (2-4 ms of argparse before the first frame); None for
    anything else, including help and mistakes, which the full parser handles and reports."""
    p = argparse.ArgumentParser(
        prog="polaris-tui", add_help=False, allow_abbrev=False, exit_on_error=False
    )
    _add_global_options(p)
    try:
        args, rest = p.parse_known_args(argv)
    except argparse.ArgumentError:
        return None
    if rest:
        return None
    args.command = None
    return args


SANDBOX_EXTRA = "sandbox"
# What the ``sandbox`` extra installs, as top-level modules (tests/test_cli_conventions.py
# keeps this in step with the extra in pyproject.toml). Looking modules up costs microseconds;
# reading the installed metadata instead cost ~60 ms before the TUI's first frame.
SANDBOX_MODULES = (
    "starlette",
    "python_multipart",
    "jsonschema",
    "moto",
    "yaml",
    "py_partiql_parser",
    "flask",
    "flask_cors",
    "aiosmtpd",
    "dnslib",
    "dkim",
    "cryptography",
    "spf",
    "publicsuffixlist",
)


def require_sandbox_extra() -> None:
    """The sandbox's servers are the ``polaris-tui[sandbox]`` extra: say so before anything
    fails to import."""
    from importlib.util import find_spec

    missing = [name for name in SANDBOX_MODULES if find_spec(name) is None]
    if missing:
        raise UsageError(
            f"the sandbox is an optional part of polaris-tui: install polaris-tui[{SANDBOX_EXTRA}] "
            f"(missing: {', '.join(missing)})",
            title="Sandbox not installed",
            guidance=f'uv tool install "polaris-tui[{SANDBOX_EXTRA}]" '
            f'(or pipx install "polaris-tui[{SANDBOX_EXTRA}]")',
        )


def error_document(exc: BaseException) -> dict[str, Any]:
    """The one mapping from an exception to what the operator reads and the exit code:
    ``{"title", "message", "guidance", "exit_code"}``, as a ``--json`` run prints it.

    Engine errors say it themselves (``PolarisError``); the older classes that do not derive
    from it yet are named here, looked up only if their module was loaded (else nothing
    raised them, and the TUI never pays for importing them)."""
    if isinstance(exc, KeyboardInterrupt):
        return {"title": "Interrupted", "message": "interrupted", "guidance": "", "exit_code": 130}
    if isinstance(exc, PolarisError):
        return exc.to_json()
    doc: dict[str, Any] = {"message": str(exc), "guidance": "", "exit_code": Exit.FAILURE}
    node = sys.modules.get("polaris_tui.relay.node")
    if node is not None and isinstance(exc, node.NodeMissingError):
        return {**doc, "title": "Node.js tooling missing"}
    return {
        **doc,
        "title": "Unexpected error",
        "message": f"{type(exc).__name__}: {exc}",
        "guidance": "This is a bug in polaris-tui: run the command again with --verbose for "
        "the traceback in the debug log, and report it.",
    }


def _report(exc: BaseException, as_json: bool) -> int:
    doc = error_document(exc)
    if as_json:
        _print_json({"error": {k: doc[k] for k in ("title", "message", "guidance", "exit_code")}})
    print(f"error: {doc['message']}", file=sys.stderr)
    if doc["guidance"] and doc["guidance"] not in doc["message"]:
        print("\n" + doc["guidance"], file=sys.stderr)
    return int(doc["exit_code"])


def _complete() -> int:
    """Answer the shell's completion request (argcomplete's protocol) and exit."""
    import argcomplete

    argcomplete.autocomplete(build_parser(), always_complete_options=False)
    return Exit.USAGE  # autocomplete exits itself when it answers


@contextlib.contextmanager
def _debug_log(args: argparse.Namespace) -> Iterator[None]:
    if not (args.verbose or args.log_file or os.environ.get(LOG_ENV)):
        yield  # the usual case, without importing logging before the TUI's first frame
        return
    from polaris_tui import debug_log

    try:
        wanted = debug_log.wanted(args.verbose)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if not wanted and args.log_file is None:
        yield
        return
    log_file = args.log_file
    if log_file is None and args.command is None:
        from polaris_tui.paths import debug_log_path

        log_file = debug_log_path()  # the TUI owns the terminal: stderr would draw over it
        print(f"debug log: {log_file}", file=sys.stderr)
    with debug_log.enabled(log_file=log_file):
        yield


def main(
    argv: list[str] | None = None, open_tui: Callable[[argparse.Namespace], int] | None = None
) -> int:
    """Parse, dispatch and map errors to exit codes; ``open_tui`` runs when no command is given."""
    argv = sys.argv[1:] if argv is None else argv
    if "_ARGCOMPLETE" in os.environ:
        return _complete()
    as_json = "--json" in argv
    try:
        args = _tui_args(argv) or build_parser().parse_args(argv)
        if args.sandbox or args.command in ("sandbox", "demo"):
            require_sandbox_extra()
        with _debug_log(args):
            try:
                if args.command is None:
                    if open_tui is None:
                        raise UsageError("no command given; see --help")
                    return open_tui(args)
                return HANDLERS[args.command](args)
            except Exception:
                import logging

                logging.getLogger("polaris_tui.cli").debug("command failed", exc_info=True)
                raise
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as Python's docs advise.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return Exit.FAILURE
    except (Exception, KeyboardInterrupt) as exc:
        return _report(exc, as_json)
