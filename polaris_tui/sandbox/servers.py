"""Run ASGI apps under uvicorn in background threads on free loopback ports."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class UvicornThread:
    """One uvicorn server in a daemon thread, bound to a socket we opened ourselves so the
    port is known before the server starts."""

    def __init__(self, app: Any, name: str, *, date_header: bool = True) -> None:
        self.app, self.name, self.date_header = app, name, date_header
        self.port = 0
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    def start(self) -> int:
        import uvicorn

        # IPPROTO_TCP named, not 0: asyncio sets TCP_NODELAY only on accepted sockets whose
        # proto says TCP. Without it a response's headers and body left in two segments and
        # the body waited for the client's delayed ACK: 40 ms on every keep-alive request.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._sock, self.port = sock, sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            # The stack the sandbox is tested on; "auto" would now pick uvloop and httptools,
            # which are installed for the relay's throughput.
            loop="asyncio",
            http="h11",
            log_config=None,
            log_level=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
            timeout_keep_alive=5,
            date_header=self.date_header,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            name=f"sandbox-{self.name}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"sandbox {self.name} server did not start")
            time.sleep(0.005)
        return self.port

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = self._sock = None
