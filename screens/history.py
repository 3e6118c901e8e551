"""History: the journal of applies for the active domain, newest first (the app connects
it to the session's Context); Enter on a row opens that entry's changes and detail."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Static
from textual.worker import Worker, WorkerState

from screens.widgets import escape

if TYPE_CHECKING:
    from polaris_tui.context import Context
    from polaris_tui.journal import JournalEntry
    from polaris_tui.steps.base import Change, Step


class HistoryPanel(Vertical):
    class Read(Message):
        def __init__(self, entries: list[JournalEntry]) -> None:
            super().__init__()
            self.entries = entries

    def __init__(self) -> None:
        super().__init__(id="panel-history", classes="panel")
        self.ctx: Context | None = None
        self.shown: list[JournalEntry] = []  # the table's rows, in order

    def connect(self, ctx: Context, steps: list[Step]) -> None:
        """Same shape as the other panels; history needs only the journal."""
        self.ctx = ctx

    def compose(self) -> ComposeResult:
        yield Static("[b]History[/b]", classes="title")
        yield Static(
            "Every apply, newest first, from the journal; Enter opens one.", classes="purpose"
        )
        yield DataTable(id="history-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("when", "step", "outcome", "changes", "detail")

    def reload(self) -> None:
        if self.ctx is not None:
            self._read()

    @work(thread=True, exclusive=True, group="history", exit_on_error=False)
    def _read(self) -> None:
        ctx = self.ctx
        assert ctx is not None
        self.post_message(self.Read(ctx.journal.entries(ctx.config.domain)))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The journal could not be read: say so in the table, keep the app."""
        if event.state is not WorkerState.ERROR or event.worker.node is not self:
            return
        table = self.query_one(DataTable)
        table.clear()
        error = event.worker.error
        table.add_row("", "", "", "", f"the journal could not be read: {type(error).__name__}")

    def on_history_panel_read(self, message: Read) -> None:
        table = self.query_one(DataTable)
        table.clear()
        self.shown = list(reversed(message.entries))
        for e in self.shown:
            when = dt.datetime.fromtimestamp(e.time).strftime("%Y-%m-%d %H:%M:%S")
            style = "green" if e.outcome == "ok" else "bold red"
            table.add_row(when, e.step, Text(e.outcome, style=style), str(len(e.changes)), e.detail)
        if not message.entries:
            table.add_row("", "", "", "", "no applies yet")

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if 0 <= event.cursor_row < len(self.shown):
            self.app.push_screen(JournalEntryScreen(self.shown[event.cursor_row]))


def _when(entry: JournalEntry) -> str:
    return dt.datetime.fromtimestamp(entry.time).strftime("%Y-%m-%d %H:%M:%S")


def _change(recorded: dict[str, Any]) -> Change | None:
    """A journal change back as a ``Change`` to render like a plan (None if it is not one)."""
    from polaris_tui.steps.base import Action, Change

    try:
        return Change(
            Action(recorded["action"]),
            str(recorded["kind"]),
            str(recorded["target"]),
            recorded.get("before"),
            recorded.get("after"),
            str(recorded.get("note") or ""),
            bool(recorded.get("owned", True)),
        )
    except (KeyError, ValueError, TypeError):
        return None


class JournalEntryScreen(ModalScreen[None]):
    """One journal entry: when, which step, how it ended, its detail and every change."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter", "close", "Close", id="entry-close", tooltip="Back to history"),
    ]

    def __init__(self, entry: JournalEntry) -> None:
        super().__init__()
        self.entry = entry

    def compose(self) -> ComposeResult:
        from screens.plan_view import PlanView

        e = self.entry
        style = "green" if e.outcome == "ok" else "bold red"
        parsed = [(raw, _change(raw)) for raw in e.changes]
        changes = [c for _, c in parsed if c is not None]
        with VerticalScroll(id="entry-dialog"):
            yield Static(
                f"[b]{escape(e.step)}[/b] — [{style}]{escape(e.outcome)}[/{style}] at {_when(e)}",
                classes="title",
            )
            yield Static(escape(e.detail or "(no detail)"), id="entry-detail")
            yield Static(f"[b]{len(e.changes)} change(s)[/b]", classes="heading")
            yield PlanView(changes, id="entry-changes")
            for raw, change in parsed:
                if change is None:  # written by an older version: shown as it was kept
                    yield Static(escape(str(raw)), classes="muted")
        yield Footer()

    def action_close(self) -> None:
        self.dismiss(None)
