"""The Python relay records when each key slot last signed a real send, as the Worker does."""

from __future__ import annotations

import time
from pathlib import Path

from relay_support import MAIL_URL, SECRET_A, SECRET_B, SETTINGS, payload, serve_app

from polaris_tui.relay.client import send_signed
from polaris_tui.relay.engine import RelayEngine
from polaris_tui.relay.outbox import OutboxDelivery
from polaris_tui.relay.server import create_app
from polaris_tui.relay.state import RelayState


def test_last_accepted_per_slot_is_written_at_most_once_a_minute(tmp_path: Path) -> None:
    path = tmp_path / "relay" / "state.sqlite3"
    offset = [0.0]  # seconds the relay's clock runs ahead (within the signed timestamp window)
    engine = RelayEngine(
        SETTINGS,
        OutboxDelivery(tmp_path),
        clock=lambda: time.time() + offset[0],
        state=RelayState(path),
    )
    with serve_app(create_app(engine)) as base:
        assert send_signed(MAIL_URL, SECRET_A, payload(dry_run=True), connect_to=base).status == 200
        assert engine.state.last_accepted() == {}  # a dry run (a rotation probe) does not count
        assert send_signed(MAIL_URL, SECRET_B, payload(), connect_to=base).key_slot == "B"
        assert set(engine.state.last_accepted()) == {"B"}
        assert send_signed(MAIL_URL, SECRET_A, payload(), connect_to=base).key_slot == "A"
        first = engine.state.last_accepted()["A"]

        offset[0] = 30.0
        assert send_signed(MAIL_URL, SECRET_A, payload(), connect_to=base).key_slot == "A"
        assert engine.state.last_accepted()["A"] == first  # younger than a minute: no write

        offset[0] = 61.0
        assert send_signed(MAIL_URL, SECRET_A, payload(), connect_to=base).key_slot == "A"
        later = engine.state.last_accepted()["A"]
        assert later >= first + 61_000
    engine.state.close()
    assert RelayState(path).last_accepted()["A"] == later  # in the state dir, across restarts
