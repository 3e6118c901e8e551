"""SIGKILL trials: every message the Python relay answered 202 for is exported exactly once.

The relay runs as `polaris-tui relay` does (a subprocess on 127.0.0.1) under 16 concurrent
clients and is killed mid-stream; after a restart on the same outbox, each acknowledged
Message-ID must be in exactly one ``.eml`` file and no file may repeat one.
"""

from __future__ import annotations

import re
import signal
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

import httpx
from relay_support import (
    MAIL_URL,
    SECRET_A,
    SETTINGS,
    launch_relay,
    payload,
    stop_relay,
    wait_for_port,
)

from polaris_tui.relay import sign
from polaris_tui.sandbox.servers import free_port

IN_FLIGHT = 16
MESSAGE_ID = re.compile(rb"\r\nMessage-ID: <([^>]+)>\r\n")


def _start(tmp_path: Path, outbox: Path, port: int):
    proc, _ = launch_relay(
        tmp_path, settings=asdict(SETTINGS), port=port, outbox=str(outbox), smtp=None
    )
    wait_for_port(port, proc)
    return proc


def _stored_ids(outbox: Path) -> Counter[str]:
    found: Counter[str] = Counter()
    for eml in outbox.glob("*.eml"):
        match = MESSAGE_ID.search(eml.read_bytes())
        assert match, eml
        found[match.group(1).decode()] += 1
    return found


def _load_until_killed(port: int, trial: int, kill_after: int, proc) -> list[str]:
    """16 clients send until the relay dies; it is SIGKILLed after ``kill_after`` 202s."""
    acknowledged: list[str] = []
    lock = threading.Lock()
    killed = threading.Event()

    def client(worker: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            for i in range(10_000):
                body = httpx.Request(
                    "POST", "/", json=payload(f"t{trial}-{worker}-{i}@example.com")
                ).read()
                headers = {"host": "mail.polaris.test", **sign(SECRET_A, "POST", MAIL_URL, body)}
                try:
                    response = http.post("/send", content=body, headers=headers)
                except httpx.TransportError:
                    assert killed.is_set(), "the relay failed before it was killed"
                    return
                assert response.status_code == 202, response.text
                with lock:
                    acknowledged.append(response.json()["id"])
                    if len(acknowledged) >= kill_after and not killed.is_set():
                        killed.set()
                        proc.send_signal(signal.SIGKILL)

    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        for future in [pool.submit(client, worker) for worker in range(IN_FLIGHT)]:
            future.result()
    proc.wait(timeout=30)
    return acknowledged


def test_acknowledged_messages_survive_sigkill_and_are_exported_once(tmp_path: Path) -> None:
    outbox, port = tmp_path / "outbox", free_port()
    acknowledged: list[str] = []
    for trial, kill_after in enumerate((5, 40, 120)):
        proc = _start(tmp_path, outbox, port)
        acknowledged += _load_until_killed(port, trial, kill_after, proc)
        assert proc.returncode == -signal.SIGKILL
    proc = _start(tmp_path, outbox, port)  # the restart exports what the kills left behind
    try:
        deadline = time.monotonic() + 30
        while not set(acknowledged) <= set(stored := _stored_ids(outbox)):
            assert time.monotonic() < deadline, f"lost: {set(acknowledged) - set(stored)}"
            time.sleep(0.05)
    finally:
        assert stop_relay(proc) == 0
    stored = _stored_ids(outbox)
    assert not [message_id for message_id, n in stored.items() if n > 1], "exported twice"
    assert set(acknowledged) <= set(stored)
    assert len(acknowledged) >= 5 + 40 + 120
