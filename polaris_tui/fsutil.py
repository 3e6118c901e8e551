"""Atomic file writes and strict reads: a crash or a kill never leaves a half-written config,
state or message, and a damaged file is named with its fix rather than a traceback."""

from __future__ import annotations

import json
import os
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

from polaris_tui.errors import CorruptFile


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
    fsync_path(directory)


def fsync_path(path: Path) -> None:
    """Make what was written to the file (or directory) at ``path`` so far durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_text(path: Path, fix: str) -> str:
    """The file as UTF-8 text; bytes that are not UTF-8 raise CorruptFile naming the offset."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptFile(
            path, f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})", fix
        ) from None


def read_json_object(path: Path, fix: str) -> dict[str, Any]:
    """A JSON file holding one object; anything else raises CorruptFile with ``fix``.

    FileNotFoundError passes through: a missing file is the caller's ordinary first run.
    """
    try:
        data = json.loads(read_text(path, fix))
    except json.JSONDecodeError as exc:
        raise CorruptFile(
            path, f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})", fix
        ) from None
    except RecursionError:
        raise CorruptFile(path, "not valid JSON (nested too deeply)", fix) from None
    if not isinstance(data, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean"}.get(type(data), "a value")
        raise CorruptFile(path, f"holds {kind}, not a JSON object", fix)
    return data
