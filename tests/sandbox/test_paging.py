"""``all_items``: every page of a list, without the SDK's trailing request for an empty page."""

from __future__ import annotations

import json
import os

import httpx
import pytest

from polaris_tui.adapters.cloudflare_api import all_items
from polaris_tui.sandbox import Sandbox


def list_requests(ep) -> list[str]:
    log = ep.directory / "requests.jsonl"
    lines = log.read_text().splitlines() if log.exists() else []
    return [
        e["query"]
        for e in map(json.loads, lines)
        if e["method"] == "GET" and e["path"].endswith("/dns_records")
    ]


def test_every_page_and_no_request_past_the_last(cf, ep):
    for i in range(5):
        cf.dns.records.create(
            zone_id=ep.zone_id, name=f"h{i}", type="A", content=f"192.0.2.{i + 1}", ttl=300
        )
    before = len(list_requests(ep))
    items = all_items(cf.dns.records.list(zone_id=ep.zone_id, type="A", per_page=2))
    assert sorted(r.content for r in items) == [f"192.0.2.{i}" for i in range(1, 6)]
    assert len(list_requests(ep)) - before == 3  # pages 1-3 of 3; the SDK would also ask page 4


def test_a_short_list_is_one_request(cf, ep):
    before = len(list_requests(ep))
    assert all_items(cf.dns.records.list(zone_id=ep.zone_id, type="MX", per_page=100)) == []
    assert len(list_requests(ep)) - before == 1


@pytest.fixture(scope="module")
def capped(tmp_path_factory):
    """A sandbox whose list pages hold at most two items, whatever the client asks for."""
    from polaris_tui.session import sandbox_context

    previous = os.environ.get("POLARIS_SANDBOX_PAGE_CAP")
    os.environ["POLARIS_SANDBOX_PAGE_CAP"] = "2"
    box = Sandbox(tmp_path_factory.mktemp("capped"))
    try:
        endpoints = box.start()
    finally:
        if previous is None:
            del os.environ["POLARIS_SANDBOX_PAGE_CAP"]
        else:
            os.environ["POLARIS_SANDBOX_PAGE_CAP"] = previous
    yield sandbox_context(box, endpoints)
    box.stop()


async def test_short_pages_are_still_read_to_the_end(capped):
    """Cloudflare may answer fewer items than per_page asked: the product pages by the
    totals, so DNS records and KV namespaces are all found."""
    from polaris_tui.steps.kv import list_namespaces
    from polaris_tui.steps.records import list_records

    ctx = capped
    for i in range(5):
        ctx.cf.dns.records.create(
            zone_id=ctx.zone_id, name=f"h{i}", type="A", content=f"192.0.2.{i + 1}", ttl=300
        )
    for title in ("a", "b", "c"):
        ctx.cf.kv.namespaces.create(account_id=ctx.config.account_id, title=title)
    first = ctx.cf.dns.records.list(zone_id=ctx.zone_id, type="A", per_page=100)
    assert len(first.result) == 2 and first.result_info.per_page == 100
    before = len(list_requests(ctx.sandbox))
    found = await list_records(ctx, rtype="A")
    assert sorted(r.content for r in found) == [f"192.0.2.{i}" for i in range(1, 6)]
    assert len(list_requests(ctx.sandbox)) - before == 3  # 2 + 2 + 1, nothing past the end
    assert sorted(await list_namespaces(ctx)) == ["a", "b", "c"]


def test_kv_list_takes_the_page_size_wrangler_asks_for(cf, ep):
    """wrangler lists KV namespaces with per_page=1000: no invented limit refuses it."""
    for title in ("one", "two"):
        cf.kv.namespaces.create(account_id=ep.account_id, title=title)
    resp = httpx.get(
        f"{ep.api}/accounts/{ep.account_id}/storage/kv/namespaces",
        params={"per_page": 1000, "order": "title", "direction": "asc"},
        headers={"Authorization": f"Bearer {ep.token}"},
    )
    assert resp.status_code == 200, resp.text
    assert [n["title"] for n in resp.json()["result"]] == ["one", "two"]
