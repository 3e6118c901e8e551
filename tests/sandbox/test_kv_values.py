"""KV values, metadata and keys over the API with Cloudflare's error codes."""

from __future__ import annotations

import json

import httpx


def api(ep, method: str, path: str, **kwargs) -> httpx.Response:
    return httpx.request(
        method,
        f"{ep.api}/accounts/{ep.account_id}/storage/kv/namespaces{path}",
        headers={"Authorization": f"Bearer {ep.token}"},
        timeout=30,
        **kwargs,
    )


def test_put_get_metadata_list_and_delete(cf, ep):
    ns = cf.kv.namespaces.create(account_id=ep.account_id, title="values").id
    assert api(ep, "PUT", f"/{ns}/values/plain", content=b"raw-bytes").json()["success"]
    form = {"value": (None, b"with-meta"), "metadata": (None, json.dumps({"n": 1}))}
    assert (
        api(ep, "PUT", f"/{ns}/values/a%2Fslash?expiration_ttl=120", files=form).status_code == 200
    )
    assert api(ep, "GET", f"/{ns}/values/plain").content == b"raw-bytes"
    assert api(ep, "GET", f"/{ns}/values/a%2Fslash").content == b"with-meta"
    assert api(ep, "GET", f"/{ns}/metadata/a%2Fslash").json()["result"] == {"n": 1}
    keys = api(ep, "GET", f"/{ns}/keys").json()
    assert [k["name"] for k in keys["result"]] == ["a/slash", "plain"]
    assert "expiration" in keys["result"][0] and keys["result"][0]["metadata"] == {"n": 1}
    assert keys["result_info"] == {"count": 2, "cursor": ""}
    assert [k["name"] for k in api(ep, "GET", f"/{ns}/keys?prefix=p").json()["result"]] == ["plain"]
    assert api(ep, "DELETE", f"/{ns}/values/plain").status_code == 200
    missing = api(ep, "GET", f"/{ns}/values/plain")
    assert (missing.status_code, missing.json()["errors"][0]["code"]) == (404, 10009)


def test_keys_page_with_a_cursor(cf, ep):
    ns = cf.kv.namespaces.create(account_id=ep.account_id, title="paged").id
    for i in range(12):
        api(ep, "PUT", f"/{ns}/values/k{i:02d}", content=b"x")
    first = api(ep, "GET", f"/{ns}/keys?limit=10").json()
    assert len(first["result"]) == 10 and first["result_info"]["cursor"]
    rest = api(ep, "GET", f"/{ns}/keys?limit=10&cursor={first['result_info']['cursor']}").json()
    assert [k["name"] for k in rest["result"]] == ["k10", "k11"]
    assert rest["result_info"]["cursor"] == ""


def test_errors_name_the_field(cf, ep):
    ns = cf.kv.namespaces.create(account_id=ep.account_id, title="errors").id
    short = api(ep, "PUT", f"/{ns}/values/k?expiration_ttl=30", content=b"x")
    assert (short.status_code, short.json()["errors"][0]["code"]) == (400, 10033)
    assert "expiration_ttl of 30" in short.json()["errors"][0]["message"]
    unknown = api(ep, "GET", "/0123456789abcdef0123456789abcdef/values/k")
    assert (unknown.status_code, unknown.json()["errors"][0]["code"]) == (404, 10013)
    cf.kv.namespaces.delete(ns, account_id=ep.account_id)
    gone = api(ep, "PUT", f"/{ns}/values/k", content=b"x")
    assert (gone.status_code, gone.json()["errors"][0]["code"]) == (404, 10013)
