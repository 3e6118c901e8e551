"""A keyring backend that lives inside the sandbox directory.

The sandbox must never touch the operator's real keyring, yet the app reads its
credentials through the same vault code path. This backend stores them in one JSON
file (mode 0600) under the sandbox directory. It is never auto-selected (priority 0), and
the vault refuses it unless the session that runs the sandbox hands it over explicitly.
The sandbox process and the command's process both write it, so every read-modify-write
holds a file lock beside the file as well as this process's own.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

from polaris_tui.fsutil import atomic_write, read_json_object
from polaris_tui.sandbox import KEYRING_NAME

RESET_FIX = "run `polaris-tui sandbox reset` to start from a fresh demo account and credentials"


class SandboxKeyring(KeyringBackend):
    """JSON-file keyring scoped to one sandbox directory."""

    priority = 0  # type: ignore[assignment]

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = Path(path)
        self._thread_lock = threading.RLock()
        self._file_lock = FileLock(self.path.with_name(self.path.name + ".lock"))

    @classmethod
    def in_folder(cls, directory: Path) -> SandboxKeyring:
        """The keyring of the sandbox in ``directory``."""
        return cls(Path(directory) / KEYRING_NAME)

    @contextmanager
    def _lock(self) -> Iterator[None]:
        with self._thread_lock, self._file_lock:
            yield

    def _load(self) -> dict[str, dict[str, str]]:
        try:
            return read_json_object(self.path, RESET_FIX)
        except FileNotFoundError:
            return {}

    def _save(self, data: dict[str, dict[str, str]]) -> None:
        atomic_write(self.path, json.dumps(data, indent=1, sort_keys=True).encode(), 0o600)

    def get_password(self, service: str, username: str) -> str | None:
        with self._lock():
            return self._load().get(service, {}).get(username)

    def set_password(self, service: str, username: str, password: str) -> None:
        with self._lock():
            data = self._load()
            data.setdefault(service, {})[username] = password
            self._save(data)

    def delete_password(self, service: str, username: str) -> None:
        with self._lock():
            data = self._load()
            entries = data.get(service, {})
            if username not in entries:
                raise PasswordDeleteError(f"no sandbox credential {username!r} for {service!r}")
            del entries[username]
            if not entries:
                del data[service]
            self._save(data)

    def delete_service(self, service: str) -> None:
        """Drop every credential of one service (used when a Worker script is deleted)."""
        with self._lock():
            data = self._load()
            if data.pop(service, None) is not None:
                self._save(data)

    def entries(self, service: str) -> dict[str, str]:
        """All username -> secret pairs of one service."""
        with self._lock():
            return dict(self._load().get(service, {}))
