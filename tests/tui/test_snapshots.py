"""SVG snapshots of each screen at a fixed terminal size, secrets masked.

Update after a deliberate UI change with ``uv run pytest tests/tui/test_snapshots.py
--snapshot-update`` and review the SVGs in tests/tui/__snapshots__.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from textual.pilot import Pilot

from screens.app import PolarisApp, create_app
from screens.secret import SecretScreen
from screens.verify import VerifyPanel
from tests.conftest import VALID_CONFIG, MemoryKeyring
from tests.tui.conftest import SIZE, settle, steady_cursors

SNAPSHOT_SECRET = "c25hcHNob3Qtc2VjcmV0LW5ldmVyLXNob3du"
SMALL = (80, 24)


def sandbox_app(tmp_path: Path) -> PolarisApp:
    return create_app(sandbox=True, sandbox_dir=tmp_path / "sbx")


async def to_step(pilot: Pilot[object], downs: int) -> None:
    await settle(pilot)
    for _ in range(downs):
        await pilot.press("down")
    await settle(pilot)
    pilot.app.clear_notifications()  # before any dialog: a toast behind it would stay drawn
    await pilot.pause()


def test_step_with_pending_plan(snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[object]) -> None:
        await to_step(pilot, 4)  # kv
        pilot.app.clear_notifications()  # toasts time out: not part of the layout
        await pilot.pause()

    assert snap_compare(sandbox_app(tmp_path), terminal_size=SIZE, run_before=run_before)


def test_apply_confirmation(snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[object]) -> None:
        await to_step(pilot, 4)
        await pilot.press("a")
        await settle(pilot)
        pilot.app.clear_notifications()  # toasts time out: not part of the layout
        await pilot.pause()

    assert snap_compare(sandbox_app(tmp_path), terminal_size=SIZE, run_before=run_before)


def test_failure_with_inline_guidance(snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[object]) -> None:
        await to_step(pilot, 4)
        box = pilot.app.session.sandbox  # type: ignore[attr-defined]
        box.set_faults("GET:*/storage/kv/namespaces*:403")
        await pilot.press("p")
        await settle(pilot)
        pilot.app.clear_notifications()  # toasts time out: not part of the layout
        await pilot.pause()

    assert snap_compare(sandbox_app(tmp_path), terminal_size=SIZE, run_before=run_before)


def test_verify_all(snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[object]) -> None:
        await settle(pilot)
        await pilot.press("v")
        await settle(pilot)
        panel = pilot.app.query_one(VerifyPanel)
        assert panel.report is not None
        for check in panel.report.checks:  # timings and ports vary run to run; layout does not
            check.ms = 0.0
            check.detail = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", check.detail)
            check.guidance = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", check.guidance)
        panel.report.elapsed_ms = 0.0
        panel.post_message(VerifyPanel.Finished(panel.report))
        await settle(pilot)
        pilot.app.clear_notifications()  # toasts time out: not part of the layout
        await pilot.pause()

    assert snap_compare(sandbox_app(tmp_path), terminal_size=SIZE, run_before=run_before)


def test_secret_screen_masked(snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[object]) -> None:
        await settle(pilot)
        pilot.app.clear_notifications()  # before the dialog: a toast behind it would stay drawn
        await pilot.pause()
        await pilot.app.push_screen(SecretScreen(SNAPSHOT_SECRET))
        await pilot.pause()
        pilot.app.clear_notifications()  # toasts time out: not part of the layout
        await pilot.pause()

    assert snap_compare(sandbox_app(tmp_path), terminal_size=SIZE, run_before=run_before)
    stored = Path(__file__).parent / "__snapshots__/test_snapshots/test_secret_screen_masked.svg"
    assert SNAPSHOT_SECRET not in stored.read_text(encoding="utf-8")


def test_rotation_screen(snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[object]) -> None:
        await settle(pilot)
        await pilot.press("ctrl+r")
        await settle(pilot)  # the slots' last-accepted times are read on a worker
        pilot.app.clear_notifications()  # toasts time out: not part of the layout
        await pilot.pause()

    assert snap_compare(sandbox_app(tmp_path), terminal_size=SIZE, run_before=run_before)


def test_history_empty(snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[object]) -> None:
        await settle(pilot)
        await pilot.press("h")
        await settle(pilot)
        pilot.app.clear_notifications()  # toasts time out: not part of the layout
        await pilot.pause()

    assert snap_compare(sandbox_app(tmp_path), terminal_size=SIZE, run_before=run_before)


def test_help(snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[object]) -> None:
        await settle(pilot)
        await pilot.press("f1")
        await pilot.pause()
        pilot.app.clear_notifications()  # toasts time out: not part of the layout
        await pilot.pause()

    assert snap_compare(sandbox_app(tmp_path), terminal_size=SIZE, run_before=run_before)


@pytest.fixture
def first_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A relative config path (so the snapshot does not show tmp_path) and a memory keyring."""
    import keyring

    monkeypatch.chdir(tmp_path)
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    yield Path("config.toml")
    keyring.set_keyring(previous)


