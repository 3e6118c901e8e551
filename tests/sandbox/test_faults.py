"""Fault injection, latency and the request log, observed through the real SDK."""

from __future__ import annotations

import json

import cloudflare
import dns.message
import dns.query
import httpx
import pytest

from polaris_tui.sandbox.faults import FaultPlan, FaultSpecError, parse


def log_entries(ep) -> list[dict]:
    path = ep.directory / "requests.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_two_500s_then_success_is_retried_by_the_sdk(cf, ep, sandbox):
    sandbox.set_faults("POST:/zones/*/dns_records:500:2")
    rec = cf.dns.records.create(
        zone_id=ep.zone_id, name="manage", type="A", content="192.0.2.10", ttl=1
    )
    assert rec.content == "192.0.2.10"
    posts = [e for e in log_entries(ep) if e["method"] == "POST"]
    assert [e["status"] for e in posts] == [500, 500, 200]
    assert [e.get("fault") for e in posts] == ["500", "500", None]


def test_reset_surfaces_as_connection_error_and_is_retried(cf, ep, sandbox):
    sandbox.set_faults("GET:/zones:reset:1")
    assert [z.name for z in cf.zones.list()] == ["polaris.test"]
    first_page = [
        e for e in log_entries(ep) if e["path"] == "/zones" and "page=2" not in e["query"]
    ]
    assert [(e.get("fault"), e["status"]) for e in first_page] == [("reset", 0), (None, 200)]
    sandbox.set_faults("GET:/zones:reset")
    once = cloudflare.Cloudflare(api_token=ep.token, base_url=ep.api, max_retries=0)
    with pytest.raises(cloudflare.APIConnectionError):
        once.zones.list()


def test_429_carries_retry_after_and_count_limits_hits(cf, ep, sandbox):
    sandbox.set_faults("GET:/user/tokens/verify:429:1")
    raw = httpx.get(ep.api + "/user/tokens/verify", headers={"Authorization": f"Bearer {ep.token}"})
    assert raw.status_code == 429 and raw.headers["retry-after"] == "0"
    assert raw.json()["success"] is False
    assert cf.user.tokens.verify().status == "active"


def test_delay_and_latency_do_not_change_answers(cf, ep, sandbox):
    sandbox.set_faults("*:*:delay=20")
    sandbox.set_latency(10)
    try:
        assert cf.user.tokens.verify().status == "active"
        resp = dns.query.udp(
            dns.message.make_query("polaris.test", "NS"), ep.dns_host, port=ep.dns_port, timeout=5
        )
        assert len(resp.answer[0]) == 2
    finally:
        sandbox.set_latency(0)


def test_request_log_redacts_secrets_and_tokens(cf, ep):
    cf.workers.scripts.update(
        "w",
        account_id=ep.account_id,
        metadata={"main_module": "w.js", "bindings": []},
        files=[("w.js", b"export default {}", "application/javascript+module")],
    )
    cf.workers.scripts.secrets.update(
        "w",
        account_id=ep.account_id,
        name="POLARIS_SECRET_A",
        text="do-not-log-me",
        type="secret_text",
    )
    text = (ep.directory / "requests.jsonl").read_text()
    assert "do-not-log-me" not in text
    assert ep.token not in text
    put = next(e for e in log_entries(ep) if e["path"].endswith("/secrets"))
    assert put["body"] == {"name": "POLARIS_SECRET_A", "text": "[redacted]", "type": "secret_text"}
    assert put["status"] == 200 and put["ms"] >= 0


def test_fault_spec_errors_name_the_problem():
    with pytest.raises(FaultSpecError, match="METHOD:PATH_GLOB:ACTION"):
        parse("POST:/zones")
    with pytest.raises(FaultSpecError, match="ACTION"):
        parse("POST:/zones:explode")
    with pytest.raises(FaultSpecError, match="COUNT"):
        parse("POST:/zones:500:many")
    plan = FaultPlan("POST:/zones/*/dns_records:500:2;*:*:delay=50")
    first = plan.decide("POST", "/zones/z/dns_records")
    assert (first.status, first.delay_ms) == (500, 50)
    plan.decide("POST", "/zones/z/dns_records")
    assert plan.decide("POST", "/zones/z/dns_records").status is None
    assert plan.decide("GET", "/zones/z/dns_records").status is None


def test_redaction_keeps_structure_and_hides_nested_values():
    from polaris_tui.sandbox.api.app import redact

    body = {
        "secrets": {"POLARIS_SECRET_B": {"name": "POLARIS_SECRET_B", "text": "x"}, "OLD": None},
        "actions": [{"type": "forward", "value": ["owner@example.com"]}],
        "name": "mail",
        "content": "192.0.2.1",
    }
    assert redact(body) == {
        "secrets": {
            "POLARIS_SECRET_B": {"name": "POLARIS_SECRET_B", "text": "[redacted]"},
            "OLD": None,
        },
        "actions": [{"type": "forward", "value": ["[redacted]"]}],
        "name": "mail",
        "content": "192.0.2.1",
    }
