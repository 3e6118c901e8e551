"""The edge runs the uploaded Worker in workerd: its modules, its vars and secrets, KV on the
sandbox's own KV store, send_email into the SMTP inbox; reloads after uploads and secret
changes; 503 with the reason when Node is missing."""

from __future__ import annotations

import email
import json
import secrets
from pathlib import Path

import httpx

from polaris_tui.sandbox import Sandbox
from tests.sandbox.test_email import wait_until

WORKER = "edge-probe"
DATE = "2026-04-26"


def upload(cf, ep, source: str, bindings: list[dict] | None = None) -> None:
    cf.workers.scripts.update(
        WORKER,
        account_id=ep.account_id,
        metadata={"main_module": "main.js", "compatibility_date": DATE, "bindings": bindings or []},
        files=[("main.js", source.encode(), "application/javascript+module")],
    )


def route(cf, ep) -> None:
    cf.dns.records.create(
        zone_id=ep.zone_id, name="mail", type="A", content="192.0.2.10", ttl=1, proxied=True
    )
    cf.workers.routes.create(zone_id=ep.zone_id, pattern="mail.polaris.test/*", script=WORKER)


def call(ep, path: str = "/", body: bytes = b"") -> httpx.Response:
    return httpx.post(
        ep.edge + path, headers={"Host": "mail.polaris.test"}, content=body, timeout=120
    )


def api(ep, method: str, path: str, **kwargs) -> httpx.Response:
    return httpx.request(
        method,
        f"{ep.api}/accounts/{ep.account_id}{path}",
        headers={"Authorization": f"Bearer {ep.token}"},
        timeout=30,
        **kwargs,
    )


def test_the_edge_answers_with_the_uploaded_module(cf, ep):
    upload(cf, ep, "export default { fetch: () => new Response('ok') };")
    route(cf, ep)
    resp = call(ep, "/send", b"{}")
    assert (resp.status_code, resp.text) == (200, "ok")
    host = "export default { fetch: (r) => new Response(new URL(r.url).host, {status: 201}) };"
    upload(cf, ep, host)
    resp = call(ep)
    assert (resp.status_code, resp.text) == (201, "mail.polaris.test")


def test_vars_and_secrets_are_the_stored_bindings_and_a_secret_change_reloads(cf, ep):
    upload(
        cf,
        ep,
        "export default { fetch: (r, env) => Response.json({plain: env.PLAIN, secret: env.S}) };",
        [
            {"type": "plain_text", "name": "PLAIN", "text": "visible"},
            {"type": "secret_text", "name": "S", "text": "first-secret"},
        ],
    )
    route(cf, ep)
    assert call(ep).json() == {"plain": "visible", "secret": "first-secret"}
    cf.workers.scripts.secrets.update(
        WORKER, account_id=ep.account_id, name="S", text="second-secret", type="secret_text"
    )
    assert call(ep).json() == {"plain": "visible", "secret": "second-secret"}


KV_SOURCE = """
export default {
  async fetch(request, env) {
    const before = await env.KV.get("from-api");
    await env.KV.put("from-worker", "written-in-workerd", {
      expirationTtl: 120, metadata: { by: "worker" },
    });
    const listed = await env.KV.list({ prefix: "from-" });
    return Response.json({ before, keys: listed.keys.map((k) => k.name) });
  },
};
"""


def test_the_kv_binding_reads_and_writes_the_store_the_kv_api_shows(cf, ep, sandbox):
    ns = cf.kv.namespaces.create(account_id=ep.account_id, title="edge-kv")
    values = f"/storage/kv/namespaces/{ns.id}/values"
    assert api(ep, "PUT", f"{values}/from-api", content=b"put-through-the-api").status_code == 200
    upload(cf, ep, KV_SOURCE, [{"type": "kv_namespace", "name": "KV", "namespace_id": ns.id}])
    route(cf, ep)
    log = Path(ep.directory) / "requests.jsonl"
    logged = len(log.read_text().splitlines())
    # API faults and the API request log are the API's: a binding's reads are not API calls.
    sandbox.set_faults("*:/accounts/*/storage/kv/*:500")
    try:
        answer = call(ep)
    finally:
        sandbox.set_faults("")
    assert answer.json() == {"before": "put-through-the-api", "keys": ["from-api", "from-worker"]}
    assert len(log.read_text().splitlines()) == logged
    assert api(ep, "GET", f"{values}/from-worker").content == b"written-in-workerd"
    meta = api(ep, "GET", f"/storage/kv/namespaces/{ns.id}/metadata/from-worker").json()
    assert meta["result"] == {"by": "worker"}


