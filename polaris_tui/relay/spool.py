"""The outbox spool: accepted messages appended to one file, made durable one fsync per batch.

A record is ``PRS1``, the payload length and a CRC-32 of length and payload (both u32, big
endian), then the payload: the message's ``.eml`` file name, LF, the message bytes. A crash
mid-append leaves a torn tail that fails the length or checksum test; it was never answered
2xx, so it is cut off at the next start. ``exported`` (next to the spool) holds the offset up
to which records are already ``.eml`` files, so a restart does not export them again.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import struct
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from polaris_tui.errors import CorruptFile, PolarisError
from polaris_tui.fsutil import atomic_write

MAGIC = b"PRS1"
HEADER = struct.Struct(">4sII")
SPOOL_DIR = ".spool"
SPOOL_NAME = "messages.spool"
EXPORTED_NAME = "exported"
NAME_RE = re.compile(rb"[0-9]+-[0-9a-f]{32}\.eml")
# Once every record is exported, a spool larger than this starts again from empty.
COMPACT_AT_BYTES = 16 * 1024 * 1024
EXPORTED_FIX = (
    "delete it to export the whole spool again (messages still in the outbox are rewritten "
    "in place; ones you removed come back)"
)


class OutboxInUse(PolarisError):
    """Another relay appends to this outbox's spool: two would export each other's mail."""

    title = "Outbox in use"
    exit_code = 1

    def __init__(self, outbox: Path) -> None:
        fix = "stop the other `polaris-tui relay`, or give this one another --outbox"
        super().__init__(f"another relay is using the outbox {outbox}; {fix}", guidance=fix)


def private_directory(path: Path) -> Path:
    """``path`` created if missing, and 0700 whatever it was: it holds other people's mail."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def encode_record(name: str, message: bytes) -> bytes:
    payload = name.encode("ascii") + b"\n" + message
    return HEADER.pack(MAGIC, len(payload), _checksum(payload)) + payload


def _checksum(payload: bytes) -> int:
    return zlib.crc32(payload, zlib.crc32(len(payload).to_bytes(4, "big")))


@dataclass(frozen=True)
class Record:
    end: int  # spool offset just past this record
    name: str
    message: bytes


def read_records(data: bytes, start: int) -> Iterator[Record]:
    """The whole records in ``data`` (read at spool offset ``start``), up to the first bad one."""
    pos = 0
    while len(data) - pos >= HEADER.size:
        magic, length, crc = HEADER.unpack_from(data, pos)
        body = pos + HEADER.size
        payload = data[body : body + length]
        if magic != MAGIC or len(payload) != length or _checksum(payload) != crc:
            return
        name, newline, message = payload.partition(b"\n")
        if not newline or not NAME_RE.fullmatch(name):
            return
        pos = body + length
        yield Record(start + pos, name.decode("ascii"), message)


class Spool:
    """The append side (group commit through ``cut``) and the export offset, crash-safe.

    ``lock`` orders appends against compaction; ``changed`` wakes the exporter when a batch
    is durable. Only bytes below ``durable_end`` were ever answered for.
    """

    def __init__(self, outbox: Path) -> None:
        self.directory = private_directory(Path(outbox) / SPOOL_DIR)
        self.path = self.directory / SPOOL_NAME
        self._exported_path = self.directory / EXPORTED_NAME
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self._pending: list[bytes] = []
        self._failed: OSError | None = None
        self.last_append = 0.0  # time.monotonic() of the last batch appended
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:  # released by the kernel when this process ends, however it ends
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise OutboxInUse(Path(outbox)) from None
        os.fchmod(self._fd, 0o600)
        self.exported = self._read_exported()
        self.torn_bytes = 0  # cut off at start: a crash's partial append
        self.durable_end = self._recover()

    def _read_exported(self) -> int:
        try:
            text = self._exported_path.read_bytes()
        except FileNotFoundError:
            return 0
        if not text.isdigit():
            raise CorruptFile(self._exported_path, "not a spool offset", EXPORTED_FIX)
        return int(text)

    def _write_exported(self, offset: int) -> None:
        atomic_write(self._exported_path, str(offset).encode(), 0o600)
        self.exported = offset

    def _recover(self) -> int:
        """Cut a torn tail; restart an interrupted compaction; compact a fully exported spool."""
        size = os.fstat(self._fd).st_size
        if self.exported > size:  # compaction truncated the spool, then stopped: all exported
            self._write_exported(0)
        end = self.exported
        data = os.pread(self._fd, size - end, end)
        for record in read_records(data, end):
            end = record.end
        if end < size:
            self.torn_bytes = size - end
            os.ftruncate(self._fd, end)
            os.fsync(self._fd)
        if 0 < end == self.exported:
            self._compact()
            return 0
        return end

    def _compact(self) -> None:
        """Empty the spool (every record is exported): truncate first, then reset the offset."""
        os.ftruncate(self._fd, 0)
        os.fsync(self._fd)
        self._write_exported(0)

    def add(self, record: bytes) -> None:
        """Queue ``record`` for the next batch; durable once a commit round after this ends."""
        self._pending.append(record)

    def cut(self) -> Callable[[], None]:
        """On the event loop: take the queued records; the returned call appends and fsyncs."""
        batch, self._pending = b"".join(self._pending), []
        return lambda: self._append(batch)

    def _append(self, batch: bytes) -> None:
        with self.lock:
            if self._failed is not None:
                raise OSError(
                    self._failed.errno, f"the outbox spool failed earlier ({self._failed}); "
                    "restart the relay once the disk is fixed"
                )  # fmt: skip
            if not batch:
                return
            try:
                view = memoryview(batch)
                while view:
                    view = view[os.write(self._fd, view) :]
                getattr(os, "fdatasync", os.fsync)(self._fd)  # macOS has only fsync
            except OSError as error:
                # After a failed fsync the kernel may have dropped the pages: trust nothing
                # past durable_end, and take no more mail until a restart has recovered.
                self._failed = error
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, self.durable_end)
                raise
            self.durable_end += len(batch)
            self.last_append = time.monotonic()
            self.changed.notify_all()

    def read(self, start: int, limit: int) -> tuple[list[Record], int]:
        """Durable records from ``start`` (at most ``limit`` bytes read) and where they end."""
        with self.lock:
            end = min(self.durable_end, start + limit)
            data = os.pread(self._fd, end - start, start)
        records = list(read_records(data, start))
        return records, records[-1].end if records else start

    def mark_exported(self, offset: int) -> None:
        """Record that everything below ``offset`` is in the outbox; compact when caught up."""
        with self.lock:
            if offset == self.durable_end and offset >= COMPACT_AT_BYTES:
                self._compact()
                self.durable_end = 0
                return
        self._write_exported(offset)

    def close(self) -> None:
        os.close(self._fd)


def report_torn_tail(spool: Spool) -> None:
    """One line on stderr when start-up cut a torn tail (unacknowledged bytes, not mail)."""
    if spool.torn_bytes:
        print(
            f"polaris-tui relay: {spool.path}: cut a torn last record ({spool.torn_bytes} bytes "
            "a crash left mid-write; it was never acknowledged)",
            file=sys.stderr,
        )
