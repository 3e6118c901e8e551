"""verify-all: concurrent checks vs one check at a time, against a slow sandbox, same run.

A fresh sandbox gets every step applied as the demo does (no latency; the relay's limit per
recipient raised, as every verify proves delivery with one real message to the same mailbox and
a round sends about twenty), then the sandbox answers
every API, DNS-backed and edge request after POLARIS_SANDBOX_LATENCY_MS (default 200) and
verify-all runs twice per round: as shipped (steps and their checks gathered concurrently), and
with ``asyncio.gather`` replaced by a sequential loop so each check waits for the previous one
(requests a check fans out with ``gather`` are serialised too; reads a step starts as tasks
still overlap).

The slowest single check is measured on its own: every step is also verified alone, with
nothing else competing for the event loop, the thread pool, the GIL or the in-process
sandbox, and the longest check time seen there is the reference (a check's siblings still
run beside it: they share its reads). A check's time (``Check.ms``) covers the reads it
waited for, shared ones included, so a check whose inputs arrive late is not shown as faster
than it is. Taking the longest check of the full concurrent run instead would inflate the
reference by the very contention being measured (DNS checks that answer in about 205 ms
alone took 500-600 ms there) and flatter the ratio.

Prints, as medians over the rounds: both wall times, the slowest single check (with the ids
that were slowest in a round), both ratios, and each step's own verify time (step alone).

The command as the operator types it is timed too (``cold``): a fresh process runs
``polaris-tui --sandbox --sandbox-dir D verify --json`` on the same applied sandbox, and its
wall time and its own ``elapsed_ms`` are set beside a fresh ``... history --json`` (a
command that starts the sandbox and only reads the journal: process plus sandbox start) and
the in-process figure, so the fixed cost a cold verify pays over the warm one is explicit;
each is also given as a ratio to that baseline.

    uv run python benchmarks/verify_bench.py [--latency-ms 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polaris_tui import runner
from polaris_tui.config import set_value
from polaris_tui.context import Context
from polaris_tui.demo import apply_all
from polaris_tui.sandbox import Sandbox
from polaris_tui.session import sandbox_context
from polaris_tui.steps.base import Check


async def _one_at_a_time(*aws: Awaitable[Any], return_exceptions: bool = False) -> list[Any]:
    """``asyncio.gather`` without the concurrency: awaits each in turn."""
    out = []
    for aw in aws:
        try:
            out.append(await aw)
        except Exception as exc:
            if not return_exceptions:
                raise
            out.append(exc)
    return out


@contextmanager
def sequential() -> Iterator[None]:
    real = asyncio.gather
    asyncio.gather = _one_at_a_time  # type: ignore[assignment]
    try:
        yield
    finally:
        asyncio.gather = real


RUNTIME_STEPS = ("kv", "secret", "deploy", "route")
RECIPIENT_LIMIT = 1000  # messages per recipient per window: above what every round sends


@dataclass(frozen=True)
class Run:
    """One verify: its wall time and its checks."""

    wall_ms: float
    checks: list[Check]

    @property
    def slowest(self) -> Check:
        return max(self.checks, key=lambda c: c.ms)


def verify(ctx: Context, only: tuple[str, ...] | None = None) -> Run:
    """Verify all steps, or ``only`` these, as ``polaris-tui verify`` does (``runner.verify``)."""
    steps = [s for s in runner.select("all") if only is None or s.id in only]
    started = time.perf_counter()
    report = runner.verify(ctx, steps)
    wall = (time.perf_counter() - started) * 1000
    return Run(wall, list(report.checks))


def summarise(
    concurrent: list[Run], one_by_one: list[Run], alone: list[dict[str, Run]]
) -> dict[str, Any]:
    """Medians over rounds; the reference check is the slowest seen with its step alone."""
    conc_wall = statistics.median(r.wall_ms for r in concurrent)
    seq_wall = statistics.median(r.wall_ms for r in one_by_one)
    slowest_per_round = [
        max((r.slowest for r in steps.values()), key=lambda c: c.ms) for steps in alone
    ]
    slowest = statistics.median(c.ms for c in slowest_per_round)
    return {
        "checks": len(concurrent[0].checks),
        # over every run: a failing check answers early and would skew the times
        "failed_checks": sum(not c.ok for r in concurrent + one_by_one for c in r.checks),
        "concurrent_ms": round(conc_wall),
        "one_at_a_time_ms": round(seq_wall),
        "slowest_single_check_ms": round(slowest),
        "slowest_single_check_ids": sorted({c.id for c in slowest_per_round}),
        "one_at_a_time_over_concurrent": round(seq_wall / conc_wall, 2),
        "concurrent_over_slowest_check": round(conc_wall / slowest, 2) if slowest else None,
    }


def command(directory: Path, latency_ms: int, *words: str) -> tuple[float, dict[str, Any]]:
    """Run ``polaris-tui --sandbox --sandbox-dir directory WORDS --json`` in a fresh process:
    its wall time (ms) and its JSON answer."""
    exe = shutil.which("polaris-tui", path=str(Path(sys.executable).parent)) or "polaris-tui"
    argv = [exe, "--sandbox", "--sandbox-dir", str(directory), *words, "--json"]
    env = {**os.environ, "POLARIS_SANDBOX_LATENCY_MS": str(latency_ms)}
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    wall = (time.perf_counter() - started) * 1000
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[3:])} exited {done.returncode}: {done.stderr[-2000:]}")
    return wall, json.loads(done.stdout)


def cold(directory: Path, latency_ms: int, rounds: int, warm_ms: float) -> dict[str, Any]:
    """The command as typed, beside process plus sandbox start, as medians over ``rounds``."""
    verify_wall, verify_own, start_wall = [], [], []
    for _ in range(rounds):
        wall, report = command(directory, latency_ms, "verify")
        if not report["ok"]:
            raise SystemExit(f"cold verify failed: {report}")
        verify_wall.append(wall)
        verify_own.append(report["elapsed_ms"])
        start_wall.append(command(directory, latency_ms, "history")[0])
    wall, own, base = (statistics.median(x) for x in (verify_wall, verify_own, start_wall))
    return {
        "verify_wall_ms": round(wall),
        "verify_wall_ms_each": [round(x) for x in verify_wall],
        "verify_elapsed_ms": round(own),
        "verify_elapsed_ms_each": [round(x) for x in verify_own],
        "process_and_sandbox_start_ms": round(base),
        "process_and_sandbox_start_ms_each": [round(x) for x in start_wall],
        "verify_over_start_ms": round(wall - base),
        # as ratios to the baseline (process plus sandbox start) of this run
        "verify_wall_over_start": round(wall / base, 2),
        "verify_elapsed_over_start": round(own / base, 2),
        "in_process_over_start": round(warm_ms / base, 2),
        "cold_elapsed_over_in_process": round(own / warm_ms, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--cold-rounds", type=int, default=3, help="fresh-process runs of verify and history"
    )
    args = parser.parse_args()

    step_ids = [s.id for s in runner.select("all")]
    with tempfile.TemporaryDirectory(prefix="verify-bench-") as tmp:
        box = Sandbox(Path(tmp), latency_ms=0)
        endpoints = box.start()
        set_value(endpoints.config_path, "rate_limit_max", RECIPIENT_LIMIT)
        ctx = sandbox_context(box, endpoints)
        try:
            ok, detail = apply_all(ctx)
            if not ok:
                raise SystemExit(f"apply failed: {detail}")
            verify(ctx)  # warm-up: SDK imports and connection set-up are not what we compare
            box.set_latency(args.latency_ms)
            concurrent: dict[str, list[Run]] = {"all_steps": [], "runtime_steps": []}
            one_by_one: dict[str, list[Run]] = {"all_steps": [], "runtime_steps": []}
            alone: list[dict[str, Run]] = []
            for _ in range(args.rounds):
                for label, only in (("all_steps", None), ("runtime_steps", RUNTIME_STEPS)):
                    concurrent[label].append(verify(ctx, only))
                    with sequential():
                        one_by_one[label].append(verify(ctx, only))
                alone.append({step: verify(ctx, (step,)) for step in step_ids})
        finally:
            box.stop()
        in_process_ms = statistics.median(r.wall_ms for r in concurrent["all_steps"])
        cold_result = cold(Path(tmp), args.latency_ms, args.cold_rounds, in_process_ms)
    runtime_alone = [{s: r for s, r in steps.items() if s in RUNTIME_STEPS} for steps in alone]
    result = {
        "latency_ms": args.latency_ms,
        "rounds": args.rounds,
        "all_steps": summarise(concurrent["all_steps"], one_by_one["all_steps"], alone),
        "runtime_steps": summarise(
            concurrent["runtime_steps"], one_by_one["runtime_steps"], runtime_alone
        ),
        # The command as typed, in fresh processes, after the in-process rounds.
        "cold": cold_result,
        # Where the wall time goes: each step's own verify (its checks concurrent, step alone).
        "per_step_ms": {
            step: round(statistics.median(steps[step].wall_ms for steps in alone))
            for step in step_ids
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
