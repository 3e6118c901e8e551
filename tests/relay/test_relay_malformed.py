"""Both local relays attacked over raw sockets with a signer written from the protocol doc.

Each engine runs as `polaris-tui relay` does (a subprocess on 127.0.0.1) and must give the
contract's answer to requests no client library would send: repeated or malformed Host and
signed headers, framing conflicts, a lower-case method, dot segments in the path, oversize
declared lengths, slow and half-closing clients, a replay after a restart.
"""

from __future__ import annotations

import json
import signal
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path

import pytest
from raw_http import doc_sign, header_block, raw_request, signed_case
from relay_support import (
    SECRET_A,
    SETTINGS,
    descendants,
    launch_relay,
    payload,
    stop_relay,
    wait_for_port,
)

from polaris_tui.sandbox.servers import free_port

ENGINES = ["python", "workerd"]
TIMEOUT = 1.0  # header and body timeouts given to the relays under test, seconds
Case = Callable[[str], tuple[bytes, bytes]]


class Relay:
    def __init__(self, engine: str, directory: Path) -> None:
        self.engine, self.directory, self.port = engine, directory, free_port()
        self.proc = None

    def start(self) -> None:
        outbox = str(self.directory / "outbox") if self.engine == "python" else None
        self.proc, _ = launch_relay(
            self.directory, settings=asdict(SETTINGS), port=self.port, outbox=outbox, smtp=None,
            engine=self.engine, header_timeout=TIMEOUT, body_timeout=TIMEOUT,
        )  # fmt: skip
        wait_for_port(self.port, self.proc)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"


@pytest.fixture(scope="module", params=ENGINES)
def relay(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Relay]:
    running = Relay(request.param, tmp_path_factory.mktemp(request.param))
    running.start()
    try:
        yield running
    finally:
        assert running.proc is not None
        stop_relay(running.proc)


_counter = iter(range(10**6))


def fresh() -> dict[str, object]:
    """A valid payload to a recipient no other case uses (no rate limit interplay)."""
    return payload(to=f"raw{next(_counter)}@example.com")


def _signed(**options: object) -> Case:
    """A valid signed request (for /send on the relay's host), sent with ``options``."""
    return lambda host: signed_case(SECRET_A, host, fresh(), **options)  # type: ignore[arg-type]


def _edited(change: Callable[[bytes, bytes, str], tuple[bytes, bytes]]) -> Case:
    """A valid signed request, then ``change(head, body, host)`` applied to its bytes."""

    def build(host: str) -> tuple[bytes, bytes]:
        head, body = signed_case(SECRET_A, host, fresh())
        return change(head, body, host)

    return build


def _line_first(name: str, value: str) -> Case:
    """An extra ``name: value`` line before the signed request's own headers."""
    return _edited(
        lambda head, body, host: (
            head.replace(b"\r\n", f"\r\n{name}: {value}\r\n".encode(), 1),
            body,
        )
    )


def _repeated(name: str) -> Case:
    """The request's own ``name`` line sent twice."""

    def change(head: bytes, body: bytes, host: str) -> tuple[bytes, bytes]:
        line = next(x for x in head.split(b"\r\n") if x.lower().startswith(name.lower().encode()))
        return head + b"\r\n" + line, body

    return _edited(change)


def _chunked(head: bytes, body: bytes, host: str) -> tuple[bytes, bytes]:
    framed = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    return head + b"\r\nTransfer-Encoding: chunked", framed


def _chunked_only(head: bytes, body: bytes, host: str) -> tuple[bytes, bytes]:
    return _chunked(head.replace(b"Content-Length", b"X-Length"), body, host)


def _no_host(head: bytes, body: bytes, host: str) -> tuple[bytes, bytes]:
    return head.replace(f"Host: {host}\r\n".encode(), b""), body


def _declared_only(head: bytes, body: bytes, host: str) -> tuple[bytes, bytes]:
    return head.replace(f"Content-Length: {len(body)}".encode(), b"Content-Length: 10000000"), b""


