"""Running steps the same way for the CLI and the TUI: status, plan, apply, verify-all.

Failures become ``StepFailure`` objects carrying the matching troubleshooting entry, so every
front end can show the guidance next to the failure. The core is async (``*_async``); each
synchronous name below it (``status``, ``plan``, ``apply`` ...) runs the same coroutine on an
event loop of its own for synchronous front ends (``polaris_tui.blocking``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from polaris_tui import troubleshooting
from polaris_tui.adapters import preload
from polaris_tui.blocking import run_blocking
from polaris_tui.context import Context
from polaris_tui.errors import PolarisError
from polaris_tui.observation import observing
from polaris_tui.plan import Plan
from polaris_tui.steps.base import (
    ApplyResult,
    Change,
    Check,
    Progress,
    Step,
    StepState,
    no_progress,
)
from polaris_tui.steps.catalog import STEP_INFO, dependencies, topological
from polaris_tui.steps.registry import all_steps
from polaris_tui.vault import VaultError
from polaris_tui.waiting import reporting

T = TypeVar("T")

CHECK_TIMEOUT_SECONDS = 20.0


@dataclass
class StepStatus:
    id: str
    title: str
    state: StepState
    summary: str

    def to_json(self) -> dict[str, str]:
        return {
            "id": self.id,
            "title": self.title,
            "state": str(self.state),
            "summary": self.summary,
        }


@dataclass
class StepFailure(PolarisError):
    """A step operation failed; ``entry`` is the guidance to show beside it."""

    step: str
    message: str
    entry: troubleshooting.Entry | None = None

    def __post_init__(self) -> None:
        guidance = self.entry.text() if self.entry is not None else ""
        PolarisError.__init__(
            self, self.message, title=f"Step {self.step} failed", guidance=guidance
        )

    def __str__(self) -> str:
        return f"{self.step}: {self.message}"

    def to_json(self) -> dict[str, object]:
        return {**super().to_json(), "message": str(self)}


INTERRUPTED = "interrupted by the operator; re-run apply to finish"
STALE_PLAN = "the world changed since this plan was made: review the new plan; nothing was changed"


class PlanChanged(StepFailure):
    """A plan is applied only while a fresh observation still gives its fingerprint."""

    def __init__(self, step: str) -> None:
        super().__init__(step, STALE_PLAN)
        self.title = f"Step {step}: the plan is out of date"


@dataclass
class VerifyReport:
    ok: bool
    elapsed_ms: float
    checks: list[Check] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "elapsed_ms": round(self.elapsed_ms, 1),
            "checks": [c.to_json() for c in self.checks],
        }


def select(step_arg: str | None) -> list[Step]:
    """Steps named by a CLI argument: one id, ``all`` or None (all)."""
    steps = all_steps()
    if step_arg in (None, "all"):
        return steps
    chosen = [s for s in steps if s.id == step_arg]
    if not chosen:
        raise KeyError(step_arg)
    return chosen


def guidance_values(ctx: Context, step_id: str) -> dict[str, str]:
    """The placeholders of a troubleshooting entry: config values, and the token permission
    the step's calls need (from the step catalog)."""
    values = troubleshooting.config_values(ctx.config)
    info = STEP_INFO.get(step_id)
    if info is not None:
        values["permission"] = info.permission
    return values


def describe_error(ctx: Context, step_id: str, exc: BaseException) -> StepFailure:
    """Turn any exception into a message without secrets plus its troubleshooting entry."""
    if isinstance(exc, StepFailure):
        return exc
    entry = troubleshooting.lookup(step_id, values=guidance_values(ctx, step_id), exc=exc)
    codes = troubleshooting.error_codes(exc)
    detail = str(exc) or type(exc).__name__
    if codes:
        detail = f"{detail} (Cloudflare error {', '.join(map(str, codes))})"
    return StepFailure(step_id, detail, entry)


def _status(ctx: Context, step: Step, planned: Plan) -> StepStatus:
    """The plan's state, except that a step whose last apply failed reads failed, not pending."""
    state = planned.state
    last = ctx.journal.last_outcomes(ctx.config.domain).get(step.id)
    if last is not None and last.outcome == "failed" and state is StepState.PENDING:
        state = StepState.FAILED
    return StepStatus(step.id, step.title, state, planned.summary)


KEYRING_BLOCKED = "the keyring cannot hold secrets (see `polaris-tui secrets status`)"


