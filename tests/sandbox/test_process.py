"""``polaris-tui sandbox serve`` as a real process: the JSON line, a clean
SIGTERM, and state that survives SIGKILL."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import time
from pathlib import Path

import boto3
import cloudflare
import dns.message
import dns.query
import httpx

from tests.runtime_helpers import CLI

KEYS = {
    "api",
    "token",
    "account_id",
    "zone_id",
    "domain",
    "dns",
    "s3",
    "s3_access_key_id",
    "s3_secret_access_key",
    "edge",
    "smtp",
    "inbox",
    "edge_workers",
}


def serve(directory: Path) -> tuple[subprocess.Popen, dict]:
    proc = subprocess.Popen(
        [str(CLI), "sandbox", "serve", "--sandbox-dir", str(directory)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "POLARIS_SANDBOX_FAULTS": "", "POLARIS_SANDBOX_LATENCY_MS": ""},
    )
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    if not selector.select(timeout=60):
        proc.kill()
        raise AssertionError("sandbox serve printed nothing: " + proc.stderr.read())
    line = proc.stdout.readline()
    return proc, json.loads(line)


def test_serve_prints_one_json_line_and_stops_on_sigterm(tmp_path):
    proc, info = serve(tmp_path / "sbx")
    try:
        assert set(info) == KEYS
        assert info["domain"] == "polaris.test"
        assert info["api"].startswith("http://127.0.0.1:") and info["api"].endswith("/client/v4")
        assert info["dns"].startswith("127.0.0.1:") and info["inbox"] == str(
            tmp_path / "sbx" / "inbox"
        )
        cf = cloudflare.Cloudflare(api_token=info["token"], base_url=info["api"])
        assert cf.user.tokens.verify().status == "active"
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0
        assert out == ""  # exactly one line was printed
    finally:
        if proc.poll() is None:
            proc.kill()


def test_state_survives_sigkill(tmp_path):
    directory = tmp_path / "sbx"
    proc, info = serve(directory)
    try:
        cf = cloudflare.Cloudflare(api_token=info["token"], base_url=info["api"])
        cf.dns.records.create(
            zone_id=info["zone_id"], name="manage", type="A", content="192.0.2.10", ttl=1
        )
        cf.r2.buckets.create(account_id=info["account_id"], name="polaris-assets")
        boto3.client(
            "s3",
            endpoint_url=info["s3"],
            region_name="auto",
            aws_access_key_id=info["s3_access_key_id"],
            aws_secret_access_key=info["s3_secret_access_key"],
        ).put_object(
            Bucket="polaris-assets", Key="logo.png", Body=b"png-bytes", ContentType="image/png"
        )
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    proc, again = serve(directory)
    try:
        assert (again["token"], again["zone_id"]) == (info["token"], info["zone_id"])
        cf = cloudflare.Cloudflare(api_token=again["token"], base_url=again["api"])
        names = [r.name for r in cf.dns.records.list(zone_id=again["zone_id"])]
        assert names == ["manage.polaris.test"]
        host, port = again["dns"].split(":")
        resp = dns.query.tcp(
            dns.message.make_query("manage.polaris.test", "A"), host, port=int(port), timeout=5
        )
        assert [rd.to_text() for rrset in resp.answer for rd in rrset] == ["192.0.2.10"]
        obj = boto3.client(
            "s3",
            endpoint_url=again["s3"],
            region_name="auto",
            aws_access_key_id=again["s3_access_key_id"],
            aws_secret_access_key=again["s3_secret_access_key"],
        ).get_object(Bucket="polaris-assets", Key="logo.png")
        assert obj["Body"].read() == b"png-bytes" and obj["ContentType"] == "image/png"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier}
        found |= frontier
    return found


def alive(pids: set[int]) -> set[int]:
    def running(pid: int) -> bool:
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False

    return {pid for pid in pids if running(pid)}


def start_worker(info: dict) -> None:
    """Deploy and route a Worker and call it once, so that its workerd runs."""
    cf = cloudflare.Cloudflare(api_token=info["token"], base_url=info["api"])
    cf.workers.scripts.update(
        "probe",
        account_id=info["account_id"],
        metadata={"main_module": "m.js", "compatibility_date": "2026-04-26", "bindings": []},
        files=[
            (
                "m.js",
                b"export default {fetch: () => new Response('ok')}",
                "application/javascript+module",
            )
        ],
    )
    cf.dns.records.create(
        zone_id=info["zone_id"], name="mail", type="A", content="192.0.2.10", ttl=1, proxied=True
    )
    cf.workers.routes.create(zone_id=info["zone_id"], pattern="mail.polaris.test/*", script="probe")
    resp = httpx.get(info["edge"] + "/", headers={"Host": "mail.polaris.test"}, timeout=120)
    assert (resp.status_code, resp.text) == (200, "ok")


def test_workerd_ends_with_the_sandbox_on_sigterm_and_on_sigkill(tmp_path):
    for stop in (signal.SIGTERM, signal.SIGKILL):
        proc, info = serve(tmp_path / f"sbx-{stop}")
        try:
            start_worker(info)
            children = descendants(proc.pid)
            assert len(children) >= 2  # node and at least one workerd
            proc.send_signal(stop)
            proc.communicate(timeout=30)
            deadline = time.monotonic() + 30  # after SIGKILL, node sees its stdin close
            while alive(children) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert alive(children) == set()
        finally:
            if proc.poll() is None:
                proc.kill()
