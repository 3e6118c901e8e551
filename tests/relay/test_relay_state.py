"""RelayState on a real SQLite file: what a restarted relay still knows, and when."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import stat
import time
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from relay_support import MAIL_URL, SECRET_A, SETTINGS, payload

from polaris_tui.relay import HEADER_NONCE, sign
from polaris_tui.relay import state as state_module
from polaris_tui.relay.engine import RelayEngine
from polaris_tui.relay.outbox import OutboxDelivery
from polaris_tui.relay.server import create_app
from polaris_tui.relay.state import RelayState, mailbox_key


def test_a_claimed_nonce_stays_claimed_after_reopening(tmp_path: Path) -> None:
    path = tmp_path / "relay" / "state.sqlite3"
    first = RelayState(path)
    assert first.claim_nonce("n" * 22, now_s=1000.0, ttl_s=600)
    first.close()
    again = RelayState(path)
    assert not again.claim_nonce("n" * 22, now_s=1001.0, ttl_s=600)
    assert again.claim_nonce("n" * 22, now_s=1600.0, ttl_s=600)  # expired: claimable again
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert b"n" * 22 not in path.read_bytes()  # only its digest is stored


def test_rate_counts_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    first = RelayState(path)
    key = mailbox_key("ada@example.com")
    assert all(first.count_sends([key], window=7, limit=2) for _ in range(2))
    first.close()
    again = RelayState(path)
    assert not again.count_sends([key], window=7, limit=2)
    assert again.count_sends([key], window=8, limit=2)  # a new window starts from zero


def test_mailbox_key_folds_case_and_plus_tag_only() -> None:
    base = mailbox_key("ada@example.com")
    assert mailbox_key("ADA+news@Example.COM") == base
    assert mailbox_key("ada+a+b@example.com") == base
    assert mailbox_key("a.da@example.com") != base
    assert mailbox_key("ada@mx.example.com") != base
    assert mailbox_key("ada%example.com@example.com") != base
    assert (
        mailbox_key("+x@example.com")
        == mailbox_key("+x@example.com")
        != mailbox_key("@example.com")
    )


async def test_claims_are_committed_and_synced_before_the_answer_one_sync_per_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """16 requests in flight share WAL fsyncs; each answer follows a commit holding its nonce."""
    path = tmp_path / "state.sqlite3"
    synced: list[Path] = []
    real_fsync_path = state_module.fsync_path

    def counting_fsync_path(target: Path) -> None:
        time.sleep(0.02)  # a slow disk, so requests gather behind one sync
        real_fsync_path(target)
        synced.append(target)

    monkeypatch.setattr(state_module, "fsync_path", counting_fsync_path)
    engine = RelayEngine(SETTINGS, OutboxDelivery(tmp_path / "outbox"), state=RelayState(path))
    transport = httpx.ASGITransport(app=create_app(engine))

    async def send(client: httpx.AsyncClient, i: int) -> None:
        body = json.dumps(payload(f"r{i}@example.com", dry_run=i % 2 == 0)).encode()
        headers = {"host": "mail.polaris.test", **sign(SECRET_A, "POST", MAIL_URL, body)}
        response = await client.post("http://relay/send", content=body, headers=headers)
        assert response.status_code == (200 if i % 2 == 0 else 202)
        digest = hashlib.sha256(headers[HEADER_NONCE].encode()).hexdigest()
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as reader:
            found = reader.execute("SELECT 1 FROM nonces WHERE digest = ?", (digest,)).fetchall()
        assert found, f"request {i} answered before its nonce claim was committed"
        assert synced, f"request {i} answered before any WAL fsync"

    async with httpx.AsyncClient(transport=transport) as client:
        await asyncio.gather(*(send(client, i) for i in range(16)))
    assert 1 <= len(synced) < 16
    assert {target.name for target in synced} == {"state.sqlite3-wal"}
