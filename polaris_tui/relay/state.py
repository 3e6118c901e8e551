"""The local relay's replay and rate state, in SQLite so a restart forgets nothing.

The Worker keeps the same state in KV (docs/relay-protocol.md, section 5). A captured request
must stay refused for the whole nonce TTL whatever happens to the process, so claims and
counters are durable before the answer. Writes join one open transaction; ``cut`` (a group
commit round, see group_commit.py) commits it and hands back an fsync of the WAL, so
requests in flight together share one commit and one fsync instead of three commits each.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from functools import partial
from pathlib import Path

from polaris_tui.fsutil import fsync_path

SCHEMA = """
CREATE TABLE IF NOT EXISTS nonces (digest TEXT PRIMARY KEY, expires_s REAL NOT NULL);
CREATE INDEX IF NOT EXISTS nonces_expiry ON nonces (expires_s);
CREATE TABLE IF NOT EXISTS counts (
    mailbox TEXT NOT NULL, window INTEGER NOT NULL, sends INTEGER NOT NULL,
    PRIMARY KEY (mailbox, window)
);
CREATE TABLE IF NOT EXISTS last_accepted (slot TEXT PRIMARY KEY, at_ms INTEGER NOT NULL);
"""
# As the Worker's slot-last-accepted:<slot> keys: rewritten only when older than a minute.
LAST_ACCEPTED_EVERY_MS = 60_000


def mailbox_key(address: str) -> str:
    """The rate-limit key of a recipient: case folded, ``+tag`` dropped, then hashed.

    ``Ada+x@Example.COM`` and ``ada@example.com`` are one mailbox everywhere that matters; the
    variants this cannot fold (dots, ``%`` routing, sub-domains) are listed in the protocol doc.
    """
    local, _, domain = address.lower().rpartition("@")
    local = local.split("+", 1)[0] or local
    return hashlib.sha256(f"{local}@{domain}".encode()).hexdigest()


class RelayState:
    """Claimed nonces (as SHA-256 digests), per-mailbox send counts per window, and when each
    key slot last signed an accepted send (what `rotate --promote` asks of the Worker)."""

    def __init__(self, path: Path | None = None) -> None:
        """``path`` None keeps the state in memory (tests that pin a fresh relay per case)."""
        self._wal = None if path is None else Path(f"{path}-wal")
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Built before the server's event loop runs, used only from that loop's thread.
        self._db = sqlite3.connect(
            str(path) if path else ":memory:", isolation_level=None, check_same_thread=False
        )
        if path is not None:
            path.chmod(0o600)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        """Commit what is still open (a clean stop), then close."""
        if self._db.in_transaction:
            self._db.execute("COMMIT")
        self._db.close()

    def _begin(self) -> sqlite3.Connection:
        """The connection, inside the batch's transaction (opened by the first write)."""
        if not self._db.in_transaction:
            self._db.execute("BEGIN IMMEDIATE")
        return self._db

    def cut(self) -> Callable[[], None]:
        """On the event loop: commit the batch; the returned call makes the commit durable.

        synchronous=NORMAL writes the WAL without syncing it; fsyncing the WAL file here,
        off the loop, gives a commit FULL's durability for one fsync per batch.
        """
        if not self._db.in_transaction:
            return _nothing
        self._db.execute("COMMIT")
        return _nothing if self._wal is None else partial(fsync_path, self._wal)

    def claim_nonce(self, nonce: str, now_s: float, ttl_s: float) -> bool:
        """True once per nonce within ``ttl_s``; an expired claim may be taken again."""
        digest = hashlib.sha256(nonce.encode()).hexdigest()
        cursor = self._begin().execute(
            "INSERT INTO nonces VALUES (?, ?) ON CONFLICT (digest) DO UPDATE"
            " SET expires_s = excluded.expires_s WHERE nonces.expires_s <= ?",
            (digest, now_s + ttl_s, now_s),
        )
        if cursor.rowcount == 1:
            self._db.execute("DELETE FROM nonces WHERE expires_s <= ?", (now_s,))
            return True
        return False

    def count_sends(self, mailboxes: list[str], window: int, limit: int) -> bool:
        """Count one send for each mailbox in ``window``, unless any is already at ``limit``."""
        db = self._begin()  # one thread, no await in between: check and count are atomic
        marks = ",".join("?" * len(mailboxes))
        (busiest,) = db.execute(
            f"SELECT COALESCE(MAX(sends), 0) FROM counts WHERE window = ? AND mailbox IN ({marks})",
            (window, *mailboxes),
        ).fetchone()
        if busiest >= limit:
            return False
        db.execute("DELETE FROM counts WHERE window < ?", (window,))
        db.executemany(
            "INSERT INTO counts VALUES (?, ?, 1) ON CONFLICT (mailbox, window)"
            " DO UPDATE SET sends = sends + 1",
            [(mailbox, window) for mailbox in dict.fromkeys(mailboxes)],
        )
        return True

    def record_accepted(self, slot: str, now_ms: int) -> bool:
        """Note that ``slot`` signed a real send; True when the stored time was rewritten."""
        cursor = self._begin().execute(
            "INSERT INTO last_accepted VALUES (?, ?) ON CONFLICT (slot) DO UPDATE"
            " SET at_ms = excluded.at_ms WHERE last_accepted.at_ms <= ?",
            (slot, now_ms, now_ms - LAST_ACCEPTED_EVERY_MS),
        )
        return cursor.rowcount == 1

    def last_accepted(self) -> dict[str, int]:
        """Slot -> epoch ms of its last recorded accepted send."""
        return dict(self._db.execute("SELECT slot, at_ms FROM last_accepted").fetchall())


def _nothing() -> None:
    """A round with nothing to sync."""
