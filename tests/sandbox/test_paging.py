"""``all_items``: every page of a list, without the SDK's trailing request for an empty page."""

from __future__ import annotations

import json

from polaris_tui.adapters.cloudflare_api import all_items


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
