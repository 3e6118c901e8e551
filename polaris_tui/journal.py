"""The apply journal: one JSON line per apply (never secret values), read back by `status`."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


class Recorded(Protocol):
    """What the journal keeps of a change (a step's ``Change``): its JSON form. A protocol
    rather than an import, so the journal sits below the steps that write to it."""

    def to_json(self) -> dict[str, Any]: ...


log = logging.getLogger(__name__)
LAST_TIMESTAMP = 253402300799  # 9999-12-31: later (or NaN) times are not ones the tool wrote


@dataclass(frozen=True)
class JournalEntry:
    time: float
    domain: str
    step: str
    outcome: str  # "ok" | "failed"
    changes: list[dict[str, Any]]
    detail: str = ""


class Journal:
    """Append-only JSON lines; each line is written with one write() + fsync.

    The steps of one ``apply all`` run side by side, and the TUI's workers append from
    threads of their own: the check for a torn last line and the write hold a lock, so a line
    is never split by another (on Windows the C runtime's O_APPEND is a seek then a write,
    which two threads could interleave). Other
    processes (applies to other domains share the file) append with one O_APPEND write()
    each, which a POSIX kernel does not interleave.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def append(
        self, domain: str, step: str, outcome: str, changes: list[Recorded], detail: str = ""
    ) -> None:
        record = {
            "time": time.time(),
            "domain": domain,
            "step": step,
            "outcome": outcome,
            "changes": [c.to_json() for c in changes],
            "detail": detail,
        }
        line = (json.dumps(record, sort_keys=True, default=str) + "\n").encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                if os.fstat(fd).st_size:
                    os.lseek(fd, -1, os.SEEK_END)
                    if os.read(fd, 1) != b"\n":
                        line = b"\n" + line  # after a torn last line, start a line of our own
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)

    def entries(self, domain: str | None = None) -> list[JournalEntry]:
        """Every readable entry; a damaged line is skipped with a warning naming it, not fatal."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        out = []
        for number, raw in enumerate(data.splitlines(), 1):
            if not raw.strip():
                continue
            entry = _parse(raw)
            if entry is None:
                log.warning(
                    "%s line %d is not a journal entry (a torn write or an edit); skipped it. "
                    "Delete that line to silence this warning.",
                    self.path,
                    number,
                )
            elif domain is None or entry.domain == domain:
                out.append(entry)
        return out

    def last_outcomes(self, domain: str) -> dict[str, JournalEntry]:
        """The most recent apply per step."""
        return {e.step: e for e in self.entries(domain)}


def _parse(raw: bytes) -> JournalEntry | None:
    """One line as an entry, or None when it is not one the tool wrote."""
    try:
        rec = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    if not isinstance(rec, dict):
        return None
    changes, detail = rec.get("changes", []), rec.get("detail", "")
    when = rec.get("time")
    if (
        isinstance(when, bool)
        or not isinstance(when, int | float)
        or not 0 <= when <= LAST_TIMESTAMP
        or not all(isinstance(rec.get(k), str) for k in ("domain", "step", "outcome"))
        or not isinstance(changes, list)
        or not isinstance(detail, str)
    ):
        return None
    return JournalEntry(float(when), rec["domain"], rec["step"], rec["outcome"], changes, detail)
