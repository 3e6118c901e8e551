"""The sandbox's HTTP servers answer a keep-alive request without waiting on the client's ACK.

Without TCP_NODELAY on the accepted socket a response leaves as two segments (headers, then
body) and the body waits for the client's delayed ACK, about 40 ms on Linux: every request
after a connection's first, which Cloudflare does not add. Read off the server's own sockets,
since a test must not assert times.
"""

from __future__ import annotations

import socket
from typing import Any

from polaris_tui.sandbox.servers import UvicornThread


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"ok"})


def _get(sock: socket.socket) -> bytes:
    sock.sendall(b"GET / HTTP/1.1\r\nHost: sandbox\r\n\r\n")
    answer = b""
    while not answer.endswith(b"ok"):
        chunk = sock.recv(4096)
        assert chunk, f"connection closed after {answer!r}"
        answer += chunk
    return answer


def test_accepted_connections_send_without_delay() -> None:
    server = UvicornThread(_app, "nodelay-test")
    port = server.start()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            for _ in range(2):  # the second answer is the one a delayed ACK held back
                assert _get(client).startswith(b"HTTP/1.1 200")
            connections = list(server._server.server_state.connections)
            assert len(connections) == 1
            accepted = connections[0].transport.get_extra_info("socket")
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        server.stop()
