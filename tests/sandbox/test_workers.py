"""Workers scripts, bindings, secrets, versions, routes and custom domains via the SDK,
and how the edge dispatches to them."""

from __future__ import annotations

import json

import cloudflare
import dns.message
import dns.query
import httpx
import pytest

from polaris_tui.sandbox import EDGE_IPV4

WORKER = "polaris-email-worker"
SOURCE = b"export default { async fetch() { return new Response('ok'); } };"


def deploy(cf, ep, *, bindings=None, keep=None, name=WORKER):
    metadata = {
        "main_module": "worker.js",
        "compatibility_date": "2026-05-01",
        "bindings": bindings or [],
    }
    if keep is not None:
        metadata["keep_bindings"] = keep
    return cf.workers.scripts.update(
        name,
        account_id=ep.account_id,
        metadata=metadata,
        files=[("worker.js", SOURCE, "application/javascript+module")],
    )


def settings(cf, ep, name=WORKER):
    return cf.workers.scripts.script_and_version_settings.get(name, account_id=ep.account_id)


def versions(ep, name=WORKER) -> int:
    resp = httpx.get(
        f"{ep.api}/accounts/{ep.account_id}/workers/scripts/{name}/versions",
        headers={"Authorization": f"Bearer {ep.token}"},
    )
    return resp.json()["result_info"]["total_count"]


def relay_bindings(ns_id: str) -> list[dict]:
    return [
        {"type": "kv_namespace", "name": "NONCES", "namespace_id": ns_id},
        {
            "type": "send_email",
            "name": "SEND_CUSTOMER",
            "allowed_sender_addresses": ["noreply@polaris.test"],
        },
        {
            "type": "send_email",
            "name": "SEND_ADMIN",
            "allowed_sender_addresses": ["admin@polaris.test"],
        },
        {"type": "plain_text", "name": "TS_WINDOW_MS", "text": "300000"},
        {"type": "secret_text", "name": "POLARIS_SECRET_A", "text": "first-secret-value"},
    ]


def test_upload_stores_bindings_and_hides_secret_values(cf, ep):
    ns = cf.kv.namespaces.create(account_id=ep.account_id, title="nonces")
    result = deploy(cf, ep, bindings=relay_bindings(ns.id))
    assert result.id == WORKER and result.etag
    got = {b.name: b for b in settings(cf, ep).bindings}
    assert got["NONCES"].namespace_id == ns.id
    assert got["SEND_ADMIN"].allowed_sender_addresses == ["admin@polaris.test"]
    assert got["TS_WINDOW_MS"].text == "300000"
    assert got["POLARIS_SECRET_A"].type == "secret_text"
    assert "first-secret-value" not in json.dumps(settings(cf, ep).to_dict())
    assert settings(cf, ep).compatibility_date == "2026-05-01"
    assert [s.id for s in cf.workers.scripts.list(account_id=ep.account_id)] == [WORKER]
    source = cf.workers.scripts.get(WORKER, account_id=ep.account_id)
    assert "fetch" in str(source)
    state = (ep.directory / "state.json").read_text()
    assert "first-secret-value" not in state


def test_keep_bindings_preserves_secrets_across_uploads(cf, ep):
    deploy(cf, ep, bindings=[{"type": "secret_text", "name": "POLARIS_SECRET_A", "text": "s3cr3t"}])
    deploy(
        cf, ep, bindings=[{"type": "plain_text", "name": "X", "text": "1"}], keep=["secret_text"]
    )
    assert sorted(b.name for b in settings(cf, ep).bindings) == ["POLARIS_SECRET_A", "X"]
    deploy(cf, ep, bindings=[{"type": "plain_text", "name": "X", "text": "2"}])
    assert [b.name for b in settings(cf, ep).bindings] == ["X"]
    assert versions(ep) == 3


