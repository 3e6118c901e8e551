"""Relay throughput: the Python relay (outbox spool) vs the shipped Worker in workerd, 127.0.0.1.

Each relay is a fresh process of the console script as the operator runs it
(`polaris-tui --sandbox relay --outbox DIR`, and `... relay --engine workerd`), its secret in
the sandbox keyring. The same signed workload (unique nonces, recipients rotated to stay
under the rate limit) is sent sequentially and with 16 requests in flight by one lean
keep-alive client, which is also timed against a no-op HTTP server: that ceiling, and the
client's own CPU beside the relay's, show whether the client is what got measured. A message
is lost when a 202 came back but no exported .eml carries its Message-ID. The Python relay's
exporter runs behind the 202 (after a lull in the traffic): its backlog is drained and timed
before the count, and "w/ export" counts that time too; "cpu ms/msg" is the relay's CPU
(children included) over the phase and the drain, per request.

    uv run python benchmarks/relay_bench.py [--count 400]

Figures are noisy when other work shares the cores: the load average is printed before and
after. ext4 without a journal skips inodes freed in the last 1-5 minutes when it allocates
new ones: a run started right after another (in the same TMPDIR) pays more kernel time per
exported message. Leave a few minutes between runs.
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
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from polaris_tui.config import load_config
from polaris_tui.relay import sign
from polaris_tui.relay.engine import RelaySettings
from polaris_tui.sandbox import Sandbox
from polaris_tui.sandbox.servers import free_port
from polaris_tui.session import sandbox_vault
from polaris_tui.steps.deploy import relay_settings

URL = "https://mail.polaris.test/send"
SECRET = "q7Z0m3kV1x9sY2fB8nR4tW6uH5jL0pC3aE1dG7iK9oM="
CLI = Path(sys.executable).parent / "polaris-tui"
NOOP_SERVER = """
import asyncio, sys
BODY = b'{"ok":true,"id":"noop@polaris.test","key":"A"}'
RESPONSE = (b"HTTP/1.1 202 Accepted\\r\\ncontent-type: application/json\\r\\ncontent-length: "
            + str(len(BODY)).encode() + b"\\r\\n\\r\\n" + BODY)
class NoOp(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buffer = transport, b""
    def data_received(self, data):
        self.buffer += data
        while (end := self.buffer.find(b"\\r\\n\\r\\n")) >= 0:
            head = self.buffer[:end].lower()
            length = int(head.split(b"content-length:", 1)[1].split(b"\\r\\n", 1)[0])
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length:]
            self.transport.write(RESPONSE)
async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(NoOp, "127.0.0.1", int(sys.argv[1]))
    await server.serve_forever()
try:
    import uvloop
    uvloop.run(main())
except ImportError:
    asyncio.run(main())
"""


def prepare_sandbox(workdir: Path) -> tuple[Path, RelaySettings]:
    """A sandbox folder whose keyring holds the signing secret, as `apply secret` leaves it."""
    directory = workdir / "sbx"
    box = Sandbox(directory)
    with box as endpoints:
        sandbox_vault(box, endpoints.domain).set("polaris-secret-a", SECRET)
    return directory, relay_settings(load_config(directory / "config.toml"), SECRET)


def wait_for_port(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"{what} did not start")


def start(engine: str, sandbox: Path, workdir: Path) -> tuple[subprocess.Popen[bytes], int, float]:
    """The relay as typed; returns the process, its port and seconds until it listened."""
    port = free_port()
    argv = [str(CLI), "--sandbox", "--sandbox-dir", str(sandbox), "relay", "--port", str(port)]
    if engine == "python":
        argv += ["--outbox", str(workdir / "outbox")]
    else:
        argv += ["--engine", "workerd"]
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        env={**os.environ, "TMPDIR": str(workdir)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its children (node, workerd) are stopped with it
    )
    wait_for_port(port, proc, f"{engine} relay")
    return proc, port, time.perf_counter() - started


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and every live descendant (node and workerd for workerd)."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        child = int(stat_file.parent.name)
        parents[child] = int(fields[1])
        times[child] = (int(fields[11]) + int(fields[12])) / ticks
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += times.get(current, 0.0)
        todo += [child for child, parent in parents.items() if parent == current]
    return total


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
    client_cpu: float  # the client's CPU seconds per wall second (1.0 = one core)
    relay_cpu: float = 0.0  # the same for the relay process and its children
    lost: int = 0
    drain: float = 0.0  # seconds after the phase until every 202'd message was an .eml file
    cpu_per_message: float = 0.0  # relay CPU ms per request, phase and drain (the export) both

    @property
    def with_export(self) -> float:
        """Requests per second counting the time the outbox took to catch up."""
        return self.accepted / (self.accepted / self.rps + self.drain)


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


async def run(base: str, settings: RelaySettings, count: int, concurrency: int, tag: str) -> Phase:
    """Send ``count`` signed requests over ``concurrency`` connections; latencies in ms."""
    recipients = max(1, count // max(1, settings.rate_limit_max // 2))
    sender = next(iter(settings.senders))
    results: list[tuple[float, int, str | None]] = []

    async def one(connection: Connection, i: int) -> tuple[float, int, str | None]:
        payload = {
            "from": sender,
            "to": f"{tag}-{i % recipients}@example.com",
            "subject": f"bench {i}",
            "text": "benchmark message",
        }
        body = json.dumps(payload).encode()
        headers = {"host": "mail.polaris.test", **sign(settings.secret_a, "POST", URL, body)}
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
        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker(connection, todo) for connection in connections))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
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
        client_cpu=cpu / elapsed,
    )


def client_loop() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed (about 25% less client CPU per request than asyncio's loop)."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def measure(
    base: str, pid: int, settings: RelaySettings, count: int, concurrency: int, tag: str
) -> Phase:
    """One phase on a fresh client event loop, with the relay's CPU over the same interval."""
    relay_cpu, started = cpu_seconds(pid), time.perf_counter()
    with asyncio.Runner(loop_factory=client_loop()) as runner:
        phase = runner.run(run(base, settings, count, concurrency, tag))
    phase.relay_cpu = (cpu_seconds(pid) - relay_cpu) / (time.perf_counter() - started)
    return phase


