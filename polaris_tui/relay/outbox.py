"""The relay's outbox: durable in the spool before the 202, readable as ``.eml`` files after.

Why an exporter rather than a spool reader command: the operator (and `send-test`, the demo,
the docs) already read the outbox as one ``.eml`` per message with any mail tool; a
background thread keeps that, off the request path. It writes each file under a temp name
(0600, fsynced), renames it, fsyncs the directory, and only then advances the spool's
``exported`` offset. A crash in between re-exports under the same file name: the file is
rewritten in place, never duplicated.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
import uuid
from pathlib import Path

from polaris_tui.fsutil import fsync_directory
from polaris_tui.relay.group_commit import GroupCommit
from polaris_tui.relay.spool import Record, Spool, encode_record, private_directory

EXPORT_CHUNK_BYTES = 4 * 1024 * 1024  # above the largest record (a 64 KiB body as MIME)
RETRY_SECONDS = 1.0
EXPORTER_NICENESS = 10  # added to the relay's own: a lower CPU priority
QUIET_SECONDS = 0.05  # export once no batch has been appended for this long
MAX_LAG_SECONDS = 2.0  # or once records have waited this long, whatever the traffic


def remove_partial_files(directory: Path) -> None:
    """Temp files a crash left mid-export: their records are still in the spool."""
    for partial in directory.glob(".*.eml.*.tmp"):
        partial.unlink(missing_ok=True)


def export_records(directory: Path, records: list[Record]) -> None:
    """Each record as ``directory/<name>``, atomically; all written before any is fsynced.

    Writing the batch first lets the filesystem commit its journal once for all of them.
    """
    staged: list[tuple[int, Path, Path]] = []
    try:
        for record in records:
            tmp = directory / f".{record.name}.export.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            staged.append((fd, tmp, directory / record.name))
            os.fchmod(fd, 0o600)
            view = memoryview(record.message)
            while view:
                view = view[os.write(fd, view) :]
        for fd, _, _ in staged:
            os.fsync(fd)
    finally:
        for fd, _, _ in staged:
            os.close(fd)
    for _, tmp, final in staged:
        os.replace(tmp, final)
    fsync_directory(directory)


class Exporter:
    """A daemon thread copying durable spool records to ``.eml`` files, oldest first."""

    def __init__(self, spool: Spool, directory: Path) -> None:
        self.spool = spool
        self.directory = directory
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="outbox-exporter", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        # Background work: exporting costs mostly kernel time (creating and renaming a file
        # per message), about what answering costs. It runs at a lower CPU priority, and
        # waits for a lull in the traffic (or MAX_LAG_SECONDS), so a burst is answered at
        # full speed and exported right after.
        with contextlib.suppress(OSError, AttributeError):  # per thread on Linux only
            thread = threading.get_native_id()
            niceness = os.getpriority(os.PRIO_PROCESS, thread) + EXPORTER_NICENESS
            os.setpriority(os.PRIO_PROCESS, thread, min(niceness, 19))
        spool = self.spool
        while self._wait_for_work():
            try:
                records, end = spool.read(spool.exported, EXPORT_CHUNK_BYTES)
                if not records:
                    raise OSError(f"{spool.path}: unreadable record at offset {spool.exported}")
                export_records(self.directory, records)
                spool.mark_exported(end)
                with spool.changed:
                    spool.changed.notify_all()
            except OSError as error:  # disk full, say: the records wait in the spool
                print(f"polaris-tui relay: exporting the outbox: {error}", file=sys.stderr)
                if self._stopping:
                    return
                time.sleep(RETRY_SECONDS)

    def _wait_for_work(self) -> bool:
        """Wait for durable records and a lull; False once stopping with nothing left."""
        spool = self.spool
        with spool.changed:
            while spool.exported >= spool.durable_end:
                if self._stopping:
                    return False
                spool.changed.wait()
            export_by = time.monotonic() + MAX_LAG_SECONDS
            while not self._stopping:
                now = time.monotonic()
                wait = min(spool.last_append + QUIET_SECONDS, export_by) - now
                if wait <= 0:
                    break
                spool.changed.wait(wait)
        return True

    def wait_idle(self, timeout: float) -> bool:
        """Block until every durable record is an ``.eml`` file; False after ``timeout``."""
        spool = self.spool
        with spool.changed:
            return spool.changed.wait_for(lambda: spool.exported >= spool.durable_end, timeout)

    def stop(self, timeout: float = 60.0) -> None:
        """Export what is durable, then end (what is left is exported at the next start)."""
        with self.spool.changed:
            self._stopping = True
            self.spool.changed.notify_all()
        self._thread.join(timeout)


class OutboxDelivery:
    """Accepted mail appended to the outbox spool; each 202 waits for the fsync covering it."""

    def __init__(self, directory: Path) -> None:
        self.directory = private_directory(Path(directory))
        self.spool = Spool(self.directory)  # first: it refuses an outbox another relay holds
        remove_partial_files(self.directory)
        self.commit = GroupCommit(self.spool.cut)
        self.exporter = Exporter(self.spool, self.directory)

    async def deliver(self, envelope_from: str, recipients: list[str], message: bytes) -> None:
        self.spool.add(encode_record(f"{time.time_ns()}-{uuid.uuid4().hex}.eml", message))
        await self.commit.durable()

    def wait_exported(self, timeout: float = 10.0) -> bool:
        """Block until every acknowledged message is in the outbox as a file."""
        return self.exporter.wait_idle(timeout)

    def close(self) -> None:
        """Stop the exporter (after it has caught up) and close the spool."""
        self.exporter.stop()
        self.spool.close()