CASES: dict[str, tuple[Case, int]] = {
    "valid, half-closed after sending": (_signed(), 202),
    "valid, chunked": (_edited(_chunked_only), 202),
    "bogus X-Polaris-Sig before the valid one": (_line_first("X-Polaris-Sig", "0" * 64), 401),
    "bogus X-Polaris-Ts before the valid one": (_line_first("X-Polaris-Ts", "1"), 401),
    "X-Polaris-Sig twice, same value": (_repeated("X-Polaris-Sig"), 401),
    "X-Polaris-Ts twice, same value": (_repeated("X-Polaris-Ts"), 401),
    "X-Polaris-Nonce twice, same value": (_repeated("X-Polaris-Nonce"), 401),
    "Host twice": (_line_first("Host", "evil.test"), 400),
    "Host twice, same value": (_repeated("Host"), 400),
    "Host H:PORT:80": (lambda host: signed_case(SECRET_A, f"{host}:80", fresh()), 400),
    "Host missing": (_edited(_no_host), 400),
    "path /a/../send signed as /send": (_signed(path="/a/../send"), 404),
    "path /./send signed as /send": (_signed(path="/./send"), 404),
    "path /%2e/send signed as /send": (_signed(path="/%2e/send"), 404),
    "path /send/": (_signed(path="/send/"), 404),
    "lower-case post": (_signed(method="post"), 405),
    "GET": (_signed(method="GET"), 405),
    "declared Content-Length over the cap, no body sent": (_edited(_declared_only), 413),
    "Content-Length twice, same value": (_repeated("Content-Length"), 400),
    "two different Content-Lengths": (_line_first("Content-Length", "3"), 400),
    "Content-Length with chunked": (_edited(_chunked), 400),
}


@pytest.mark.parametrize("name", list(CASES))
def test_malformed_request_gets_the_contract_answer(relay: Relay, name: str) -> None:
    build, expected = CASES[name]
    status, body = raw_request(relay.port, *build(relay.host))
    assert status == expected, f"{relay.engine}: {name}: {status} {body[:200]!r}"
    assert json.loads(body)  # a JSON answer, as the contract gives, never a proxy's text page


def test_an_oversize_body_does_not_disturb_the_next_request(relay: Relay) -> None:
    head, _ = signed_case(SECRET_A, relay.host, fresh(), extra=[("Content-Length", "200000")])
    assert raw_request(relay.port, head, b"x" * 200000)[0] == 413
    assert raw_request(relay.port, *signed_case(SECRET_A, relay.host, fresh()))[0] == 202


def _closed_or_408(sock: socket.socket) -> bytes:
    """What the relay sends before closing a stalled connection (b"" for a bare close)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


@pytest.mark.parametrize("stall", ["headers", "body"])
def test_a_stalled_client_is_cut_off(relay: Relay, stall: str) -> None:
    head, body = signed_case(SECRET_A, relay.host, fresh())
    partial = head[:20] if stall == "headers" else head + b"\r\n\r\n" + body[:5]
    with socket.create_connection(("127.0.0.1", relay.port), timeout=10 * TIMEOUT) as sock:
        sock.sendall(partial)  # and then nothing: the relay's timeout must end it, not ours
        answer = _closed_or_408(sock)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), answer[:200]


def test_a_replay_is_refused_after_the_relay_is_killed_and_restarted(tmp_path: Path) -> None:
    for engine in ENGINES:
        running = Relay(engine, tmp_path / engine)
        running.start()
        body = json.dumps(fresh()).encode()
        signed = doc_sign(SECRET_A, running.host, "/send", body)
        headers = [("Host", running.host), ("Content-Length", str(len(body))), *signed.items()]
        request = header_block("POST", "/send", headers)
        assert raw_request(running.port, request, body)[0] == 202, engine
        assert running.proc is not None
        children = descendants(running.proc.pid)
        stop_relay(running.proc, signal.SIGKILL)
        _wait_until_gone(running.port, running.proc.pid, children)
        running.start()
        try:
            assert raw_request(running.port, request, body)[0] == 401, f"{engine}: replayed"
        finally:
            assert running.proc is not None
            stop_relay(running.proc)


def _wait_until_gone(port: int, pid: int, children: set[int]) -> None:
    """The killed relay's children stop too; then its port can be listened on again.

    Refused connections alone are not enough: a child still closing holds the port, and the
    restarted relay's listen failed with EADDRINUSE. So wait for every child to exit and for
    a bind to the port (with SO_REUSEADDR, as Node and the Python relay listen) to succeed.
    """
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        alive = {p for p in children if Path(f"/proc/{p}").exists()}
        if not alive and _bindable(port):
            return
        time.sleep(0.1)
    raise AssertionError(f"port {port} still held after its relay (pid {pid}) was killed")


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_sigkill_of_the_workerd_relay_stops_node_and_workerd(tmp_path: Path) -> None:
    running = Relay("workerd", tmp_path)
    running.start()
    assert running.proc is not None
    children = descendants(running.proc.pid)
    assert children, "serve.mjs and workerd should run below the relay"
    stop_relay(running.proc, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while (
        alive := {p for p in children if Path(f"/proc/{p}").exists()}
    ) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive, f"left running after SIGKILL: {alive}"
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", running.port)) != 0
