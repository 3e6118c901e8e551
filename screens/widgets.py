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
    first check it explains (five checks failing for one reason get one box, not five).

    With ``titles`` (step id → title) the failures come first, grouped under their step,
    then the passes: what needs the operator is never pages down.
    """

    def show(
        self,
        checks: Iterable[Check],
        *,
        empty: str = "No checks ran yet.",
        titles: Mapping[str, str] | None = None,
    ) -> None:
        """Render ``checks``, or ``empty`` when there are none."""
        self.remove_children()
        checks = list(checks)
        rows: list[Static] = []
        explained: dict[str, str] = {}  # guidance text -> the first check it was shown under
        if titles is None:
            for c in checks:
                rows += self._rows(c, explained)
        else:
            order = {step: i for i, step in enumerate(titles)}
            for failed in (True, False):
                chosen = sorted(
                    (c for c in checks if c.ok is not failed), key=lambda c: order.get(c.step, 99)
                )
                if chosen:
                    what = "Failing" if failed else "Passing"
                    rows.append(Static(f"[b]{what} ({len(chosen)})[/b]", classes="heading"))
                step = None
                for c in chosen:
                    if c.step != step:
                        step = c.step
                        count = sum(x.step == step for x in chosen)
                        rows.append(
                            Static(
                                f"[b]{escape(titles.get(step, step))}[/b] — {count} "
                                + ("failed" if failed else "passed"),
                                classes="check-group",
                            )
                        )
                    rows += self._rows(c, explained)
        if not rows:
            rows.append(Static(empty, classes="muted"))
        self.mount_all(rows)

    @staticmethod
    def _rows(c: Check, explained: dict[str, str]) -> list[Static]:
        from screens.wording import for_tui

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
        rows: list[Static] = [Static(line, classes=f"check-row {state}")]
        if state == "bad" and c.guidance and not first:
            explained[c.guidance] = c.id
            rows.append(GuidanceBox(c.guidance))
        return rows

    def mark_stale(self, observed: float, *, key: str = "c") -> None:
        """The results on screen predate the newest observation: say so above them."""
        import datetime as dt

        if not self.query(".check-row") or self.query(".stale-note"):
            return
        when = dt.datetime.fromtimestamp(observed).strftime("%H:%M:%S")
        self.mount(
            Static(
                f"[b yellow]⚠ stale:[/b yellow] these results are older than the observation "
                f"of {when}; press [b]{key}[/b] to run them again.",
                classes="stale-note",
            ),
            before=0,
        )


class FactsView(Static):
    """What exists now, from ``inspect``: one readable line per fact."""

    def show(self, summary: str, state: str, facts: Mapping[str, Any]) -> None:
        from screens.readable import fact_lines, readable_error
        from screens.wording import for_tui

        said = readable_error(for_tui(summary))[0]  # the raw body is in the failure below
        lines = [f"[b]State:[/b] {escape(state)} — {escape(said)}"]
        lines += [f"  {escape(line)}" for line in fact_lines(facts)]
        self.update("\n".join(lines))
