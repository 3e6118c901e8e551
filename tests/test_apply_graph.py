"""`apply all` over the step graph: the order follows the declared dependencies, steps with no
path between them are in flight at once, a failure stops only the steps after it, and shared
files written from concurrent steps stay whole.

The scheduling tests drive ``runner.run_graph`` with awaitable stand-ins for a step's apply
and prove overlap by a rendezvous (each of two steps waits until the other has started), not
by timing: run one after the other, the first would wait for a start that never comes.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from polaris_tui import runner
from polaris_tui.context import Context
from polaris_tui.journal import Journal
from polaris_tui.state import StateStore
from polaris_tui.steps.base import Step
from polaris_tui.steps.catalog import STEP_IDS, dependencies
from polaris_tui.steps.registry import all_steps
from polaris_tui.waiting import report, reporting

pytest_plugins = ["tests.runtime_fixtures"]

RENDEZVOUS_SECONDS = 30.0  # only bounds a failing run; a passing one never waits this long


class Recorder:
    """Every step's start and end, in the order the scheduler made them happen."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.started: dict[str, asyncio.Event] = {i: asyncio.Event() for i in STEP_IDS}

    def apply(
        self,
        *,
        fail: frozenset[str] = frozenset(),
        waits: dict[str, str] | None = None,
        ends_after: dict[str, str] | None = None,
    ) -> Callable[[Step], Awaitable[bool]]:
        """An apply that records its step; ``waits[a] = b``: a waits until b has started;
        ``ends_after[a] = b``: a ends only once b has ended."""
        ended = {i: asyncio.Event() for i in STEP_IDS}

        async def apply_one(step: Step) -> bool:
            self.events.append(("start", step.id))
            self.started[step.id].set()
            await asyncio.sleep(0)  # let every step that can start now start
            if step.id in (waits or {}):
                await asyncio.wait_for(
                    self.started[(waits or {})[step.id]].wait(), RENDEZVOUS_SECONDS
                )
            if step.id in (ends_after or {}):
                await asyncio.wait_for(
                    ended[(ends_after or {})[step.id]].wait(), RENDEZVOUS_SECONDS
                )
            self.events.append(("end", step.id))
            ended[step.id].set()
            return step.id not in fail

        return apply_one

    def index(self, kind: str, step_id: str) -> int:
        return self.events.index((kind, step_id))


def run(
    apply_one: Callable[[Step], Awaitable[bool]],
    on_skip: Callable[[Step, list[str]], None] = lambda _s, _b: None,
) -> runner.GraphRun:
    return asyncio.run(runner.run_graph(all_steps(), dependencies(), apply_one, on_skip))


def test_each_step_starts_after_the_steps_it_depends_on_have_ended() -> None:
    rec = Recorder()
    result = run(rec.apply())
    assert result.ok and not result.skipped
    assert sorted(i for kind, i in rec.events if kind == "start") == sorted(STEP_IDS)
    for step_id, needs in dependencies().items():
        for before in needs:
            assert rec.index("end", before) < rec.index("start", step_id), (before, step_id)


def test_independent_steps_are_in_flight_at_once() -> None:
    """kv and secret depend on nothing, nor do they depend on each other or on dns: each
    waits for the others to start, which only a scheduler that runs them together allows.
    assets and email-service, both after dns only (email-service after auth too), likewise."""
    rec = Recorder()
    waits = {"kv": "secret", "secret": "dns", "dns": "kv", "assets": "auth", "auth": "assets"}
    result = run(rec.apply(waits=waits))
    assert result.ok, rec.events
    first_end = next(i for i, (kind, _) in enumerate(rec.events) if kind == "end")
    assert {("start", "kv"), ("start", "secret"), ("start", "dns")} <= set(rec.events[:first_end])


