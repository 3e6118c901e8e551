"""The sandbox demo: its stages on a ready relay, and the full `--sandbox demo --json` run."""

from __future__ import annotations

import json
from pathlib import Path

from polaris_tui import demo
from polaris_tui.context import Context
from tests.runtime_helpers import run_cli

pytest_plugins = ["tests.runtime_fixtures"]

STAGES = [
    "apply",
    "verify",
    "send-test",
    "rotate-graceful",
    "rotate-promote",
    "rotate-emergency",
    "verify-again",
]


def test_send_test_reaches_the_inbox_with_headers_and_logos(sending_ctx: Context) -> None:
    ok, detail = demo.mail_test(sending_ctx)
    assert ok, detail
    assert "4 logo URLs" in detail


def test_inbox_check_fails_for_a_message_that_never_arrived(relay_ctx: Context) -> None:
    assert relay_ctx.sandbox is not None
    inbox = Path(relay_ctx.sandbox.inbox)
    assert demo.find_in_inbox(inbox, "no such subject", timeout=0.3) is None


def test_rotation_stages_hide_secrets(sending_ctx: Context) -> None:
    ctx = sending_ctx
    for mode in ("graceful", "promote"):
        ok, detail = demo.rotation_stage(ctx, mode)
        assert ok, detail
    ok, detail = demo.emergency_with_sends(ctx)
    assert ok, detail
    assert "previous secret -> 401" in detail and "new secret -> 202" in detail
    value = ctx.vault.get("polaris-secret-a")
    assert value and value not in detail


def test_demo_needs_the_sandbox(tmp_path: Path, config_file: Path) -> None:
    from polaris_tui.cli import main

    assert main(["--config", str(config_file), "demo"]) == 2


def test_demo_json_in_a_fresh_sandbox(tmp_path: Path) -> None:
    out = run_cli(tmp_path / "fresh", "demo", "--json", timeout=600)
    report = json.loads(out.stdout)
    assert out.returncode == 0, json.dumps(report, indent=1)
    assert report["ok"] is True
    assert [s["name"] for s in report["stages"]] == STAGES
    assert all(s["ok"] and s["detail"] for s in report["stages"])


def test_the_deployed_worker_runs_in_workerd_on_the_sandbox_kv(sending_ctx: Context) -> None:
    """The shipped JS runs in workerd: strict mode keeps nonces and rate counters in its
    Durable Object, so the KV API's store holds only the last-accepted key it writes."""
    import httpx

    ep = sending_ctx.sandbox
    assert ep is not None
    ok, detail = demo.mail_test(sending_ctx)
    assert ok, detail
    auth = {"Authorization": f"Bearer {ep.token}"}
    scripts = f"{ep.api}/accounts/{ep.account_id}/workers/scripts"
    bindings = httpx.get(f"{scripts}/polaris-email-worker/settings", headers=auth).json()
    (kv,) = [b for b in bindings["result"]["bindings"] if b["type"] == "kv_namespace"]
    keys = httpx.get(
        f"{ep.api}/accounts/{ep.account_id}/storage/kv/namespaces/{kv['namespace_id']}/keys",
        headers=auth,
    ).json()["result"]
    assert [k["name"] for k in keys] == ["slot-last-accepted:A"]
    (guard,) = [
        b for b in bindings["result"]["bindings"] if b["type"] == "durable_object_namespace"
    ]
    assert guard["class_name"] == "RelayGuard" and guard["namespace_id"]
