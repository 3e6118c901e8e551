"""verify-all: every step's checks concurrently, in the foundation's JSON shape, with guidance."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx

from polaris_tui import runner
from polaris_tui.adapters.http_probe import HttpProber
from polaris_tui.context import Context
from polaris_tui.sandbox import Sandbox
from tests.runtime_helpers import RELAY_STEPS, run_cli

pytest_plugins = ["tests.runtime_fixtures"]


class CountingProber(HttpProber):
    """Counts HTTP requests in flight at once: concurrency shows as overlap, not timing."""

    in_flight = 0
    peak = 0

    async def request(self, method: str, url: str, **kwargs: object) -> httpx.Response:
        CountingProber.in_flight += 1
        CountingProber.peak = max(CountingProber.peak, CountingProber.in_flight)
        try:
            return await super().request(method, url, **kwargs)  # type: ignore[arg-type]
        finally:
            CountingProber.in_flight -= 1


def test_runtime_checks_pass_and_run_concurrently(
    sending_ctx: Context, sandbox_server: tuple[Sandbox, object]
) -> None:
    """On an account that can send (Email Sending verified), so delivery.authenticated's
    test message is delivered and judged too."""
    ctx = sending_ctx
    box, _ = sandbox_server
    ctx.__dict__["http"] = CountingProber(ctx.endpoints.edge)
    CountingProber.peak = 0
    box.set_latency(150)  # every edge answer takes a while, so sequential probes cannot overlap
    try:
        report = asyncio.run(runner.verify_async(ctx, runner.select("all")))
    finally:
        box.set_latency(0)
    ours = [c for c in report.checks if c.step in RELAY_STEPS]
    assert ours and all(c.ok for c in ours), [c for c in ours if not c.ok]
    # route: GET, unsigned POST, signed probe; secret: signed probe — all at the same time
    assert CountingProber.peak >= 4
    data = report.to_json()
    assert set(data) == {"ok", "elapsed_ms", "checks"}
    assert set(data["checks"][0]) == {"id", "step", "ok", "detail", "guidance", "ms"}
    ids = [c["id"] for c in data["checks"]]
    assert len(ids) == len(set(ids))
    assert {
        "kv.namespace",
        "secret.relay-accepts",
        "deploy.bindings",
        "route.signed-probe",
        "delivery.authenticated",
    } <= set(ids)


def test_cli_verify_json_reports_failures_with_guidance(tmp_path: Path) -> None:
    out = run_cli(tmp_path / "fresh", "verify", "--json")
    assert out.returncode == 1
    data = json.loads(out.stdout)
    assert data["ok"] is False
    by_id = {c["id"]: c for c in data["checks"]}
    route = by_id["route.get-send"]
    assert not route["ok"] and "404" in route["detail"]
    assert "propagated" in route["guidance"]
    assert "apply kv" in by_id["kv.namespace"]["guidance"]
    assert all(c["guidance"] for c in data["checks"] if not c["ok"] and c["step"] in RELAY_STEPS)


def test_every_runtime_check_id_has_guidance() -> None:
    from polaris_tui import troubleshooting

    ids = {
        "kv": ["kv.namespace", "kv.preview-namespace", "kv.wrangler-config"],
        "secret": ["secret.in-keyring", "secret.on-worker", "secret.relay-accepts",
                   "secret.relay-accepts-b"],
        "deploy": ["deploy.script", "deploy.bindings", "deploy.secret-names"],
        "route": ["route.bound", "route.mail-record", "route.get-send", "route.unsigned-post",
                  "route.signed-probe", "delivery.authenticated"],
    }  # fmt: skip
    for step, check_ids in ids.items():
        for check_id in check_ids:
            for status in (None, 401, 404, 500, 522):
                entry = troubleshooting.lookup(step, check_id=check_id, status=status)
                assert entry is not None, (check_id, status)
    assert troubleshooting.lookup("route", check_id="route.get-send", status=200).id == (
        "route-other-answer"
    )
    assert troubleshooting.lookup("secret", check_id="secret.relay-accepts", status=401).id == (
        "secret-rejected"
    )
