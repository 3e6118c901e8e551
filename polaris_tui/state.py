"""Tool state per domain: ids of what the tool created, rotation progress. Never secrets."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from polaris_tui.fsutil import atomic_write, read_json_object

FIX = (
    "restore it from a backup, or move it aside to start afresh (the tool then finds its "
    "resources by name again, but deletes of records it created need --allow-delete)"
)


class StateStore:
    """A small JSON document, re-read on every access and written atomically on every change.

    Steps of one ``apply all`` run at the same time and write their own keys (kv its ids,
    every step what it owns): each read-modify-write holds the lock, so one step's write
    never drops another's. Across processes the apply lock keeps one writer per domain.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()

    def load(self) -> dict[str, Any]:
        """The document; a damaged file raises CorruptFile and is never overwritten."""
        try:
            return read_json_object(self.path, FIX)
        except FileNotFoundError:
            return {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.load().get(key, default)

    def set(self, key: str, value: Any) -> None:
        with self._lock:
            data = self.load()
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value
            atomic_write(self.path, json.dumps(data, indent=2, sort_keys=True).encode("utf-8"))

    def owned(self, kind: str) -> set[str]:
        """Identifiers of resources of ``kind`` the tool created (for safe deletes)."""
        return set(self.get("owned", {}).get(kind, []))

    def mark_owned(self, kind: str, ident: str) -> None:
        with self._lock:
            owned = self.get("owned", {})
            owned.setdefault(kind, [])
            if ident not in owned[kind]:
                owned[kind].append(ident)
            self.set("owned", owned)

    def forget_owned(self, kind: str, ident: str) -> None:
        """After the tool removed the resource: it is no longer there to own."""
        with self._lock:
            owned = self.get("owned", {})
            if ident in owned.get(kind, []):
                owned[kind].remove(ident)
                self.set("owned", owned)
