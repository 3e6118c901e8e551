"""History: the journal of applies for the active domain, newest first (the app connects
it to the session's Context)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static
from textual.worker import Worker, WorkerState

if TYPE_CHECKING:
    from polaris_tui.context import Context
    from polaris_tui.journal import JournalEntry
    from polaris_tui.steps.base import Step


class HistoryPanel(Vertical):
    class Read(Message):
        def __init__(self, entries: list[JournalEntry]) -> None:
            super().__init__()
            self.entries = entries

    def __init__(self) -> None:
        super().__init__(id="panel-history", classes="panel")
        self.ctx: Context | None = None

    def connect(self, ctx: Context, steps: list[Step]) -> None:
        """Same shape as the other panels; history needs only the journal."""
        self.ctx = ctx

    def compose(self) -> ComposeResult:
        yield Static("[b]History[/b]", classes="title")
        yield Static("Every apply, newest first, from the journal.", classes="purpose")
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
        for e in reversed(message.entries):
            when = dt.datetime.fromtimestamp(e.time).strftime("%Y-%m-%d %H:%M:%S")
            style = "green" if e.outcome == "ok" else "bold red"
            table.add_row(when, e.step, Text(e.outcome, style=style), str(len(e.changes)), e.detail)
        if not message.entries:
            table.add_row("", "", "", "", "no applies yet")
