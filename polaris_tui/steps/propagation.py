"""Wait until the zone's authoritative nameservers serve what a step just wrote."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from polaris_tui import waiting
from polaris_tui.steps.base import Progress, no_progress

if TYPE_CHECKING:
    from polaris_tui.context import Context
    from polaris_tui.ports import DnsAnswer


@dataclass(frozen=True)
class Expect:
    """A record we expect to be served: ``accept`` judges the sorted answer values."""

    name: str
    rtype: str
    accept: Callable[[tuple[str, ...]], bool]
    label: str = ""

    @classmethod
    def contains(cls, name: str, rtype: str, value: str) -> Expect:
        return cls(name, rtype, lambda values: value in values, f"{rtype} {name} {value}")


async def served(ctx: Context, expect: Expect) -> tuple[bool, list[DnsAnswer]]:
    """True when every authoritative nameserver answers acceptably."""
    answers = await ctx.dns.ask_authoritative(expect.name, expect.rtype)
    ok = bool(answers) and all(a.ok and expect.accept(a.records) for a in answers)
    return ok, answers


async def wait_until_served(
    ctx: Context, expects: list[Expect], *, timeout: float, progress: Progress = no_progress
) -> list[Expect]:
    """Poll with backoff until all are served or ``timeout`` passes; returns what is missing."""
    started = time.monotonic()
    delay = 0.2
    missing = list(expects)
    while True:
        results = await asyncio.gather(*(served(ctx, e) for e in missing))
        missing = [e for e, (ok, _) in zip(missing, results, strict=True) if not ok]
        elapsed = time.monotonic() - started
        done = len(expects) - len(missing)
        fraction = done / len(expects) if expects else 1.0

        def said(_left: float, done: int = done) -> str:
            return (
                f"{done}/{len(expects)} records served by the authoritative nameservers "
                + waiting.of_limit(time.monotonic() - started, timeout)
            )

        progress(said(0), fraction)
        if not missing or elapsed >= timeout:
            return missing
        await waiting.pause_async(
            min(delay, max(0.0, timeout - elapsed)), said, fraction, progress=progress
        )
        delay = waiting.backoff(delay, elapsed, 5.0)
