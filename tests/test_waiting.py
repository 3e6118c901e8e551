"""Waits are cut into reported slices: the operator sees them tick, a cancel lands in one."""

from __future__ import annotations

import contextvars

import pytest

from polaris_tui import waiting


class Cancelled(Exception):
    pass


def test_a_wait_is_reported_once_per_slice_with_what_is_left() -> None:
    said: list[str] = []
    waiting.pause(0.2, lambda left: f"{left:.2f} left", progress=lambda m, _f: said.append(m))
    assert said == ["0.20 left"]  # shorter than a slice: one report

    said.clear()
    total = 3.5 * waiting.SLICE_SECONDS
    waiting.pause(total, lambda left: f"{left:.3f}", progress=lambda m, _f: said.append(m))
    assert len(said) == 4  # never longer than a slice between two reports
    assert [float(s) for s in said] == pytest.approx([total * k / 4 for k in (4, 3, 2, 1)])


def test_a_cancel_raised_by_the_report_ends_the_wait_after_one_slice() -> None:
    calls = 0

    def sink(_message: str, _fraction: float | None) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise Cancelled

    with pytest.raises(Cancelled):
        waiting.pause(60 * waiting.SLICE_SECONDS, str, progress=sink)
    assert calls == 2  # the 60-slice wait stopped at its second report


def test_report_reaches_the_callback_made_current_and_its_copies() -> None:
    said: list[str] = []
    waiting.report("before")  # outside an apply: nowhere, no error
    with waiting.reporting(lambda m, _f: said.append(m)):
        waiting.report("inside")
        contextvars.copy_context().run(waiting.report, "in a copied context")
    waiting.report("after")
    assert said == ["inside", "in a copied context"]


def test_a_poll_sees_a_change_at_most_a_tenth_late_with_few_polls() -> None:
    """The loops poll, sleep ``delay``, then take ``backoff(delay, elapsed at that poll)``:
    whenever Cloudflare finishes (every 0.1 s over a DKIM wait's 600 s), the next poll comes
    within a tenth of the time waited (or the first delay), for under 100 polls in all."""
    from polaris_tui.waiting import POLL_LATENESS, backoff

    polls, delay, now = [0.0], 0.25, 0.0
    while now < 600:
        polled_at = now
        now += delay
        polls.append(now)
        delay = backoff(delay, polled_at, 15.0)
    assert len(polls) < 100
    for tenth in range(1, 6000):
        done = tenth / 10
        seen = next(p for p in polls if p >= done)
        assert seen - done <= max(0.25, POLL_LATENESS * done) + 1e-9, (done, seen)
