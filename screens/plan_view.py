"""The plan, one block per change with before and after in full (imported when a plan is first
shown, not before the first frame).

A table cuts values at any width an operator is likely to have; here every value wraps under
its label, so an 80-column terminal shows the whole of what will change.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

if TYPE_CHECKING:
    from polaris_tui.steps.base import Change

ACTION_STYLES = {
    "create": "bold green",
    "update": "bold yellow",
    "delete": "bold red",
    "noop": "dim",
}
ACTION_SIGNS = {"create": "+", "update": "~", "delete": "-", "noop": "="}


def plan_renderable(changes: Iterable[Change]) -> Table:
    """Each change as a heading line (sign, action, kind, target) then labelled, wrapped
    before / after / note lines; a no-op is its heading only, on one line, in dim."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=1, no_wrap=True)
    grid.add_column(width=6, no_wrap=True)
    grid.add_column(ratio=1, overflow="fold")
    for c in changes:
        action = str(c.action)
        style = ACTION_STYLES.get(action, "")
        heading = Text.assemble((c.kind, "bold" if action != "noop" else "dim"), " ", c.target)
        if action == "noop":  # already right: one line is enough
            heading.no_wrap, heading.overflow = True, "ellipsis"
        grid.add_row(
            Text(ACTION_SIGNS.get(action, "?"), style=style), Text(action, style=style), heading
        )
        if action == "noop":
            continue
        before, after = c.before_text(), c.after_text()
        if c.before is not None:
            grid.add_row("", Text("before", style="dim"), Text(before or "—", style="red"))
        if c.after is not None:
            grid.add_row("", Text("after", style="dim"), Text(after or "—", style="green"))
        note = (c.note + ("" if c.owned else " (not created by polaris-tui)")).strip()
        if note:
            grid.add_row("", Text("note", style="dim"), Text(note, style="italic"))
    return grid


def plans_renderable(sections: Iterable[tuple[str, list[Change]]]) -> Group:
    """Several steps' plans, one after the other, each under its step's title and count."""
    parts: list[Text | Table] = []
    for title, changes in sections:
        if parts:
            parts.append(Text(""))
        parts.append(Text.assemble((title, "bold underline"), f"  {len(changes)} change(s)"))
        parts.append(plan_renderable(changes))
    return Group(*parts)


class PlanView(VerticalScroll):
    """The plan; focusable and scrollable, so a long plan can be read in a small dialog.

    ``sections`` (step title, changes) shows several steps' plans in one view, for apply-all.
    """

    def __init__(
        self,
        changes: Iterable[Change] = (),
        *,
        sections: Iterable[tuple[str, list[Change]]] = (),
        id: str | None = None,
        classes: str = "",
    ) -> None:
        super().__init__(id=id, classes=classes)
        self._changes = list(changes)
        self._sections = list(sections)

    def compose(self):  # type: ignore[no-untyped-def]
        shown = (
            plans_renderable(self._sections) if self._sections else plan_renderable(self._changes)
        )
        yield Static(shown, classes="plan-text")