def test_upload_rejects_missing_main_module_and_unknown_namespace(cf, ep):
    with pytest.raises(cloudflare.BadRequestError) as err:
        cf.workers.scripts.update(
            WORKER,
            account_id=ep.account_id,
            metadata={"main_module": "missing.js"},
            files=[("worker.js", SOURCE, "application/javascript+module")],
        )
    assert "main_module" in err.value.body["errors"][0]["message"]
    with pytest.raises(cloudflare.BadRequestError) as err:
        deploy(cf, ep, bindings=[{"type": "kv_namespace", "name": "N", "namespace_id": "nope"}])
    assert "namespace_id" in err.value.body["errors"][0]["message"]


def test_secret_on_missing_script_is_10007(cf, ep):
    with pytest.raises(cloudflare.NotFoundError) as err:
        cf.workers.scripts.secrets.update(
            WORKER, account_id=ep.account_id, name="POLARIS_SECRET_A", text="x", type="secret_text"
        )
    assert err.value.body["errors"][0]["code"] == 10007
    assert "workers.api.error.script_not_found" in err.value.body["errors"][0]["message"]


def test_secrets_put_list_get_delete_each_make_a_version(cf, ep):
    deploy(cf, ep)
    cf.workers.scripts.secrets.update(
        WORKER, account_id=ep.account_id, name="POLARIS_SECRET_A", text="a", type="secret_text"
    )
    names = [s.name for s in cf.workers.scripts.secrets.list(WORKER, account_id=ep.account_id)]
    assert names == ["POLARIS_SECRET_A"]
    got = cf.workers.scripts.secrets.get(
        "POLARIS_SECRET_A", account_id=ep.account_id, script_name=WORKER
    )
    assert got.name == "POLARIS_SECRET_A"
    cf.workers.scripts.secrets.delete(
        "POLARIS_SECRET_A", account_id=ep.account_id, script_name=WORKER
    )
    assert list(cf.workers.scripts.secrets.list(WORKER, account_id=ep.account_id)) == []
    assert versions(ep) == 3


def test_bulk_update_is_a_merge_patch_in_one_version(cf, ep, sandbox):
    deploy(
        cf,
        ep,
        bindings=[
            {"type": "secret_text", "name": "POLARIS_SECRET_A", "text": "a"},
            {"type": "secret_text", "name": "POLARIS_SECRET_B", "text": "b"},
        ],
    )
    before = versions(ep)
    result = cf.workers.scripts.secrets.bulk_update(
        WORKER,
        account_id=ep.account_id,
        secrets={
            "POLARIS_SECRET_A": {"name": "POLARIS_SECRET_A", "text": "new", "type": "secret_text"},
            "POLARIS_SECRET_B": None,
        },
    )
    assert sorted(result) == ["POLARIS_SECRET_A"]
    assert versions(ep) == before + 1
    stored = sandbox.keyring().get_password(f"polaris-sandbox-worker:{WORKER}", "POLARIS_SECRET_A")
    assert stored == "new"


def test_routes_crud_and_duplicate_pattern(cf, ep):
    deploy(cf, ep)
    route = cf.workers.routes.create(
        zone_id=ep.zone_id, pattern="mail.polaris.test/*", script=WORKER
    )
    assert route.pattern == "mail.polaris.test/*" and route.script == WORKER
    strict = cloudflare.Cloudflare(api_token=ep.token, base_url=ep.api, max_retries=0)
    with pytest.raises(cloudflare.ConflictError) as err:
        strict.workers.routes.create(
            zone_id=ep.zone_id, pattern="mail.polaris.test/*", script=WORKER
        )
    assert err.value.body["errors"][0]["code"] == 10020
    updated = cf.workers.routes.update(
        route.id, zone_id=ep.zone_id, pattern="mail.polaris.test/send*", script=WORKER
    )
    assert updated.pattern == "mail.polaris.test/send*"
    assert [r.id for r in cf.workers.routes.list(zone_id=ep.zone_id)] == [route.id]
    cf.workers.routes.delete(route.id, zone_id=ep.zone_id)
    assert list(cf.workers.routes.list(zone_id=ep.zone_id)) == []


