"""The README stays true: its two set-up commands, and a token permission table that names
every permission the steps' troubleshooting asks for."""

from __future__ import annotations

import re
from pathlib import Path

from polaris_tui.steps.catalog import STEPS

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
PERMISSION = re.compile(r"(?:Zone|Account) · [^·]+? · (?:Edit|Read)")


def test_the_first_block_is_the_two_set_up_commands() -> None:
    block = README.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#", 1)[0].strip() for line in block.splitlines()]
    assert commands == ["uv run polaris-tui --sandbox", "uv run pytest"]


def _permission_table() -> dict[str, str]:
    section = README.split("## Before the first run", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and PERMISSION.fullmatch(cells[0]):
            rows[cells[0]] = cells[1]
    return rows


def test_the_token_table_names_each_steps_permissions() -> None:
    table = _permission_table()
    assert "Zone · Zone · Read" in table
    for info in STEPS:
        for permission in PERMISSION.findall(info.permission):
            assert permission in table, (info.id, permission)
            assert f"`{info.id}`" in table[permission], (info.id, permission)
