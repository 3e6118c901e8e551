"""Progress of long work (imported when work first starts, not before the first frame)."""

from __future__ import annotations

import re
import time

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import ProgressBar, Static

from screens.widgets import escape

OWN_CLOCK = re.compile(r"\(\d+ s of \d+ s\)$")
"""A wait's message that ends with its own elapsed of its limit (``polaris_tui.waiting``)."""


class ProgressLine(Vertical):
    """A bar (or a pulse when the fraction is unknown), the latest message and elapsed time."""

    DEFAULT_CLASSES = "progress-line"

    def __init__(self, message: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._started = time.monotonic()
        self._message = message
        self._fraction: float | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="progress-message")  # wraps: the limit is at the end of a long line
        yield ProgressBar(total=None, show_eta=False, id="progress-bar")

    def on_mount(self) -> None:
        self.set_interval(0.5, self._tick)
        self._show()

    def report(self, message: str, fraction: float | None) -> None:
        self._message, self._fraction = message, fraction
        if self.is_mounted:
            self._show()

    def _show(self) -> None:
        bar = self.query_one(ProgressBar)
        if self._fraction is None:
            bar.update(total=None)
        else:
            bar.update(total=100, progress=max(0.0, min(1.0, self._fraction)) * 100)
        self._tick()

    def _tick(self) -> None:
        elapsed = time.monotonic() - self._started
        clock = "" if OWN_CLOCK.search(self._message) else f"  [dim]({elapsed:.0f}s elapsed)[/dim]"
        self.query_one("#progress-message", Static).update(escape(self._message) + clock)
