"""SPF merge rules and lookup counting (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polaris_tui import spf

ROUTING = "v=spf1 include:_spf.mx.cloudflare.net ~all"
GOOGLE = "v=spf1 include:_spf.google.com ~all"


def test_recognises_spf_only_with_exact_version() -> None:
    assert spf.is_spf("v=spf1 -all")
    assert spf.is_spf("V=SPF1 include:x ~all")
    assert not spf.is_spf("v=spf10 -all")
    assert not spf.is_spf("google-site-verification=abc")
    with pytest.raises(spf.SpfError, match="v=spf1"):
        spf.parse("v=DMARC1; p=none")


def test_merge_of_operator_and_email_routing_records_is_one_record() -> None:
    merged = spf.merge([GOOGLE, ROUTING], qualifier="-all")
    assert merged.record == "v=spf1 include:_spf.google.com include:_spf.mx.cloudflare.net -all"


def test_merge_adds_cloudflare_include_and_keeps_every_mechanism_in_order() -> None:
    merged = spf.merge(["v=spf1 ip4:192.0.2.0/24 mx a:relay.example.net ?all"])
    assert merged.record == (
        "v=spf1 ip4:192.0.2.0/24 mx a:relay.example.net include:_spf.mx.cloudflare.net -all"
    )


def test_merge_drops_duplicates_ignoring_case_and_plus_qualifier() -> None:
    merged = spf.merge(["v=spf1 +mx INCLUDE:_spf.mx.cloudflare.net ~all", "v=spf1 mx -all"])
    assert merged.record == "v=spf1 +mx INCLUDE:_spf.mx.cloudflare.net -all"


def test_merge_ends_with_the_configured_qualifier() -> None:
    assert spf.merge([ROUTING], qualifier="~all").record == ROUTING
    assert spf.merge([]).record == "v=spf1 include:_spf.mx.cloudflare.net -all"
    with pytest.raises(spf.SpfError, match="qualifier"):
        spf.merge([], qualifier="all")


def test_terms_after_all_are_dropped_like_receivers_ignore_them() -> None:
    assert spf.parse("v=spf1 mx -all include:late").terms == ("mx",)
    assert spf.parse("v=spf1 mx all").all == "+all"


def test_redirect_becomes_include_and_exp_is_kept_once_before_all() -> None:
    merged = spf.merge(["v=spf1 redirect=_spf.example.net", "v=spf1 exp=explain.example.net -all"])
    assert merged.record == (
        "v=spf1 include:_spf.example.net include:_spf.mx.cloudflare.net "
        "exp=explain.example.net -all"
    )
    assert merged.notes == ("redirect=_spf.example.net kept as include:_spf.example.net",)


_term = st.sampled_from(
    ["mx", "a", "ip4:192.0.2.1", "ip6:2001:db8::/32", "include:_spf.google.com", "~mx", "ptr"]
)
_record = st.lists(_term, max_size=6).map(lambda ts: " ".join(["v=spf1", *ts, "~all"]))


@given(st.lists(_record, min_size=1, max_size=4), st.sampled_from(["-all", "~all"]))
def test_merge_is_idempotent_and_always_one_valid_record(records: list[str], q: str) -> None:
    once = spf.merge(records, qualifier=q).record
    assert spf.merge([once], qualifier=q).record == once
    assert once.startswith("v=spf1 ") and once.endswith(" " + q)
    assert once.count(" all") == 0 and once.split().count(q) == 1
    assert "include:_spf.mx.cloudflare.net" in once.split()
    for record in records:
        for term in spf.parse(record).terms:
            assert term.lower() in once.lower()


def test_lookup_count_follows_includes_and_reports_unresolved_targets() -> None:
    published = {
        "_spf.google.com": (
            "v=spf1 include:_netblocks.google.com include:_netblocks2.google.com ~all"
        ),
        "_netblocks.google.com": "v=spf1 ip4:192.0.2.0/24 ~all",
    }
    count = spf.count_lookups(
        "v=spf1 mx ip4:192.0.2.1 include:_spf.google.com include:_spf.mx.cloudflare.net -all",
        published.get,
    )
    # mx, include google (+2 nested includes), include cloudflare
    assert count.total == 5
    assert count.unresolved == ("_netblocks2.google.com", "_spf.mx.cloudflare.net")
    assert not count.over_limit
    assert spf.lookup_note(count).startswith("5/10 DNS lookups (at least; unresolved:")


def test_lookup_count_survives_include_loops() -> None:
    loop = {"a.example": "v=spf1 include:b.example -all", "b.example": "v=spf1 include:a.example"}
    assert spf.count_lookups("v=spf1 include:a.example -all", loop.get).total == 3


def test_more_than_ten_lookups_warns_before_publishing() -> None:
    record = "v=spf1 " + " ".join(f"a:h{i}.example" for i in range(11)) + " -all"
    count = spf.count_lookups(record)
    assert count.total == 11 and count.over_limit
    assert spf.lookup_note(count).startswith("WARNING: 11 DNS lookups exceed SPF's limit of 10")
    assert not spf.count_lookups("v=spf1 " + " ".join(["mx"] * 10) + " -all").over_limit
