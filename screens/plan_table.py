"""The plan as a diff table (imported when a plan is first shown, not before the first frame)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import DataTable

from screens.widgets import short

if TYPE_CHECKING:
    from polaris_tui.steps.base import Change

ACTION_STYLES = {
    "create": "bold green",
    "update": "bold yellow",
    "delete": "bold red",
    "noop": "dim",
}
ACTION_SIGNS = {"create": "+", "update": "~", "delete": "-", "noop": "="}


class PlanTable(DataTable[Text]):
    """The plan as a diff: one row per change, coloured by action, before and after."""

    def __init__(
        self, changes: Iterable[Change] = (), *, id: str | None = None, classes: str = ""
    ) -> None:
        super().__init__(
            id=id, classes=classes, zebra_stripes=False, cursor_type="row", show_cursor=False
        )
        self._initial = list(changes)

    def on_mount(self) -> None:
        self.add_columns("", "action", "kind", "target", "before", "after", "note")
        self.show(self._initial)

    def show(self, changes: Iterable[Change]) -> None:
        self.clear()
        for c in changes:
            action = str(c.action)
            style = ACTION_STYLES.get(action, "")
            note = c.note + ("" if c.owned else " (not created by polaris-tui)")
            self.add_row(
                Text(ACTION_SIGNS.get(action, "?"), style=style),
                Text(action, style=style),
                Text(c.kind),
                Text(c.target),
                Text(short(c.before_text(), 36), style="red" if action != "noop" else "dim"),
                Text(short(c.after_text(), 36), style="green" if action != "noop" else "dim"),
                Text(note.strip(), style="italic"),
            )