def _prepare(ctx: Context) -> None:
    """What threads would otherwise build or import at the same moment, done once first.

    Concurrent first imports of the SDK's lazily loaded modules can deadlock on import locks;
    the shared API client is built once rather than once per thread. A missing token is not
    an error here: the step that needs it reports it.
    """
    preload()
    with contextlib.suppress(PolarisError, VaultError):
        _ = ctx.api.client, ctx.zone_id


async def _prepared(ctx: Context) -> None:
    """``_prepare`` off the event loop (the zone's id may be looked up over the network)."""
    await asyncio.to_thread(_prepare, ctx)


async def each_step_async(
    ctx: Context, steps: Iterable[Step], run: Callable[[Step], Awaitable[T]]
) -> list[T]:
    """``run`` for every step at once, in one observation, results in the steps' order.

    Steps read independent things, so their reads overlap; reads several steps share (the
    zone's records, the Worker's secrets) are made once (``polaris_tui.observation``).
    """
    chosen = list(steps)
    with observing():
        await _prepared(ctx)
        return list(await asyncio.gather(*(run(s) for s in chosen)))


async def status_async(ctx: Context, steps: Iterable[Step] | None = None) -> list[StepStatus]:
    """Every step's state; an unusable keyring blocks them all, said once rather than per step."""
    chosen = list(steps if steps is not None else all_steps())
    try:
        ctx.vault.ensure_usable()
    except VaultError:
        return [StepStatus(s.id, s.title, StepState.BLOCKED, KEYRING_BLOCKED) for s in chosen]
    return await each_step_async(ctx, chosen, lambda s: step_status_async(ctx, s))


async def step_status_async(ctx: Context, step: Step) -> StepStatus:
    return (await load_step_async(ctx, step)).status


async def plan_async(ctx: Context, step: Step) -> Plan:
    """The step's plan; raises StepFailure (with guidance) when it cannot plan."""
    try:
        return await step.plan(ctx)
    except Exception as exc:
        raise describe_error(ctx, step.id, exc) from None


async def _plan_or_failure(ctx: Context, step: Step) -> Plan | StepFailure:
    try:
        return await plan_async(ctx, step)
    except StepFailure as failure:
        return failure


async def plan_each_async(ctx: Context, steps: Iterable[Step]) -> list[Plan | StepFailure]:
    """Every step's plan (or its failure) from one observation, the reads overlapping."""
    return await each_step_async(ctx, steps, lambda s: _plan_or_failure(ctx, s))


@dataclass
class StepView:
    """What a step panel shows, all from one plan: status, facts and changes, or why the step
    could not plan. ``plan`` is what an apply from the panel must be given."""

    status: StepStatus
    facts: dict[str, Any] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    failure: StepFailure | None = None
    plan: Plan | None = None


async def load_step_async(ctx: Context, step: Step) -> StepView:
    """A panel's status, facts and plan from one observation of the step."""
    with observing():
        await _prepared(ctx)
        try:
            planned = await plan_async(ctx, step)
        except StepFailure as failure:
            return StepView(
                StepStatus(step.id, step.title, StepState.FAILED, failure.message),
                failure=failure,
            )
    return StepView(
        _status(ctx, step, planned), dict(planned.facts), list(planned.changes), plan=planned
    )


async def load_each_async(ctx: Context, steps: Iterable[Step]) -> list[StepView]:
    """Every step's panel view from one observation (the TUI's sidebar and panels)."""
    return await each_step_async(ctx, steps, lambda s: load_step_async(ctx, s))


async def changed_again_async(ctx: Context, steps: Iterable[Step]) -> list[Step]:
    """Steps with pending changes after a run over all of them (one observation)."""
    chosen = list(steps)
    plans = await plan_each_async(ctx, chosen)
    for result in plans:
        if isinstance(result, StepFailure):
            raise result
    return [s for s, p in zip(chosen, plans, strict=True) if p.pending]  # type: ignore[union-attr]


@dataclass
class GraphRun:
    """How an apply over the step graph ended: the steps that failed, and the steps that did
    not start because a step they come after did not succeed (with those steps)."""

    failed: list[str] = field(default_factory=list)
    skipped: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped


