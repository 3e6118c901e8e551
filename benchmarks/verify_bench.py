"""verify-all: concurrent checks vs one check at a time, against a slow sandbox, same run.

A fresh sandbox gets every step applied as the demo does (no latency), then the sandbox answers
every API, DNS-backed and edge request after POLARIS_SANDBOX_LATENCY_MS (default 200) and
verify-all runs twice: as shipped (steps and their checks gathered concurrently), and with
``asyncio.gather`` replaced by a sequential loop so each check waits for the previous one.
Prints both wall times, the slowest single check, the ratios, and each step's own
verify time (a step that does slow work outside its checks shows up there).

    uv run python benchmarks/verify_bench.py [--latency-ms 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from polaris_tui import runner
from polaris_tui.context import Context, sandbox_context
from polaris_tui.demo import apply_all
from polaris_tui.sandbox import Sandbox


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


def measure(ctx: Context, only: tuple[str, ...] | None = None) -> tuple[float, float, int, int]:
    """(wall ms, slowest check ms, checks, failed checks) of one verify of all or ``only``."""
    steps = [s for s in runner.select("all") if only is None or s.id in only]
    started = time.perf_counter()
    report = asyncio.run(runner.verify_async(ctx, steps))
    wall = (time.perf_counter() - started) * 1000
    slowest = max((c.ms for c in report.checks), default=0.0)
    return wall, slowest, len(report.checks), sum(not c.ok for c in report.checks)


def summarise(concurrent: list[tuple], one_by_one: list[tuple]) -> dict[str, Any]:
    conc_wall = statistics.median(m[0] for m in concurrent)
    seq_wall = statistics.median(m[0] for m in one_by_one)
    slowest = statistics.median(m[1] for m in concurrent)
    return {
        "checks": concurrent[0][2],
        "failed_checks": concurrent[0][3],
        "concurrent_ms": round(conc_wall),
        "one_at_a_time_ms": round(seq_wall),
        "slowest_single_check_ms": round(slowest),
        "one_at_a_time_over_concurrent": round(seq_wall / conc_wall, 2),
        "concurrent_over_slowest_check": round(conc_wall / slowest, 2) if slowest else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="verify-bench-") as tmp:
        box = Sandbox(Path(tmp), latency_ms=0)
        ctx = sandbox_context(box, box.start())
        try:
            ok, detail = apply_all(ctx)
            if not ok:
                raise SystemExit(f"apply failed: {detail}")
            measure(ctx)  # warm-up: SDK imports and connection set-up are not what we compare
            box.set_latency(args.latency_ms)
            results = {}
            for label, only in (("all_steps", None), ("runtime_steps", RUNTIME_STEPS)):
                concurrent, one_by_one = [], []
                for _ in range(args.rounds):
                    concurrent.append(measure(ctx, only))
                    with sequential():
                        one_by_one.append(measure(ctx, only))
                results[label] = summarise(concurrent, one_by_one)
            # Where the wall time goes: each step's own verify (checks concurrent within it).
            results["per_step_ms"] = {
                step.id: round(measure(ctx, (step.id,))[0]) for step in runner.select("all")
            }
        finally:
            box.stop()
    result = {"latency_ms": args.latency_ms, **results}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
