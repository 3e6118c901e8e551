"""NO_COLOR (no-color.org): the TUI draws in monochrome, as Textual does for it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from screens.app import create_app
from tests.conftest import VALID_CONFIG, MemoryKeyring
from tests.tui.conftest import SIZE, settle

# The screen's cell styles (the SVG frame's window buttons are drawn in colour regardless).
HEX = re.compile(r"\{ fill: #([0-9a-fA-F]{2})([0-9a-fA-F]{2})([0-9a-fA-F]{2})\b")


def _colours(svg: str) -> set[tuple[int, int, int]]:
    return {tuple(int(part, 16) for part in m.groups()) for m in HEX.finditer(svg)}  # type: ignore[misc]


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    import keyring

    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    path = tmp_path / "config.toml"
    path.write_text(VALID_CONFIG, encoding="utf-8")
    yield path
    keyring.set_keyring(previous)


@pytest.mark.parametrize("no_color", [True, False])
async def test_no_color_draws_only_greys(
    config_path: Path, monkeypatch: pytest.MonkeyPatch, no_color: bool
) -> None:
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)
    app = create_app(config_path=config_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        coloured = {c for c in _colours(app.export_screenshot()) if max(c) - min(c) > 8}
    # Without NO_COLOR the same screen has colour: the check can tell the two apart.
    assert (not coloured) is no_color, sorted(coloured)[:5]
