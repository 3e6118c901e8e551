"""Apply all from the TUI: one combined confirmation, the runner's graph and convergence, a
failure that stops the steps after it with its guidance while the others finish; and the
palette finds the runbook's actions by word."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Static

from polaris_tui import runner
from polaris_tui.ports import Record
from polaris_tui.steps.base import Step
from polaris_tui.steps.catalog import STEP_IDS, dependencies
from screens.app import StepItem, create_app
from screens.apply_all import ApplyAllPanel
from screens.commands import PolarisCommands
from screens.confirm import ConfirmScreen
from screens.widgets import FailureView, GuidanceBox
from tests.runtime_helpers import apply_step
from tests.tui.conftest import secret_values, settle
from tests.tui.screen_text import screen_text


def panel_text(panel: ApplyAllPanel) -> str:
    return "\n".join(str(w.render()) for w in panel.query("Static"))


async def finished(pilot: Pilot[object]) -> ApplyAllPanel:
    """The apply-all panel once its run has ended and its last messages were handled."""
    await settle(pilot, rounds=8)
    panel = pilot.app.query_one(ApplyAllPanel)
    for _ in range(600):  # a slow machine: the run's last messages may still be queued
        if not panel.busy and (
            "Every step applied" in panel_text(panel) or "Stopped" in panel_text(panel)
        ):
            break
        await pilot.pause(0.1)
    return panel


async def mailbox_verified(pilot: Pilot[object]) -> None:
    """The auth plan depends on whether the account's destination mailbox is verified, which
    the sandbox does a moment after start: plan after that, so the confirmed plan is the one
    run."""
    ctx = pilot.app.ctx  # type: ignore[attr-defined]
    for _ in range(600):
        listed = await ctx.email_routing.addresses()
        if listed and all(a.verified for a in listed):
            return
        await pilot.pause(0.1)
    raise AssertionError("the sandbox never verified its DMARC mailbox")


def rendered(renderable: object, width: int = 80) -> str:
    """A Rich renderable as the plain text it shows at ``width`` columns."""
    console = Console(width=width, file=io.StringIO(), record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


async def test_apply_all_confirms_once_and_converges(tmp_path: Path) -> None:
    app = create_app(sandbox=True, sandbox_dir=tmp_path / "sbx")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await mailbox_verified(pilot)
        await pilot.press("A")
        await settle(pilot)
        confirm = app.screen
        assert isinstance(confirm, ConfirmScreen) and confirm.title_text == "Apply all"
        plan = rendered(confirm.query_one("#confirm-plan Static", Static).content)
        for title in ("DNS records", "SPF and DMARC", "Deploy the relay Worker"):
            assert title in plan, plan
        assert "v=DMARC1" in plan  # the values themselves, not only counts
        confirm.query_one("#confirm-plan").focus()  # the combined plan scrolls in the dialog
        await pilot.press("pagedown")
        assert confirm.query_one("#confirm-plan").scroll_y > 0
        await pilot.press("y")
        panel = await finished(pilot)
        assert not panel.busy
        text = panel_text(panel)
        assert "Every step applied" in text, text
        assert "SPF and DMARC (again: a later step changed it)" in text, text
        assert app.ctx is not None
        entries = app.ctx.journal.entries(app.ctx.config.domain)
        ran = [e.step for e in entries]
        assert sorted(ran[:-1]) == sorted(STEP_IDS) and ran[-1] == "auth"  # then convergence
        for step_id in STEP_IDS:  # each step after the steps it depends on
            for before in dependencies()[step_id]:
                assert ran.index(before) < ran.index(step_id), (before, step_id, ran)
        assert all(e.outcome == "ok" for e in entries)
        left = await runner.plan_each_async(app.ctx, runner.select("all"))
        assert all(not p.pending for p in left)  # type: ignore[union-attr]
        for step_id in STEP_IDS:
            assert app.query_one(f"#step-{step_id}", StepItem).state == "done", step_id
        seen = screen_text(app)
        for secret in secret_values(app):
            assert secret not in seen and secret not in text


async def test_a_failure_stops_its_dependents_and_the_others_finish(tmp_path: Path) -> None:
    app = create_app(sandbox=True, sandbox_dir=tmp_path / "sbx")
    async with app.run_test(size=(130, 40)) as pilot:
        await settle(pilot)
        await mailbox_verified(pilot)
        app.session.sandbox.set_faults("POST:*/storage/kv/namespaces*:403")  # type: ignore[union-attr]
        await pilot.press("A")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        panel = await finished(pilot)
        text = panel_text(panel)
        assert "Stopped" in text, text
        assert len(list(panel.query(FailureView))) == 1, text
        assert "lacks a permission" in text and "Workers KV Storage" in text, text
        assert len(list(panel.query(GuidanceBox))) == 1
        # deploy needs kv's namespace, route needs deploy: neither started, each says why
        assert "Deploy the relay Worker — not started: KV nonce store did not succeed" in text
        assert "Bind mail.<domain> — not started: Deploy the relay Worker did not succeed" in text
        assert app.ctx is not None
        entries = app.ctx.journal.entries(app.ctx.config.domain)
        ran = {e.step: e.outcome for e in entries}
        independent = {"dns", "auth", "email-service", "assets", "secret"}
        assert ran == {**dict.fromkeys(independent, "ok"), "kv": "failed"}, ran
        assert app.query_one("#step-kv", StepItem).state == "failed"


async def test_nothing_to_apply_says_so_without_asking(tmp_path: Path) -> None:
    app = create_app(sandbox=True, sandbox_dir=tmp_path / "sbx")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.ctx is not None
        ctx, steps = app.ctx, runner.select("all")

        async def apply_one(step: Step, _again: bool) -> bool:
            return (await apply_step(ctx, step.id)).ok

        await runner.apply_all_async(ctx, steps, apply_one)
        await pilot.press("A")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        assert "Nothing to apply: every step matches its plan" in panel_text(
            app.query_one(ApplyAllPanel)
        )


@pytest.mark.parametrize(
    ("word", "command"),
    [
        ("apply", "Apply all steps"),
        ("apply", "Apply step dns: DNS records"),
        ("promote", "Promote the new secret (rotation)"),
        ("show secret", "Show the signing secret"),
        ("verify", "Verify all"),
    ],
)
async def test_the_palette_finds_the_runbook_by_its_words(
    config_file: Path, memory_keyring: object, word: str, command: str
) -> None:
    app = create_app(config_path=config_file)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)  # the sidebar's steps exist before the palette looks them up
        provider = PolarisCommands(app.screen)
        found = [str(hit.text) async for hit in provider.search(word)]
        assert command in found, found


async def test_a_plan_that_grew_stops_the_run(tmp_path: Path) -> None:
    """The confirmation covers what it showed: an SPF record is added outside the tool while
    the dialog is open, so the auth plan gains a change nobody confirmed: auth changes nothing
    and the steps after it (email-service) do not start."""
    app = create_app(sandbox=True, sandbox_dir=tmp_path / "sbx")
    async with app.run_test(size=(130, 40)) as pilot:
        await settle(pilot)
        await mailbox_verified(pilot)
        await pilot.press("A")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert app.ctx is not None
        foreign = Record("TXT", "polaris.test", "v=spf1 include:spf.example.net ~all")
        await app.ctx.dns_records.batch(deletes=[], patches=[], posts=[foreign])
        await pilot.press("y")
        panel = await finished(pilot)
        text = panel_text(panel)
        assert "Stopped" in text and "you did not confirm" in text, text
        assert "not started: SPF and DMARC did not succeed" in text, text
        ran = {e.step for e in app.ctx.journal.entries(app.ctx.config.domain)}
        assert "auth" not in ran and "email-service" not in ran, ran  # auth changed nothing
        assert {"dns", "kv", "secret", "deploy"} <= ran, ran  # independent of auth
