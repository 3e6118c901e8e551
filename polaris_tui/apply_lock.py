"""One apply per domain at a time, across processes: the CLI and the TUI take the same lock.

Two applies planned from the same state both create what is missing (two SPF records at the
apex). The lock is an OS file lock in the domain's state folder, so the kernel releases it
when its holder dies, even by SIGKILL: a stale lock cannot exist. Beside it, a small JSON
file says who holds it (pid, command, since) for the message the second apply shows.
POSIX uses ``fcntl.flock``, Windows ``msvcrt.locking``; both are imported only where used.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from polaris_tui.errors import PolarisError
from polaris_tui.fsutil import atomic_write

LOCK_NAME = "apply.lock"
HOLDER_NAME = "apply.lock.json"
POLL_SECONDS = 0.2
QUEUE = "wait for it to finish, or re-run with --wait to queue behind it"


class ApplyLocked(PolarisError):
    """Another process is applying to this domain; says which, and how to wait for it."""

    title = "Apply in progress"
    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message, guidance=QUEUE)


def _try_lock(handle: IO[bytes]) -> bool:
    """Take the lock without blocking; False when another process holds it."""
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock(handle: IO[bytes]) -> None:
    if sys.platform == "win32":
        import msvcrt

        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def holder(directory: Path) -> str:
    """Who holds the lock, as said to the operator (best effort: the file may be mid-write)."""
    try:
        info = json.loads((directory / HOLDER_NAME).read_text(encoding="utf-8"))
        return f"pid {info['pid']} ({info['command']}) since {info['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process (it has not said which yet)"


@contextmanager
def apply_lock(
    directory: Path,
    command: str,
    *,
    wait: bool = False,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold the domain's apply lock for the block; ``command`` says what this process runs.

    Without ``wait`` a held lock raises ApplyLocked naming its holder; with it, ``on_wait`` is
    told once who is being waited for and the call returns when the lock is free.
    """
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / LOCK_NAME, "a+b") as handle:
        if not _try_lock(handle):
            who = holder(directory)
            if not wait:
                raise ApplyLocked(f"another apply to this domain is running: {who}; {QUEUE}")
            if on_wait is not None:
                on_wait(who)
            while not _try_lock(handle):
                time.sleep(POLL_SECONDS)
        try:
            since = datetime.now(UTC).isoformat(timespec="seconds")
            info = {"pid": os.getpid(), "command": command, "since": since}
            atomic_write(directory / HOLDER_NAME, json.dumps(info).encode("utf-8"), 0o600)
            yield
        finally:
            (directory / HOLDER_NAME).unlink(missing_ok=True)
            _unlock(handle)
