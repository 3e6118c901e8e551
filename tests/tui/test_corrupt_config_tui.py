"""A damaged config opens the TUI with the file named and the fix, never a crash."""

from __future__ import annotations

from pathlib import Path

from screens.app import create_app
from tests.tui.conftest import SIZE, settle


async def test_non_utf8_config_is_named_in_the_tui(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b'domain = "caf\xe9.example"\n')
    app = create_app(config_path=path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        messages = [n.message for n in app._notifications]
        assert any(str(path) in m and "not UTF-8" in m for m in messages), messages
    assert path.read_bytes() == b'domain = "caf\xe9.example"\n'
