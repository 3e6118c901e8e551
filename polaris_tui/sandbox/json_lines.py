"""One JSON object per line over a pipe: how the sandbox talks with the processes it runs
(the Worker host) and how the CLI and the TUI talk with the sandbox process."""

from __future__ import annotations

import json
import queue
from typing import IO, Any


def read_json_lines(stream: IO[str], lines: queue.Queue[dict[str, Any] | None]) -> None:
    """Put each JSON line of ``stream`` on ``lines`` (others are skipped), then None at EOF:
    the reader's thread body, so a waiter learns the process is gone."""
    for line in stream:
        try:
            lines.put(json.loads(line))
        except ValueError:
            continue
    lines.put(None)