def test_settings_first_run(snap_compare, first_run: Path) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[object]) -> None:
        await settle(pilot)  # no config file yet: the settings form opens by itself
        await pilot.press(*"Example.com", "tab")  # invalid: upper case
        await settle(pilot)
        pilot.app.clear_notifications()  # toasts time out: not part of the layout
        steady_cursors(pilot.app)
        await pilot.pause()

    assert snap_compare(
        create_app(config_path=first_run), terminal_size=SIZE, run_before=run_before
    )


def test_settings_filled(snap_compare, first_run: Path) -> None:  # type: ignore[no-untyped-def]
    first_run.write_text(VALID_CONFIG, encoding="utf-8")

    async def run_before(pilot: Pilot[object]) -> None:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        pilot.app.clear_notifications()  # toasts time out: not part of the layout
        steady_cursors(pilot.app)
        await pilot.pause()

    assert snap_compare(
        create_app(config_path=first_run), terminal_size=SIZE, run_before=run_before
    )


# ── 80x24: the smallest terminal an operator is likely to have ─────────────────────────────


def test_small_step_with_pending_plan(snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[object]) -> None:
        await to_step(pilot, 0)  # DNS records: a plan that does not depend on timing
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(sandbox_app(tmp_path), terminal_size=SMALL, run_before=run_before)


def test_small_apply_confirmation(snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[object]) -> None:
        await to_step(pilot, 0)
        await pilot.press("a")
        await settle(pilot)
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(sandbox_app(tmp_path), terminal_size=SMALL, run_before=run_before)


def test_small_rotation_screen(snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[object]) -> None:
        await settle(pilot)
        await pilot.press("ctrl+r")
        await settle(pilot)  # the slots' last-accepted times are read on a worker
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(sandbox_app(tmp_path), terminal_size=SMALL, run_before=run_before)


def test_small_secret_screen_masked(snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[object]) -> None:
        await settle(pilot)
        pilot.app.clear_notifications()  # before the dialog: a toast behind it would stay drawn
        await pilot.pause()
        await pilot.app.push_screen(SecretScreen(SNAPSHOT_SECRET))
        await pilot.pause()
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(sandbox_app(tmp_path), terminal_size=SMALL, run_before=run_before)
    stored = (
        Path(__file__).parent / "__snapshots__/test_snapshots/test_small_secret_screen_masked.svg"
    )
    assert SNAPSHOT_SECRET not in stored.read_text(encoding="utf-8")


def test_small_settings(snap_compare, first_run: Path) -> None:  # type: ignore[no-untyped-def]
    first_run.write_text(VALID_CONFIG, encoding="utf-8")

    async def run_before(pilot: Pilot[object]) -> None:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        pilot.app.clear_notifications()
        steady_cursors(pilot.app)
        await pilot.pause()

    assert snap_compare(
        create_app(config_path=first_run), terminal_size=SMALL, run_before=run_before
    )
