"""Progress that tells the truth about waiting, through the one ``Progress`` callback.

A step's apply reports through the callback it is given; the calls it makes (and the SDK's
retries inside them) cannot take a parameter, so the runner makes the callback the current
one for the apply (``reporting``) and those calls report to it (``report``). Every wait is
cut into slices of at most ``SLICE_SECONDS``, each reported: the operator sees elapsed of the
limit tick by, and a front end's callback that raises on cancel stops the wait within one
slice instead of after the whole sleep.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

Progress = Callable[[str, float | None], None]
"""Progress callback: (message, fraction 0..1 or None when unknown)."""

SLICE_SECONDS = 1.0
"""The longest sleep between two reports: a cancel lands within this."""


POLL_LATENESS = 0.1
"""A poll waits at most this fraction of the time already waited (after its first delay)."""


def backoff(delay: float, elapsed: float, cap: float) -> float:
    """The delay before the next poll of a wait Cloudflare imposes: doubling from ``delay``
    up to ``cap``, but never more than ``POLL_LATENESS`` of the ``elapsed`` time (nor less
    than ``delay``). Plain doubling polls at 3.75 s then 7.75 s, so a change made at 4 s was
    seen at 7.75 s, nearly twice late; here it is seen at most a tenth late, whatever the
    wait is against the backoff, for about twice the polls (88 over a 600 s DKIM wait)."""
    return min(delay * 2, cap, max(delay, elapsed * POLL_LATENESS))


def no_progress(message: str, fraction: float | None = None) -> None:
    """A progress sink for callers that do not display progress."""


_current: ContextVar[Progress] = ContextVar("progress", default=no_progress)


@contextmanager
def reporting(progress: Progress) -> Iterator[None]:
    """Make ``progress`` the callback ``report`` reaches, in this context and its copies
    (threads started with ``contextvars.copy_context``, ``asyncio.to_thread``)."""
    token = _current.set(progress)
    try:
        yield
    finally:
        _current.reset(token)


def report(message: str, fraction: float | None = None) -> None:
    """Report to the current apply's callback (nowhere outside an apply)."""
    _current.get()(message, fraction)


def seconds(value: float) -> str:
    """A duration as the operator reads it: ``0.5 s``, ``2 s``, ``113 s``."""
    return f"{value:.1f} s" if value < 0.95 else f"{value:.0f} s"


def of_limit(elapsed: float, limit: float) -> str:
    """``(113 s of 120 s)``: how long a wait has run of how long it may."""
    return f"({elapsed:.0f} s of {limit:.0f} s)"


def _slices(total: float) -> Iterator[tuple[float, float]]:
    """(sleep, seconds left after it): ``total`` cut into equal slices of at most
    ``SLICE_SECONDS``, so a wait of 3.5 s is four reports 0.875 s apart."""
    count = math.ceil(max(total, 0.0) / SLICE_SECONDS)
    for i in range(count):
        yield total / count, total * (count - i - 1) / count


def pause(
    total: float,
    message: Callable[[float], str],
    fraction: float | None = None,
    *,
    progress: Progress | None = None,
) -> None:
    """Sleep ``total`` seconds in slices, reporting ``message(seconds left)`` before each."""
    sink = progress or _current.get()
    for step, left in _slices(total):
        sink(message(left + step), fraction)
        time.sleep(step)


async def pause_async(
    total: float,
    message: Callable[[float], str],
    fraction: float | None = None,
    *,
    progress: Progress | None = None,
) -> None:
    """``pause`` for code on an event loop."""
    sink = progress or _current.get()
    for step, left in _slices(total):
        sink(message(left + step), fraction)
        await asyncio.sleep(step)
