"""Relay throughput: the Python relay vs the shipped Worker under `wrangler dev`, on 127.0.0.1.

Both relays run through `cmd_relay` in a child process with the same settings; the same
signed workload (unique nonces, recipients rotated to stay under the rate limit) is sent
sequentially and with 16 requests in flight. A message is lost when a 202 came back but no
stored .eml carries its Message-ID.

    uv run python benchmarks/relay_bench.py [--count 400]
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
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from polaris_tui.relay import sign
from polaris_tui.relay.engine import RelaySettings

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
sys.exit(cmd_relay(settings=settings, outbox=outbox and Path(outbox), **args))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(engine: str, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    args = {
        "settings": asdict(SETTINGS),
        "port": port,
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


async def run(base: str, count: int, concurrency: int, tag: str) -> Phase:
    """Send ``count`` signed requests with ``concurrency`` in flight; latencies in ms."""
    recipients = max(1, count // (SETTINGS.rate_limit_max // 2))
    gate = asyncio.Semaphore(concurrency)

    async def one(client: httpx.AsyncClient, i: int) -> tuple[float, int, str | None]:
        payload = {
            "from": "hello@polaris.test",
            "to": f"{tag}-{i % recipients}@example.com",
            "subject": f"bench {i}",
            "text": "benchmark message",
        }
        body = json.dumps(payload).encode()
        async with gate:
            headers = {**sign(SETTINGS.secret_a, "POST", URL, body), "host": "mail.polaris.test"}
            started = time.perf_counter()
            response = await client.post(f"{base}/send", content=body, headers=headers)
            latency = (time.perf_counter() - started) * 1000
        accepted = response.status_code == 202
        return latency, response.status_code, response.json()["id"] if accepted else None

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        await one(client, -1)  # warm-up, not measured
        started = time.perf_counter()
        results = await asyncio.gather(*(one(client, i) for i in range(count)))
        elapsed = time.perf_counter() - started
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
                    phase = asyncio.run(run(base, count, concurrency, f"{engine}{concurrency}"))
                    time.sleep(0.5)  # let wrangler finish writing the last messages
                    phase.lost = len(set(phase.ids) - stored_ids(workdir))
                    results[(engine, concurrency)] = phase
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)
    print(f"{count} signed POST /send per phase, 127.0.0.1, client: httpx + polaris_tui.relay.sign")
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