async def run_graph(
    steps: Iterable[Step],
    after: Mapping[str, Iterable[str]],
    apply_one: Callable[[Step], Awaitable[bool]],
    on_skip: Callable[[Step, list[str]], None] = lambda _s, _b: None,
) -> GraphRun:
    """Start every step as soon as the steps it comes after (``after``, among ``steps``)
    have succeeded; steps with no path between them run at the same time.

    On a failure the run goes on as Terraform's does: steps already running finish, steps
    that come after the failed one (directly or not) do not start and are reported through
    ``on_skip``, independent steps still run, and the result names every failure. An
    exception ``apply_one`` did not turn into False is re-raised once nothing runs any more.
    """
    chosen = {s.id: s for s in steps}
    graph = {i: tuple(d for d in after.get(i, ()) if d in chosen) for i in chosen}
    run = GraphRun()
    errors: list[BaseException] = []
    tasks: dict[str, asyncio.Task[bool]] = {}

    async def one(step_id: str) -> bool:
        needs = graph[step_id]
        results = [await tasks[d] for d in needs]  # created first: the order is topological
        blocked = [d for d, ok in zip(needs, results, strict=True) if not ok]
        if blocked:
            run.skipped[step_id] = blocked
            on_skip(chosen[step_id], blocked)
            return False
        try:
            ok = await apply_one(chosen[step_id])
        except Exception as exc:
            errors.append(exc)
            ok = False
        if not ok:
            run.failed.append(step_id)
        return ok

    for step_id in topological(graph):
        tasks[step_id] = asyncio.create_task(one(step_id))
    await asyncio.gather(*tasks.values())
    if errors:
        raise errors[0]
    return run


async def apply_all_async(
    ctx: Context,
    steps: Iterable[Step],
    apply_one: Callable[[Step, bool], Awaitable[bool]],
    on_skip: Callable[[Step, list[str]], None] = lambda _s, _b: None,
) -> GraphRun:
    """Apply steps over the dependency graph the catalog declares, then once more each one a
    later step changed.

    ``apply_one(step, again)`` plans, applies and reports one step (False is a failure); each
    call is a task of its own, so its progress (``reporting``) and observation are its own,
    and a cancel (Ctrl-C) reaches every running step at its next await. The second pass
    exists because a later step can change what an earlier one owns, and only Cloudflare's
    reaction shows it: enabling Email Routing (email-service) makes Cloudflare add its own SPF
    record at the apex, a second SPF record beside the one auth owns and must merge. A
    desired zone cannot foresee that record's exact text before Cloudflare writes it, so auth
    is planned again after the fact. This is the only place that knows; front ends call this.
    """
    chosen = list(steps)
    await _prepared(ctx)  # the shared client and the SDK's modules, before the fan-out

    async def graph_pass(these: list[Step], again: bool) -> GraphRun:
        after = dependencies([s.id for s in these])
        return await run_graph(these, after, lambda step: apply_one(step, again), on_skip)

    first = await graph_pass(chosen, False)
    if not first.ok or len(chosen) < 2:
        return first
    return await graph_pass(await changed_again_async(ctx, chosen), True)


Confirm = Callable[[Step, list[Change]], bool]


async def apply_async(
    ctx: Context,
    step: Step,
    planned: Plan,
    *,
    confirm: Confirm,
    allow_delete: bool = False,
    progress: Progress = no_progress,
) -> ApplyResult:
    """Confirm, check and apply ``planned`` (the plan the operator was shown), and journal it.

    Nothing changes without ``confirm``. Right before applying the step is observed again:
    when that observation gives another fingerprint the world moved since the plan was made,
    and the apply is refused (``PlanChanged``) rather than silently applying a new plan.
    """
    if planned.step != step.id:
        raise ValueError(f"a plan of {planned.step} given to apply {step.id}")
    if planned.state is StepState.BLOCKED:  # the summary says why the step refuses to act
        raise describe_error(ctx, step.id, PolarisError(planned.summary))
    changes = planned.pending
    if not changes:
        return ApplyResult(ok=True, detail="nothing to do")
    blocked = [c for c in changes if c.needs_delete_permission]
    if blocked and not allow_delete:
        targets = ", ".join(c.target for c in blocked)
        raise StepFailure(
            step.id,
            f"the plan deletes records the tool did not create ({targets});"
            " re-run with --allow-delete (TUI: type the hostname) to allow it",
        )
    if not confirm(step, changes):
        return ApplyResult(ok=False, detail="cancelled: nothing was changed")
    with observing(new=True):
        await _prepared(ctx)
        now = await plan_async(ctx, step)
    if now.fingerprint != planned.fingerprint:
        raise PlanChanged(step.id)
    try:
        with reporting(progress):  # retries and waits deep in the calls report here too
            result = await step.apply(ctx, changes, progress=progress)
    except asyncio.CancelledError:  # Ctrl-C: the journal says the step stopped midway
        ctx.journal.append(ctx.config.domain, step.id, "failed", changes, INTERRUPTED)
        raise
    except Exception as exc:
        failure = describe_error(ctx, step.id, exc)
        ctx.journal.append(ctx.config.domain, step.id, "failed", changes, failure.message)
        raise failure from None
    ctx.journal.append(
        ctx.config.domain,
        step.id,
        "ok" if result.ok else "failed",
        result.applied or changes,
        result.detail,
    )
    return result


