"""Concurrent requests against each local relay: a nonce is accepted once and a mailbox's
limit holds exactly (the workerd relay runs the Worker's strict mode, its Durable Object)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

import pytest
from raw_http import doc_sign, header_block, raw_request
from relay_support import SECRET_A, SETTINGS, launch_relay, payload, stop_relay, wait_for_port

from polaris_tui.sandbox.servers import free_port


@pytest.fixture(scope="module", params=["python", "workerd"])
def relay_port(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[int]:
    directory: Path = tmp_path_factory.mktemp(request.param)
    port = free_port()
    outbox = str(directory / "outbox") if request.param == "python" else None
    assert SETTINGS.rate_limit_max == 10
    proc, _ = launch_relay(directory, settings=asdict(SETTINGS), port=port, outbox=outbox,
                           smtp=None, engine=request.param)  # fmt: skip
    try:
        wait_for_port(port, proc)
        yield port
    finally:
        stop_relay(proc)


def _request(port: int, to: str) -> tuple[bytes, bytes]:
    """Signed by the protocol doc's own signer (tests/relay/raw_http.py)."""
    host = f"127.0.0.1:{port}"
    body = json.dumps(payload(to=to)).encode()
    headers = [("Host", host), ("Content-Length", str(len(body))),
               *doc_sign(SECRET_A, host, "/send", body).items()]  # fmt: skip
    return header_block("POST", "/send", headers), body


def _race(port: int, requests: list[tuple[bytes, bytes]]) -> dict[int, int]:
    """Every request at once, one connection each; how many got each status."""
    with ThreadPoolExecutor(len(requests)) as pool:
        statuses = list(pool.map(lambda r: raw_request(port, *r)[0], requests))
    return {s: statuses.count(s) for s in sorted(set(statuses))}


def test_50_concurrent_copies_of_one_signed_request_are_accepted_once(relay_port: int) -> None:
    request = _request(relay_port, "race@example.com")
    assert _race(relay_port, [request] * 50) == {202: 1, 401: 49}


def test_30_concurrent_sends_to_one_mailbox_stop_at_the_limit_of_10(relay_port: int) -> None:
    variants = ["grace@example.com", "Grace@Example.com", "grace+tag@example.com"]
    requests = [_request(relay_port, variants[i % 3]) for i in range(30)]
    assert _race(relay_port, requests) == {202: 10, 429: 20}
