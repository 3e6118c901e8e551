"""Relay throughput: the Python relay vs the shipped Worker in workerd (serve.mjs), on 127.0.0.1.

Both relays run through `cmd_relay` in a child process with the same settings; the same
signed workload (unique nonces, recipients rotated to stay under the rate limit) is sent
sequentially and with 16 requests in flight, by the same lean keep-alive client for both. A
message is lost when a 202 came back but no stored .eml carries its Message-ID.

    uv run python benchmarks/relay_bench.py [--count 400]

Figures are noisy when other work shares the cores. Each run deletes its outboxes on exit, and
ext4 without a journal skips inodes freed in the last 1-5 minutes when it allocates new ones:
a run started right after another (in the same TMPDIR) pays much more kernel time per stored
message. Leave about five minutes between runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

from polaris_tui.relay import sign
from polaris_tui.relay.engine import RelaySettings
from polaris_tui.sandbox.servers import free_port

URL = "https://mail.polaris.test/send"
SETTINGS = RelaySettings(
    secret_a="q7Z0m3kV1x9sY2fB8nR4tW6uH5jL0pC3aE1dG7iK9oM=",
    secret_b=None,
    senders={"hello@polaris.test": "SEND_CUSTOMER", "admin@polaris.test": "SEND_ADMIN"},
)
LAUNCH = """
import json, os, sys
from pathlib import Path
from polaris_tui.relay.cli import cmd_relay
from polaris_tui.relay.engine import RelaySettings
args = json.loads(os.environ.pop("RELAY_BENCH_ARGS"))
settings = RelaySettings(**args.pop("settings"))
outbox = args.pop("outbox")
state_dir = Path(args.pop("state_dir"))
sys.exit(cmd_relay(settings=settings, outbox=outbox and Path(outbox), state_dir=state_dir, **args))
"""


def start(engine: str, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    args = {
        "settings": asdict(SETTINGS),
        "port": port,
        "state_dir": str(workdir / f"state-{engine}"),
        "engine": engine,
        "outbox": str(workdir / "outbox") if engine == "python" else None,
        "smtp": None,
    }
    env = {**os.environ, "TMPDIR": str(workdir), "RELAY_BENCH_ARGS": json.dumps(args)}
    proc = subprocess.Popen(
        [sys.executable, "-c", LAUNCH],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"http://127.0.0.1:{port}"
        time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"{engine} relay did not start")


def stored_ids(workdir: Path) -> set[str]:
    ids = set()
    for eml in workdir.rglob("*.eml"):
        for line in eml.read_bytes().split(b"\r\n"):
            if line.startswith(b"Message-ID: <"):
                ids.add(line[13:-1].decode())
                break
    return ids


@dataclass
class Phase:
    rps: float
    p50: float
    p99: float
    accepted: int
    other: int
    ids: list[str]
    lost: int = 0


class Connection:
    """One keep-alive HTTP/1.1 connection: the client, kept lean so it is not what gets measured.

    httpx cost about 2 ms of CPU per request on the same two cores as the relay under test; this
    costs about 0.15 ms. Only what both relays send is understood: a Content-Length body.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, base: str) -> Connection:
        parts = urlsplit(base)
        return cls(*await asyncio.open_connection(parts.hostname, parts.port))

    async def post(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        """Send one request and return (status, body) of its response."""
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self.writer.write(
            f"POST {path} HTTP/1.1\r\n{head}content-length: {len(body)}\r\n\r\n".encode() + body
        )
        status_line, *lines = (await self.reader.readuntil(b"\r\n\r\n")).decode().split("\r\n")
        fields = dict(line.lower().split(":", 1) for line in lines if line)
        if "content-length" not in fields or "transfer-encoding" in fields:
            raise RuntimeError(f"expected a Content-Length response, got {status_line!r}: {fields}")
        content = await self.reader.readexactly(int(fields["content-length"]))
        if fields.get("connection", "").strip() == "close":
            raise RuntimeError("the relay closed a keep-alive connection")
        return int(status_line.split(" ", 2)[1]), content

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def run(base: str, count: int, concurrency: int, tag: str) -> Phase:
    """Send ``count`` signed requests over ``concurrency`` connections; latencies in ms."""
    recipients = max(1, count // (SETTINGS.rate_limit_max // 2))
    results: list[tuple[float, int, str | None]] = []

    async def one(connection: Connection, i: int) -> tuple[float, int, str | None]:
        payload = {
            "from": "hello@polaris.test",
            "to": f"{tag}-{i % recipients}@example.com",
            "subject": f"bench {i}",
            "text": "benchmark message",
        }
        body = json.dumps(payload).encode()
        headers = {"host": "mail.polaris.test", **sign(SETTINGS.secret_a, "POST", URL, body)}
        started = time.perf_counter()
        status, content = await connection.post("/send", headers, body)
        latency = (time.perf_counter() - started) * 1000
        return latency, status, json.loads(content)["id"] if status == 202 else None

    async def worker(connection: Connection, todo: Iterator[int]) -> None:
        for i in todo:
            results.append(await one(connection, i))

    connections = [await Connection.open(base) for _ in range(concurrency)]
    try:
        await one(connections[0], -1)  # warm-up, not measured
        todo = iter(range(count))  # shared: each connection takes the next request when free
        started = time.perf_counter()
        await asyncio.gather(*(worker(connection, todo) for connection in connections))
        elapsed = time.perf_counter() - started
    finally:
        for connection in connections:
            await connection.close()
    latencies = sorted(latency for latency, _, _ in results)
    ids = [message_id for _, _, message_id in results if message_id]
    return Phase(
        rps=count / elapsed,
        p50=statistics.median(latencies),
        p99=latencies[min(count - 1, int(count * 0.99))],
        accepted=len(ids),
        other=count - len(ids),
        ids=ids,
    )


def client_loop() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed (about 25% less client CPU per request than asyncio's loop)."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=400, help="requests per phase (max 5000)")
    count = min(parser.parse_args().count, 5000)
    results: dict[tuple[str, int], Phase] = {}
    for engine in ("python", "workerd"):
        with tempfile.TemporaryDirectory(prefix=f"relay-bench-{engine}-") as tmp:
            workdir = Path(tmp)
            proc, base = start(engine, workdir)
            try:
                for concurrency in (1, 16):
                    with asyncio.Runner(loop_factory=client_loop()) as runner:
                        phase = runner.run(run(base, count, concurrency, f"{engine}{concurrency}"))
                    time.sleep(0.5)  # let wrangler finish writing the last messages
                    phase.lost = len(set(phase.ids) - stored_ids(workdir))
                    results[(engine, concurrency)] = phase
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)
    print(f"{count} signed POST /send per phase, 127.0.0.1, "
          f"client: keep-alive streams on {'uvloop' if client_loop() else 'asyncio'} "
          "+ polaris_tui.relay.sign")  # fmt: skip
    print(f"{'engine':8} {'in flight':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'202':>5} {'other':>5} {'lost':>5}")  # fmt: skip
    for (engine, concurrency), r in results.items():
        print(f"{engine:8} {concurrency:>9} {r.rps:>8.1f} {r.p50:>8.2f} {r.p99:>8.2f} "
              f"{r.accepted:>5} {r.other:>5} {r.lost:>5}")  # fmt: skip
    for concurrency in (1, 16):
        py, wd = results[("python", concurrency)], results[("workerd", concurrency)]
        print(f"ratio python/workerd, {concurrency} in flight: "
              f"throughput {py.rps / wd.rps:.2f}x, p50 latency {py.p50 / wd.p50:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
