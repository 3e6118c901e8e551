"""Widgets every screen shares: the checks list, failures with their guidance, facts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Button, Collapsible, Static

if TYPE_CHECKING:
    from polaris_tui.steps.base import Check
    from polaris_tui.troubleshooting import Entry


def escape(text: str) -> str:
    """Engine text shown literally inside Textual markup (every bracket escaped)."""
    return text.replace("[", "\\[")


class DialogButton(Button):
    """A dialog button that Space presses as well as Enter, as operators expect."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter,space", "press", "Press button", show=False)
    ]


class GuidanceBox(Static):
    """The troubleshooting entry for a failure, shown right under it."""

    DEFAULT_CLASSES = "guidance"

    def __init__(self, text: str, *, title: str = "What to do", id: str | None = None) -> None:
        from screens.wording import for_tui  # with the first failure, not before frame one

        super().__init__(escape(for_tui(text)), id=id)
        self.border_title = title

    @classmethod
    def from_entry(cls, entry: Entry, *, id: str | None = None) -> GuidanceBox:
        from screens.wording import for_tui

        parts = [
            f"[b]{escape(entry.title)}[/b]",
            f"[b]What it means:[/b] {escape(for_tui(entry.meaning))}",
            f"[b]Fix:[/b] {escape(for_tui(entry.fix))}",
        ]
        if entry.compare:
            parts.append(f"[b]Compare:[/b] [reverse] {escape(entry.compare)} [/reverse]")
        box = cls("", id=id)
        box.update("\n".join(parts))
        return box


class FailureView(Vertical):
    """A failed operation: the message, then its guidance (or a note that none matched)."""

    DEFAULT_CLASSES = "failure"

    def __init__(
        self, message: str, entry: Entry | None, *, id: str | None = None, classes: str = ""
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.message = message
        self.entry = entry

    def compose(self) -> ComposeResult:
        from screens.readable import readable_error
        from screens.wording import for_tui

        sentence, raw = readable_error(for_tui(self.message))
        yield Static(Text("✘ " + sentence, style="bold red"), classes="failure-message")
        if raw:
            with Collapsible(title="details (the API's answer)", collapsed=True):
                yield Static(Text(raw), classes="muted")
        if self.entry is not None:
            yield GuidanceBox.from_entry(self.entry)


class ChecksView(Vertical):
    """Checks with pass/fail, time taken and detail; the guidance for a cause once, under the
    first check it explains (five checks failing for one reason get one box, not five)."""

    def show(self, checks: Iterable[Check], *, empty: str = "No checks ran yet.") -> None:
        """Render ``checks``, or ``empty`` when there are none."""
        from screens.wording import for_tui

        self.remove_children()
        rows: list[Static] = []
        explained: dict[str, str] = {}  # guidance text -> the first check it was shown under
        for c in checks:
            if c.ok:
                mark, state = Text("✔ PASS   ", style="bold green"), "ok"
            else:
                mark, state = Text("✘ FAIL   ", style="bold red"), "bad"
            line = Text.assemble(mark, f" {c.ms:6.0f} ms  ", (c.id, "bold"))
            detail = for_tui(c.detail)
            line.append("\n" + " " * 20 + detail, style="red" if state == "bad" else "dim")
            first = explained.get(c.guidance) if c.guidance else None
            if state == "bad" and first:
                line.append(f"\n{' ' * 20}same cause as {first}: see What to do there", "italic")
            rows.append(Static(line, classes=f"check-row {state}"))
            if state == "bad" and c.guidance and not first:
                explained[c.guidance] = c.id
                rows.append(GuidanceBox(c.guidance))
        if not rows:
            rows.append(Static(empty, classes="muted"))
        self.mount_all(rows)


class FactsView(Static):
    """What exists now, from ``inspect``: one readable line per fact."""

    def show(self, summary: str, state: str, facts: Mapping[str, Any]) -> None:
        from screens.readable import fact_lines, readable_error
        from screens.wording import for_tui

        said = readable_error(for_tui(summary))[0]  # the raw body is in the failure below
        lines = [f"[b]State:[/b] {escape(state)} — {escape(said)}"]
        lines += [f"  {escape(line)}" for line in fact_lines(facts)]
        self.update("\n".join(lines))
