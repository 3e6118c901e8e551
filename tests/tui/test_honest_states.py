"""States that do not contradict the checks: a failing check is never under a ✔, verify-all puts
failures first grouped by step, results older than the newest observation say so, and an old
"✔ Applied" does not survive an observation that shows changes again."""

from __future__ import annotations

from pathlib import Path

from polaris_tui.runner import StepStatus
from polaris_tui.steps.base import Action, Change, StepState
from screens.app import StepItem, create_app
from screens.step_panel import StepPanel, shown_state
from screens.verify import VerifyPanel
from screens.widgets import ChecksView
from tests.tui.conftest import settle
from tests.tui.walk import apply_current

KV_LIST = "GET:*/storage/kv/namespaces*"


def texts(view: ChecksView, selector: str) -> list[str]:
    return [str(w.render()) for w in view.query(selector)]


def test_done_with_changes_pending_is_not_shown_as_done() -> None:
    done = StepStatus("dns", "DNS records", StepState.DONE, "records as planned")
    change = Change(Action.UPDATE, "dns_record", "A polaris.test", before={}, after={})
    noop = Change(Action.NOOP, "dns_record", "AAAA polaris.test")
    assert shown_state(done, [change, noop]) == "pending"
    assert shown_state(done, [noop]) == "done"
    assert shown_state(done, None) == "failed"  # done, yet it could not plan
    drift = StepStatus("auth", "SPF and DMARC", StepState.DRIFT, "two SPF records")
    assert shown_state(drift, [change]) == "drift"


async def test_a_failing_check_is_never_under_a_tick(tmp_path: Path) -> None:
    app = create_app(sandbox=True, sandbox_dir=tmp_path / "sbx")
    async with app.run_test(size=(130, 40)) as pilot:
        await settle(pilot)
        await pilot.press("down", "down", "down", "down")  # KV nonce store
        await settle(pilot)
        await apply_current(pilot, [])
        item = app.query_one("#step-kv", StepItem)
        assert item.label_text().startswith("✔"), item.label_text()

        app.session.sandbox.set_faults(f"{KV_LIST}:500")  # type: ignore[union-attr]
        await pilot.press("c")
        await settle(pilot)
        panel = app.query_one("#panel-kv", StepPanel)
        assert panel.query(".check-row.bad")
        assert item.label_text().startswith("✘"), item.label_text()

        app.session.sandbox.set_faults("")  # type: ignore[union-attr]
        await pilot.press("c")
        await settle(pilot)
        assert not panel.query(".check-row.bad")
        assert item.label_text().startswith("✔"), item.label_text()


async def test_verify_all_lists_failures_first_grouped_by_step_and_goes_stale(
    tmp_path: Path,
) -> None:
    app = create_app(sandbox=True, sandbox_dir=tmp_path / "sbx")
    async with app.run_test(size=(130, 40)) as pilot:
        await settle(pilot)
        await apply_current(pilot, [])  # DNS records: its checks pass, the rest fail
        await pilot.press("v")
        await settle(pilot)
        view = app.query_one(VerifyPanel).query_one(ChecksView)
        rows = [("bad" in w.classes, w) for w in view.query(".check-row")]
        states = [bad for bad, _ in rows]
        assert True in states and False in states
        assert states == sorted(states, reverse=True), "a failure below a pass"
        groups = texts(view, ".check-group")
        assert groups[0].startswith("SPF and DMARC") and "failed" in groups[0], groups
        assert any(g.startswith("DNS records") and "passed" in g for g in groups), groups
        headings = texts(view, ".heading")
        assert headings[0].startswith("Failing") and headings[-1].startswith("Passing")
        # no step with a failing check shows ✔
        assert app.query_one("#step-dns", StepItem).label_text().startswith("✔")
        assert app.query_one("#step-kv", StepItem).label_text().startswith("•")
        assert not view.query(".stale-note")

        await pilot.press("r")  # a new observation: these results are now older than it
        await settle(pilot)
        assert view.query(".stale-note"), "results older than the refresh are not marked"


async def test_old_results_do_not_outlive_a_newer_observation(tmp_path: Path) -> None:
    app = create_app(sandbox=True, sandbox_dir=tmp_path / "sbx")
    async with app.run_test(size=(130, 40)) as pilot:
        await settle(pilot)
        await apply_current(pilot, [])  # DNS records, then its checks run
        panel = app.query_one("#panel-dns", StepPanel)
        assert panel.query("#outcome .applied-ok"), "no ✔ Applied after the apply"
        assert panel.query(".check-row") and not panel.query(".stale-note")

        # drift made outside the tool: the manage. A record is deleted
        assert app.ctx is not None
        records = app.ctx.dns_records
        gone = [r.id for r in await records.list(name="manage.polaris.test", type="A")]
        await records.batch(deletes=gone, patches=[], posts=[])
        await pilot.press("p")  # re-inspect and re-plan
        await settle(pilot)
        assert panel.pending_changes
        assert not panel.query("#outcome .applied-ok"), "the old ✔ Applied survived the drift"
        outcome = " ".join(str(w.render()) for w in panel.query("#outcome Static"))
        assert "newest observation shows 1 change(s) pending" in outcome, outcome
        checks = panel.query_one(ChecksView)
        assert checks.query(".stale-note"), "checks from before the drift are not marked stale"
        assert not app.query_one("#step-dns", StepItem).label_text().startswith("✔")