def lost_after_export(workdir: Path, ids: list[str], timeout: float) -> tuple[int, float]:
    """Acknowledged ids with no .eml once the outbox stops growing; and how long that took."""
    started = time.perf_counter()
    deadline = started + timeout
    missing = set(ids) - stored_ids(workdir)
    while missing and time.perf_counter() < deadline:
        time.sleep(0.05)
        missing -= stored_ids(workdir)
    return len(missing), time.perf_counter() - started


def noop_ceiling(settings: RelaySettings, count: int) -> Phase:
    """The client against a server that only answers 202: what the client alone can reach."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", NOOP_SERVER, str(port)])
    try:
        wait_for_port(port, proc, "no-op server")
        return measure(f"http://127.0.0.1:{port}", proc.pid, settings, count, 16, "noop")
    finally:
        proc.kill()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=400, help="requests per phase (max 5000)")
    count = min(parser.parse_args().count, 5000)
    load_before = os.getloadavg()
    results: dict[tuple[str, int], Phase] = {}
    ready: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp:
        sandbox, settings = prepare_sandbox(Path(tmp))
        ceiling = noop_ceiling(settings, count)
        for engine in ("python", "workerd"):
            workdir = Path(tmp) / engine
            workdir.mkdir()
            proc, port, ready[engine] = start(engine, sandbox, workdir)
            try:
                for concurrency in (1, 16):
                    tag = f"{engine}{concurrency}"
                    before = cpu_seconds(proc.pid)
                    phase = measure(
                        f"http://127.0.0.1:{port}", proc.pid, settings, count, concurrency, tag
                    )
                    mail = workdir / "outbox" if engine == "python" else sandbox
                    phase.lost, phase.drain = lost_after_export(mail, phase.ids, 60)
                    phase.cpu_per_message = (cpu_seconds(proc.pid) - before) / count * 1000
                    results[(engine, concurrency)] = phase
            finally:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)
    load_after = os.getloadavg()
    loop_name = "uvloop" if client_loop() else "asyncio"
    print(f"{count} signed POST /send per phase, 127.0.0.1, relays started as "
          f"`polaris-tui --sandbox relay`; client: keep-alive streams on {loop_name}")  # fmt: skip
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} "
          f"(1 min; {os.cpu_count()} cores)")  # fmt: skip
    print(f"{'engine':8} {'in flight':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'202':>5} {'other':>5} {'lost':>5} {'client cpu':>10} {'relay cpu':>9} "
          f"{'export s':>8} {'w/ export':>9} {'cpu ms/msg':>10}")  # fmt: skip
    print(f"{'no-op':8} {16:>9} {ceiling.rps:>8.1f} {ceiling.p50:>8.2f} {ceiling.p99:>8.2f} "
          f"{ceiling.accepted:>5} {ceiling.other:>5} {'-':>5} {ceiling.client_cpu:>10.0%} "
          f"{ceiling.relay_cpu:>9.0%}")  # fmt: skip
    for (engine, concurrency), r in results.items():
        print(f"{engine:8} {concurrency:>9} {r.rps:>8.1f} {r.p50:>8.2f} {r.p99:>8.2f} "
              f"{r.accepted:>5} {r.other:>5} {r.lost:>5} {r.client_cpu:>10.0%} "
              f"{r.relay_cpu:>9.0%} {r.drain:>8.2f} {r.with_export:>9.1f} "
              f"{r.cpu_per_message:>10.2f}")  # fmt: skip
    print(f"fresh process to listening: python {ready['python']:.2f} s, "
          f"workerd {ready['workerd']:.2f} s")  # fmt: skip
    for concurrency in (1, 16):
        py, wd = results[("python", concurrency)], results[("workerd", concurrency)]
        print(f"ratio python/workerd, {concurrency} in flight: "
              f"throughput {py.rps / wd.rps:.2f}x, p50 latency {py.p50 / wd.p50:.2f}x, "
              f"with the export {py.with_export / wd.with_export:.2f}x, "
              f"CPU per message {py.cpu_per_message / wd.cpu_per_message:.2f}x")  # fmt: skip
    python16 = results[("python", 16)]
    print(f"client ceiling (no-op server, 16 in flight): {ceiling.rps / python16.rps:.1f}x "
          "the python relay's rate")  # fmt: skip


if __name__ == "__main__":
    main()
