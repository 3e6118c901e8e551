"""fsutil: atomic writes create missing directories, set the mode and leave no temp file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from polaris_tui.fsutil import atomic_write, write_and_rename


def test_atomic_write_makes_missing_directories_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "file.txt"
    atomic_write(target, b"one", 0o640)
    atomic_write(target, b"two", 0o640)
    assert target.read_bytes() == b"two"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert [entry.name for entry in target.parent.iterdir()] == ["file.txt"]


def test_write_and_rename_under_a_file_fails_and_leaves_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    with pytest.raises(OSError):
        write_and_rename(blocker / "outbox" / "m.eml", b"x")
    assert [entry.name for entry in tmp_path.iterdir()] == ["not-a-dir"]