def test_custom_domain_errors_and_edge_record(cf, ep):
    deploy(cf, ep)
    deploy(cf, ep, name="other-worker")
    strict = cloudflare.Cloudflare(api_token=ep.token, base_url=ep.api, max_retries=0)
    a = cf.dns.records.create(
        zone_id=ep.zone_id, name="mail", type="A", content="192.0.2.10", ttl=1
    )
    with pytest.raises(cloudflare.APIStatusError) as err:
        strict.workers.domains.update(
            account_id=ep.account_id,
            hostname="mail.polaris.test",
            service=WORKER,
            zone_id=ep.zone_id,
        )
    assert err.value.body["errors"][0]["code"] == 100117
    cf.dns.records.delete(a.id, zone_id=ep.zone_id)
    domain = cf.workers.domains.update(
        account_id=ep.account_id, hostname="mail.polaris.test", service=WORKER, zone_id=ep.zone_id
    )
    assert domain.hostname == "mail.polaris.test" and domain.zone_name == "polaris.test"
    records = list(cf.dns.records.list(zone_id=ep.zone_id, name={"exact": "mail.polaris.test"}))
    assert [(r.type, r.proxied) for r in records] == [("AAAA", True)]
    resp = dns.query.udp(
        dns.message.make_query("mail.polaris.test", "A"), ep.dns_host, port=ep.dns_port, timeout=5
    )
    assert [rd.to_text() for rrset in resp.answer for rd in rrset] == [EDGE_IPV4]
    with pytest.raises(cloudflare.APIStatusError) as err:
        strict.workers.domains.update(
            account_id=ep.account_id,
            hostname="mail.polaris.test",
            service="other-worker",
            zone_id=ep.zone_id,
        )
    assert err.value.body["errors"][0]["code"] == 100116
    again = cf.workers.domains.update(
        account_id=ep.account_id, hostname="mail.polaris.test", service=WORKER, zone_id=ep.zone_id
    )
    assert again.id == domain.id
    assert [d.id for d in cf.workers.domains.list(account_id=ep.account_id)] == [domain.id]
    cf.workers.domains.delete(domain.id, account_id=ep.account_id)
    assert list(cf.dns.records.list(zone_id=ep.zone_id, name={"exact": "mail.polaris.test"})) == []


def edge(ep, host: str, method: str = "POST", path: str = "/send") -> httpx.Response:
    return httpx.request(method, ep.edge + path, headers={"Host": host}, content=b"{}", timeout=10)


def test_edge_dispatch_rules(cf, ep):
    assert edge(ep, "example.com").status_code == 404
    assert edge(ep, "mail.polaris.test").status_code == 404
    cf.dns.records.create(
        zone_id=ep.zone_id, name="mail", type="A", content="192.0.2.10", ttl=1, proxied=True
    )
    assert edge(ep, "mail.polaris.test").status_code == 522
    deploy(cf, ep, bindings=[{"type": "secret_text", "name": "POLARIS_SECRET_A", "text": "a" * 32}])
    cf.workers.routes.create(zone_id=ep.zone_id, pattern="mail.polaris.test/*", script=WORKER)
    resp = edge(ep, "mail.polaris.test")  # the uploaded module answers, not a stand-in
    assert (resp.status_code, resp.text) == (200, "ok")


def test_route_without_proxied_record_does_not_dispatch(cf, ep):
    deploy(cf, ep)
    cf.workers.routes.create(zone_id=ep.zone_id, pattern="mail.polaris.test/*", script=WORKER)
    cf.dns.records.create(
        zone_id=ep.zone_id, name="mail", type="A", content="192.0.2.10", ttl=1, proxied=False
    )
    assert edge(ep, "mail.polaris.test").status_code == 404


