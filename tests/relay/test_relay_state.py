"""RelayState on a real SQLite file: what a restarted relay still knows."""

from __future__ import annotations

import stat
from pathlib import Path

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