# -- synchronous facades, for the CLI, the demo, destroy and the TUI's thread workers ---------
# Each runs its coroutine on an event loop of its own (``run_blocking``: a wide executor).


def status(ctx: Context, steps: Iterable[Step] | None = None) -> list[StepStatus]:
    return run_blocking(status_async(ctx, steps))


def step_status(ctx: Context, step: Step) -> StepStatus:
    return run_blocking(step_status_async(ctx, step))


def plan(ctx: Context, step: Step) -> Plan:
    return run_blocking(plan_async(ctx, step))


def plan_each(ctx: Context, steps: Iterable[Step]) -> list[Plan | StepFailure]:
    return run_blocking(plan_each_async(ctx, steps))


def load_step(ctx: Context, step: Step) -> StepView:
    return run_blocking(load_step_async(ctx, step))


def load_each(ctx: Context, steps: Iterable[Step]) -> list[StepView]:
    return run_blocking(load_each_async(ctx, steps))


def changed_again(ctx: Context, steps: Iterable[Step]) -> list[Step]:
    return run_blocking(changed_again_async(ctx, steps))


def apply_all(
    ctx: Context,
    steps: Iterable[Step],
    apply_one: Callable[[Step, bool], Awaitable[bool]],
    on_skip: Callable[[Step, list[str]], None] = lambda _s, _b: None,
) -> GraphRun:
    """The whole run on one event loop: ``apply_one`` awaits ``plan_async``/``apply_async``."""
    return run_blocking(apply_all_async(ctx, steps, apply_one, on_skip))


def apply(
    ctx: Context,
    step: Step,
    planned: Plan,
    *,
    confirm: Confirm,
    allow_delete: bool = False,
    progress: Progress = no_progress,
) -> ApplyResult:
    return run_blocking(
        apply_async(
            ctx, step, planned, confirm=confirm, allow_delete=allow_delete, progress=progress
        )
    )


def _with_guidance(ctx: Context, check: Check) -> Check:
    if not check.ok and not check.guidance:
        entry = troubleshooting.lookup(
            check.step,
            values=guidance_values(ctx, check.step),
            check_id=check.id,
            status=check.data.get("status"),
            message=check.detail,
        )
        if entry is not None:
            check.guidance = entry.text()
    return check


async def _verify_step(ctx: Context, step: Step) -> list[Check]:
    started = time.perf_counter()
    timeout = step.verify_timeout(ctx, CHECK_TIMEOUT_SECONDS)
    try:
        return await asyncio.wait_for(step.verify(ctx), timeout)
    except TimeoutError:
        detail = f"no answer within {timeout:g}s"
    except Exception as exc:
        detail = describe_error(ctx, step.id, exc).message
    return [
        Check(
            f"{step.id}.verify", step.id, False, detail, ms=(time.perf_counter() - started) * 1000
        )
    ]


async def verify_async(ctx: Context, steps: Iterable[Step]) -> VerifyReport:
    """Every check of every step concurrently; wall time tracks the slowest check."""
    started = time.perf_counter()
    preload("verify")  # before the fan-out, in this thread
    results = await asyncio.gather(*(_verify_step(ctx, s) for s in steps))
    checks = [_with_guidance(ctx, c) for group in results for c in group]
    return VerifyReport(
        all(c.ok for c in checks) and bool(checks), (time.perf_counter() - started) * 1000, checks
    )


def verify(ctx: Context, steps: Iterable[Step]) -> VerifyReport:
    return run_blocking(verify_async(ctx, list(steps)))