def test_settings_patch_replaces_bindings_and_keeps_unsent_secret_values(cf, ep, sandbox):
    deploy(cf, ep, bindings=[{"type": "secret_text", "name": "POLARIS_SECRET_A", "text": "a"}])
    before = versions(ep)
    edited = cf.workers.scripts.script_and_version_settings.edit(
        WORKER,
        account_id=ep.account_id,
        settings={
            "bindings": [
                {"type": "secret_text", "name": "POLARIS_SECRET_A"},
                {"type": "plain_text", "name": "RATE_LIMIT_MAX", "text": "5"},
            ]
        },
    )
    assert sorted(b.name for b in edited.bindings) == ["POLARIS_SECRET_A", "RATE_LIMIT_MAX"]
    assert versions(ep) == before + 1
    secret = sandbox.keyring().get_password(f"polaris-sandbox-worker:{WORKER}", "POLARIS_SECRET_A")
    assert secret == "a"


def test_module_worker_downloads_as_multipart_form_data(cf, ep):
    """Cloudflare answers a module Worker's GET as multipart/form-data, one part per module."""
    from email import policy
    from email.parser import BytesParser

    deploy(cf, ep)
    resp = httpx.get(
        f"{ep.api}/accounts/{ep.account_id}/workers/scripts/{WORKER}",
        headers={"Authorization": f"Bearer {ep.token}", "Accept": "application/javascript"},
    )
    assert resp.status_code == 200
    content_type = resp.headers["content-type"]
    assert content_type.startswith("multipart/form-data; boundary=")
    message = BytesParser(policy=policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + resp.content
    )
    [part] = list(message.iter_parts())
    assert part.get_filename() == "worker.js"
    assert part.get_content_type() == "application/javascript+module"
    assert part.get_payload(decode=True) == SOURCE


def _refused(cf, ep, *, files=None, **metadata) -> str:
    """The 10021 message Cloudflare's validation answers an upload with."""
    with pytest.raises(cloudflare.BadRequestError) as err:
        cf.workers.scripts.update(
            WORKER,
            account_id=ep.account_id,
            metadata={"main_module": "worker.js", "compatibility_date": "2026-05-01", **metadata},
            files=files or [("worker.js", SOURCE, "application/javascript+module")],
        )
    [error] = err.value.body["errors"]
    assert err.value.status_code == 400 and error["code"] == 10021
    return error["message"]


def test_module_with_a_syntax_error_is_refused_with_the_parsers_message(cf, ep):
    import shutil

    assert shutil.which("node"), "the upload's syntax check needs Node (CI has Node 20)"
    bad = b"export default {\n  fetch() { return new Response('x' }\n};\n"
    message = _refused(cf, ep, files=[("worker.js", bad, "application/javascript+module")])
    assert message.startswith("Uncaught SyntaxError: missing ) after argument list")
    assert message.endswith("at worker.js:2")
    with pytest.raises(cloudflare.NotFoundError):
        cf.workers.scripts.get(WORKER, account_id=ep.account_id)  # nothing was stored


def test_unknown_binding_type_is_refused(cf, ep):
    message = _refused(cf, ep, bindings=[{"type": "kv_namespaces", "name": "NONCES"}])
    assert "metadata.bindings.0.type" in message and "kv_namespaces" in message


def test_compatibility_date_after_today_is_refused(cf, ep):
    import datetime

    tomorrow = datetime.datetime.now(datetime.UTC).date() + datetime.timedelta(days=1)
    message = _refused(cf, ep, compatibility_date=tomorrow.isoformat())
    assert "compatibility_date" in message and "future" in message


def test_send_email_sender_outside_the_zone_is_refused(cf, ep):
    binding = {
        "type": "send_email",
        "name": "SEND",
        "allowed_sender_addresses": ["noreply@elsewhere.example"],
    }
    message = _refused(cf, ep, bindings=[binding])
    assert "noreply@elsewhere.example" in message and "allowed_sender_addresses" in message


def test_binding_types_are_the_sdks():
    import typing

    from cloudflare.types.workers import script_update_params as params

    from polaris_tui.sandbox.api.workers import BINDING_TYPES

    sdk = {
        typing.get_args(typing.get_type_hints(m)["type"])[0]
        for m in typing.get_args(params.MetadataBinding)
        if "type" in typing.get_type_hints(m)
    }
    assert sdk == BINDING_TYPES