MAIL_SOURCE = """
import { EmailMessage } from "cloudflare:email";
export default {
  async fetch(request, env) {
    const { from, to, marker } = await request.json();
    const raw = [
      `From: ${from}`, `To: ${to}`, `Subject: built by the uploaded code`,
      `Message-ID: <${marker}@polaris.test>`, `X-Marker: ${marker}`, "", `body ${marker}`, "",
    ].join("\\r\\n");
    try {
      await env.SEND.send(new EmailMessage(from, to, raw));
    } catch (error) {
      return new Response(String(error.message), { status: 502 });
    }
    return new Response("sent", { status: 202 });
  },
};
"""


MAIL_BINDING = {
    "type": "send_email",
    "name": "SEND",
    "allowed_sender_addresses": ["noreply@polaris.test"],
}


def test_send_email_delivers_the_message_the_code_built_into_the_inbox(cf, ep):
    sub = cf.email_sending.subdomains.create(zone_id=ep.zone_id, name="polaris.test")
    wait_until(lambda: cf.email_sending.subdomains.get(sub.tag, zone_id=ep.zone_id).enabled)
    upload(cf, ep, MAIL_SOURCE, [MAIL_BINDING])
    route(cf, ep)
    marker = secrets.token_hex(8)
    payload = {"from": "noreply@polaris.test", "to": "ops@example.com", "marker": marker}
    resp = call(ep, body=json.dumps(payload).encode())
    assert (resp.status_code, resp.text) == (202, "sent")
    messages = [email.message_from_bytes(p.read_bytes()) for p in Path(ep.inbox).glob("*.eml")]
    assert [(m["X-Marker"], m["To"], m.get_payload().strip()) for m in messages] == [
        (marker, "ops@example.com", f"body {marker}")
    ]
    refused = call(ep, body=json.dumps({**payload, "from": "other@polaris.test"}).encode())
    assert (refused.status_code, refused.text) == (502, "email from other@polaris.test not allowed")
    assert len(list(Path(ep.inbox).glob("*.eml"))) == 1


def test_send_email_under_email_routing_alone_reaches_only_verified_destinations(cf, ep):
    cf.email_routing.dns.create(zone_id=ep.zone_id)
    addr = cf.email_routing.addresses.create(account_id=ep.account_id, email="ops@example.com")
    ep.verify_address(addr.email)
    for mail in Path(ep.inbox).glob("*.eml"):  # the verification mail, read and done with
        mail.unlink()
    upload(cf, ep, MAIL_SOURCE, [MAIL_BINDING])
    route(cf, ep)
    payload = {"from": "noreply@polaris.test", "to": "ops@example.com", "marker": "verified"}
    assert call(ep, body=json.dumps(payload).encode()).status_code == 202
    refused = call(ep, body=json.dumps({**payload, "to": "customer@example.com"}).encode())
    assert refused.status_code == 502
    assert "customer@example.com are not verified destination addresses" in refused.text
    assert [m["To"] for m in map(email.message_from_bytes, _inbox_bytes(ep))] == [
        "ops@example.com"
    ]


def test_send_email_from_a_domain_without_email_service_is_refused(cf, ep):
    upload(cf, ep, MAIL_SOURCE, [MAIL_BINDING])
    route(cf, ep)
    payload = {"from": "noreply@polaris.test", "to": "ops@example.com", "marker": "none"}
    refused = call(ep, body=json.dumps(payload).encode())
    assert refused.status_code == 502
    assert "not on a domain onboarded to Email Service" in refused.text
    assert _inbox_bytes(ep) == []


def _inbox_bytes(ep) -> list[bytes]:
    return [p.read_bytes() for p in sorted(Path(ep.inbox).glob("*.eml"))]


def test_without_node_the_sandbox_says_so_and_the_mail_host_answers_503(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))
    with Sandbox(tmp_path / "sbx") as ep:
        assert ep.edge_workers.startswith("unavailable: node and npm not found on PATH")
        assert ep.serve_line()["edge_workers"] == ep.edge_workers
        import cloudflare

        cf = cloudflare.Cloudflare(api_token=ep.token, base_url=ep.api)
        upload(cf, ep, "export default { fetch: () => new Response('ok') };")
        route(cf, ep)
        resp = call(ep)
        assert resp.status_code == 503
        assert "node and npm not found on PATH" in resp.text and resp.text != "ok"
