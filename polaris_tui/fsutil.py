"""Atomic file writes: a crash or a kill never leaves a half-written config, state or message."""

from __future__ import annotations

import os
import tempfile
from functools import partial
from pathlib import Path


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` via a temp file in the same directory, fsync, then rename."""
    path = Path(path)
    write_and_rename(path, data, mode)
    fsync_directory(path.parent)


def write_and_rename(path: Path, data: bytes, mode: int = 0o600) -> None:
    """atomic_write without the final directory fsync, for callers that share one (group commit).

    The rename is not durable until the directory has been fsynced.
    """
    make_temp = partial(tempfile.mkstemp, prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        fd, tmp = make_temp()
    except FileNotFoundError:  # make the directory when missing, not a check on every write
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = make_temp()
    try:
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fsync_directory(directory: Path) -> None:
    """Make the entries renamed into ``directory`` so far durable."""
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