def test_a_failed_step_stops_its_dependents_while_running_and_independent_steps_finish() -> None:
    """kv fails while secret is still running (secret ends only after kv has): secret
    finishes, deploy (after kv and secret) and route (after deploy) never start, and the
    steps that do not depend on kv all run."""
    rec = Recorder()
    skipped: list[tuple[str, list[str]]] = []
    result = run(
        rec.apply(fail=frozenset({"kv"}), waits={"kv": "secret"}, ends_after={"secret": "kv"}),
        lambda step, blocked: skipped.append((step.id, blocked)),
    )
    assert not result.ok
    assert result.failed == ["kv"]
    assert result.skipped == {"deploy": ["kv"], "route": ["deploy"]}
    assert sorted(skipped) == [("deploy", ["kv"]), ("route", ["deploy"])]
    assert rec.index("end", "kv") < rec.index("end", "secret")  # in flight: it finished
    started = {i for kind, i in rec.events if kind == "start"}
    assert started == set(STEP_IDS) - {"deploy", "route"}


def test_every_failure_is_reported_and_an_unexpected_error_is_raised_after_the_rest() -> None:
    rec = Recorder()
    result = run(rec.apply(fail=frozenset({"kv", "assets"})))
    assert sorted(result.failed) == ["assets", "kv"]

    rec = Recorder()
    inner = rec.apply()

    async def broken(step: Step) -> bool:
        if step.id == "dns":
            raise RuntimeError("boom")
        return await inner(step)

    with pytest.raises(RuntimeError, match="boom"):
        run(broken)
    started = {i for kind, i in rec.events if kind == "start"}
    assert started == {"kv", "secret", "deploy"}  # everything not after dns still ran


def test_a_step_applied_alone_does_not_wait_for_steps_outside_the_run() -> None:
    rec = Recorder()
    route = [s for s in all_steps() if s.id == "route"]
    result = asyncio.run(runner.run_graph(route, dependencies(), rec.apply()))
    assert result.ok and rec.events == [("start", "route"), ("end", "route")]


def test_apply_all_runs_applies_side_by_side_each_with_its_own_progress(ctx: Context) -> None:
    """Through the runner's graph: kv and secret each wait inside their own ``reporting``
    until the other has started, which only steps in flight at the same time can do, and each
    one's progress reaches only its own callback (``reporting`` is per step, not per run)."""
    heard: dict[str, list[str]] = {"kv": [], "secret": []}
    calls: list[tuple[str, bool]] = []
    started: dict[str, asyncio.Event] = {}

    async def apply_one(step: Step, again: bool) -> bool:
        calls.append((step.id, again))
        if again:  # nothing was applied, so the convergence pass asks again: not this test's
            return True
        other = "secret" if step.id == "kv" else "kv"
        with reporting(lambda message, _fraction=None: heard[step.id].append(message)):
            started.setdefault(step.id, asyncio.Event()).set()
            await asyncio.wait_for(
                started.setdefault(other, asyncio.Event()).wait(), RENDEZVOUS_SECONDS
            )
            report(f"from {step.id}")
        return True

    steps = [s for s in all_steps() if s.id in ("kv", "secret")]
    result = runner.apply_all(ctx, steps, apply_one)
    assert result.ok
    assert heard == {"kv": ["from kv"], "secret": ["from secret"]}
    assert sorted(c for c in calls if not c[1]) == [("kv", False), ("secret", False)]


def test_concurrent_state_writes_lose_nothing(tmp_path: Path) -> None:
    state = StateStore(tmp_path / "state.json")

    def mark(kind: str) -> None:
        for n in range(10):
            state.mark_owned(kind, f"{kind}-{n}")

    threads = [threading.Thread(target=mark, args=(f"kind{k}",)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(6):
        assert state.owned(f"kind{k}") == {f"kind{k}-{n}" for n in range(10)}


def test_concurrent_journal_appends_are_whole_lines(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    journal = Journal(tmp_path / "journal.jsonl")

    def append(step: str) -> None:
        for n in range(20):
            journal.append("polaris.test", step, "ok", [], f"{step} {n} " + "x" * 2000)

    threads = [threading.Thread(target=append, args=(step,)) for step in STEP_IDS]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    entries = journal.entries()
    assert not caplog.records  # no line was torn or skipped
    assert len(entries) == 20 * len(STEP_IDS)
    for step in STEP_IDS:
        assert [e.detail.split()[1] for e in entries if e.step == step] == [
            str(n) for n in range(20)
        ]
