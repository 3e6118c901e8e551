"""The apply journal: one JSON line per apply (never secret values), read back by `status`."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


class Recorded(Protocol):
    """What the journal keeps of a change (a step's ``Change``): its JSON form. A protocol
    rather than an import, so the journal sits below the steps that write to it."""

    def to_json(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class JournalEntry:
    time: float
    domain: str
    step: str
    outcome: str  # "ok" | "failed"
    changes: list[dict[str, Any]]
    detail: str = ""


class Journal:
    """Append-only JSON lines; each line is written with one write() + fsync."""

    def __init__(self, path: Path) -> None:
        self.path = path

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
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def entries(self, domain: str | None = None) -> list[JournalEntry]:
        if not self.path.exists():
            return []
        out = []
        for raw in self.path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(raw)
            except json.JSONDecodeError:
                continue  # a torn last line from a crash is skipped, not fatal
            if domain is None or rec.get("domain") == domain:
                out.append(
                    JournalEntry(
                        rec["time"],
                        rec["domain"],
                        rec["step"],
                        rec["outcome"],
                        rec.get("changes", []),
                        rec.get("detail", ""),
                    )
                )
        return out

    def last_outcomes(self, domain: str) -> dict[str, JournalEntry]:
        """The most recent apply per step."""
        return {e.step: e for e in self.entries(domain)}
