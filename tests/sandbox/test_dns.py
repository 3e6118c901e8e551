"""DNS records through the real SDK, answered by the sandbox's authoritative DNS server."""

from __future__ import annotations

import cloudflare
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from polaris_tui.sandbox import EDGE_IPV4, EDGE_IPV6


def ask(ep, name: str, rtype: str, *, tcp: bool = False) -> dns.message.Message:
    query = dns.message.make_query(name, rtype)
    send = dns.query.tcp if tcp else dns.query.udp
    return send(query, ep.dns_host, port=ep.dns_port, timeout=5)


def answers(resp: dns.message.Message) -> list[str]:
    return sorted(rd.to_text() for rrset in resp.answer for rd in rrset)


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_created_record_is_answered_authoritatively(cf, ep, tcp):
    cf.dns.records.create(
        zone_id=ep.zone_id, name="manage", type="A", content="192.0.2.10", ttl=1, proxied=False
    )
    resp = ask(ep, "manage.polaris.test", "A", tcp=tcp)
    assert resp.rcode() == dns.rcode.NOERROR
    assert resp.flags & dns.flags.AA
    assert answers(resp) == ["192.0.2.10"]


def test_list_filters_and_pagination(cf, ep):
    for i in range(5):
        cf.dns.records.create(
            zone_id=ep.zone_id,
            name=f"h{i}.polaris.test",
            type="A",
            content=f"192.0.2.{i + 1}",
            ttl=300,
        )
    cf.dns.records.create(zone_id=ep.zone_id, name="h0", type="AAAA", content="2001:db8::1", ttl=1)
    exact = list(cf.dns.records.list(zone_id=ep.zone_id, name={"exact": "h0.polaris.test"}))
    assert sorted(r.type for r in exact) == ["A", "AAAA"]
    only_a = list(
        cf.dns.records.list(zone_id=ep.zone_id, name={"exact": "h0.polaris.test"}, type="A")
    )
    assert [r.content for r in only_a] == ["192.0.2.1"]
    page = cf.dns.records.list(zone_id=ep.zone_id, type="A", per_page=2)
    assert page.result_info.total_count == 5 and page.result_info.total_pages == 3
    assert len(list(cf.dns.records.list(zone_id=ep.zone_id, type="A", per_page=2))) == 5


def test_edit_update_delete(cf, ep):
    rec = cf.dns.records.create(
        zone_id=ep.zone_id, name="manage", type="A", content="192.0.2.10", ttl=1
    )
    edited = cf.dns.records.edit(
        rec.id, zone_id=ep.zone_id, content="192.0.2.11", name="manage", type="A", ttl=1
    )
    assert edited.content == "192.0.2.11" and edited.id == rec.id
    updated = cf.dns.records.update(
        rec.id,
        zone_id=ep.zone_id,
        name="manage",
        type="A",
        content="192.0.2.12",
        ttl=120,
        proxied=True,
    )
    assert updated.proxied is True and updated.ttl == 120
    assert answers(ask(ep, "manage.polaris.test", "A")) == [EDGE_IPV4]
    cf.dns.records.delete(rec.id, zone_id=ep.zone_id)
    assert ask(ep, "manage.polaris.test", "A").rcode() == dns.rcode.NXDOMAIN
    with pytest.raises(cloudflare.NotFoundError) as err:
        cf.dns.records.get(rec.id, zone_id=ep.zone_id)
    assert err.value.body["errors"][0]["code"] == 81044


def test_batch_applies_all_or_nothing(cf, ep):
    a = cf.dns.records.create(zone_id=ep.zone_id, name="a", type="A", content="192.0.2.1", ttl=1)
    b = cf.dns.records.create(zone_id=ep.zone_id, name="b", type="A", content="192.0.2.2", ttl=1)
    result = cf.dns.records.batch(
        zone_id=ep.zone_id,
        deletes=[{"id": a.id}],
        patches=[{"id": b.id, "content": "192.0.2.22"}],
        posts=[{"name": "c", "type": "TXT", "content": "hello", "ttl": 1}],
    )
    assert [r.id for r in result.deletes] == [a.id]
    assert result.patches[0].content == "192.0.2.22"
    assert result.posts[0].name == "c.polaris.test"
    with pytest.raises(cloudflare.BadRequestError):
        cf.dns.records.batch(
            zone_id=ep.zone_id,
            deletes=[{"id": b.id}],
            posts=[{"name": "d", "type": "A", "content": "not-an-ip", "ttl": 1}],
        )
    names = sorted(r.name for r in cf.dns.records.list(zone_id=ep.zone_id))
    assert names == ["b.polaris.test", "c.polaris.test"]


def test_validation_names_the_field(cf, ep):
    with pytest.raises(cloudflare.BadRequestError) as err:
        cf.dns.records.create(zone_id=ep.zone_id, name="x", type="A", content="nope", ttl=1)
    assert err.value.body["errors"][0]["code"] == 9207
    assert "'content'" in err.value.body["errors"][0]["message"]
    with pytest.raises(cloudflare.BadRequestError) as err:
        cf.dns.records.create(zone_id=ep.zone_id, name="x", type="MX", content="mx.example", ttl=1)
    assert "priority" in err.value.body["errors"][0]["message"]
    with pytest.raises(cloudflare.BadRequestError) as err:
        cf.dns.records.create(
            zone_id=ep.zone_id, name="x", type="TXT", content="t", ttl=1, proxied=True
        )
    assert err.value.body["errors"][0]["code"] == 9004


def test_cname_conflicts_and_identical_records(cf, ep):
    cf.dns.records.create(zone_id=ep.zone_id, name="mail", type="A", content="192.0.2.1", ttl=1)
    with pytest.raises(cloudflare.BadRequestError) as err:
        cf.dns.records.create(
            zone_id=ep.zone_id, name="mail", type="CNAME", content="elsewhere.example", ttl=1
        )
    assert err.value.body["errors"][0]["code"] == 81053
    with pytest.raises(cloudflare.BadRequestError) as err:
        cf.dns.records.create(zone_id=ep.zone_id, name="mail", type="A", content="192.0.2.1", ttl=1)
    assert err.value.body["errors"][0]["code"] == 81058


def test_wrong_token_is_401_with_cloudflare_shape(ep):
    bad = cloudflare.Cloudflare(api_token="wrong", base_url=ep.api, max_retries=0)
    with pytest.raises(cloudflare.AuthenticationError) as err:
        bad.dns.records.list(zone_id=ep.zone_id)
    assert err.value.status_code == 401
    assert err.value.body["errors"] == [{"code": 10000, "message": "Authentication error"}]


@pytest.mark.parametrize("token", ["has spaces in it", 'quoted"token', "dotted.token.value"])
def test_malformed_token_is_400_6003_with_6111_in_its_chain(ep, token):
    from polaris_tui import troubleshooting

    bad = cloudflare.Cloudflare(api_token=token, base_url=ep.api, max_retries=0)
    with pytest.raises(cloudflare.BadRequestError) as err:
        bad.dns.records.list(zone_id=ep.zone_id)
    assert err.value.status_code == 400
    [error] = err.value.body["errors"]
    assert error["code"] == 6003
    assert [link["code"] for link in error["error_chain"]] == [6111]
    entry = troubleshooting.lookup("dns", exc=err.value)
    assert entry is not None and entry.id == "token-malformed"


def test_authorization_header_without_bearer_is_malformed(ep):
    import subprocess

    out = subprocess.run(
        ["curl", "-s", "-w", "\n%{http_code}", "-H", f"Authorization: Token {ep.token}",
         f"{ep.api}/zones/{ep.zone_id}/dns_records"],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    body, status = out.rsplit("\n", 1)
    assert status == "400" and '"code":6003' in body.replace(" ", "") and "6111" in body


def test_token_verify_and_zone_lookup(cf, ep):
    assert cf.user.tokens.verify().status == "active"
    assert cf.accounts.tokens.verify(account_id=ep.account_id).status == "active"
    zones = list(cf.zones.list(name="polaris.test"))
    assert [z.id for z in zones] == [ep.zone_id]
    assert list(cf.zones.list(name="other.test")) == []


def test_long_txt_is_split_into_character_strings(cf, ep):
    content = "v=DKIM1; k=rsa; p=" + "A" * 400
    cf.dns.records.create(
        zone_id=ep.zone_id, name="sel._domainkey", type="TXT", content=content, ttl=1
    )
    for tcp in (False, True):
        resp = ask(ep, "sel._domainkey.polaris.test", "TXT", tcp=tcp)
        strings = resp.answer[0][0].strings
        assert len(strings) == 2 and all(len(s) <= 255 for s in strings)
        assert b"".join(strings).decode() == content


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_quoted_txt_longer_than_255_is_split_not_dropped(cf, ep, tcp):
    long = "x" * 300
    cf.dns.records.create(
        zone_id=ep.zone_id, name="long", type="TXT", content=f'"{long}" "tail"', ttl=1
    )
    query = dns.message.make_query("long.polaris.test", "TXT", use_edns=0)
    send = dns.query.tcp if tcp else dns.query.udp
    resp = send(query, ep.dns_host, port=ep.dns_port, timeout=5)
    assert [len(s) for s in resp.answer[0][0].strings] == [255, 45, 4]
    assert b"".join(resp.answer[0][0].strings) == (long + "tail").encode()


def _big_txt(cf, ep) -> list[str]:
    """Four 200-byte TXT records at one name: over 512 bytes on the wire."""
    contents = [f"v{i}=" + "y" * 200 for i in range(4)]
    for content in contents:
        cf.dns.records.create(zone_id=ep.zone_id, name="big", type="TXT", content=content, ttl=1)
    return sorted(contents)


def test_udp_answer_over_512_bytes_without_edns_is_truncated(cf, ep):
    contents = _big_txt(cf, ep)
    plain = dns.query.udp(
        dns.message.make_query("big.polaris.test", "TXT"), ep.dns_host, port=ep.dns_port, timeout=5
    )
    assert plain.flags & dns.flags.TC and not plain.answer
    assert plain.edns < 0  # no OPT to a query without one
    full = ask(ep, "big.polaris.test", "TXT", tcp=True)
    assert sorted(b"".join(rd.strings).decode() for rd in full.answer[0]) == contents
    edns = dns.query.udp(
        dns.message.make_query("big.polaris.test", "TXT", use_edns=0, payload=1232),
        ep.dns_host,
        port=ep.dns_port,
        timeout=5,
    )
    assert not edns.flags & dns.flags.TC and len(edns.answer[0]) == 4
    assert edns.edns == 0 and edns.payload >= 512  # EDNS answered with an OPT record


def test_the_product_falls_back_to_tcp_on_a_truncated_answer(cf, ep):
    import asyncio

    from polaris_tui.adapters.dns_probe import DnsProber

    contents = _big_txt(cf, ep)
    query = dns.message.make_query("big.polaris.test", "TXT")  # as the prober asks
    udp = dns.query.udp(query, ep.dns_host, port=ep.dns_port, timeout=5)
    assert udp.flags & dns.flags.TC and not udp.answer
    prober = DnsProber("polaris.test", authoritative=[(ep.dns_host, ep.dns_port)])
    [answer] = asyncio.run(prober.ask_authoritative("big.polaris.test", "TXT"))
    assert answer.ok and list(answer.records) == contents  # the UDP reply carried none


def test_ad_bit_is_not_copied_from_the_query(cf, ep):
    cf.dns.records.create(zone_id=ep.zone_id, name="ad", type="A", content="192.0.2.7", ttl=1)
    query = dns.message.make_query("ad.polaris.test", "A")
    query.flags |= dns.flags.AD
    resp = dns.query.udp(query, ep.dns_host, port=ep.dns_port, timeout=5)
    assert answers(resp) == ["192.0.2.7"] and not resp.flags & dns.flags.AD


def test_mx_ns_soa_glue_cname_chain(cf, ep):
    cf.dns.records.create(
        zone_id=ep.zone_id, name="@", type="MX", content="mx.polaris.test", priority=10, ttl=1
    )
    cf.dns.records.create(zone_id=ep.zone_id, name="mx", type="A", content="192.0.2.25", ttl=1)
    cf.dns.records.create(
        zone_id=ep.zone_id, name="www", type="CNAME", content="mx.polaris.test", ttl=1
    )
    assert answers(ask(ep, "polaris.test", "MX")) == ["10 mx.polaris.test."]
    assert answers(ask(ep, "polaris.test", "NS")) == ["ns1.polaris.test.", "ns2.polaris.test."]
    assert answers(ask(ep, "ns1.polaris.test", "A")) == ["127.0.0.1"]
    glue = ask(ep, "polaris.test", "NS").additional
    assert sorted((rrset.name.to_text(), rrset[0].to_text()) for rrset in glue) == [
        ("ns1.polaris.test.", "127.0.0.1"),
        ("ns2.polaris.test.", "127.0.0.1"),
    ]
    assert ask(ep, "polaris.test", "SOA").answer[0].rdtype == dns.rdatatype.SOA
    chain = ask(ep, "www.polaris.test", "A")
    assert answers(chain) == ["192.0.2.25", "mx.polaris.test."]


def test_nxdomain_nodata_refused(cf, ep):
    cf.dns.records.create(zone_id=ep.zone_id, name="a.b", type="A", content="192.0.2.1", ttl=1)
    nodata = ask(ep, "a.b.polaris.test", "AAAA")
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer
    assert nodata.authority[0].rdtype == dns.rdatatype.SOA
    empty_non_terminal = ask(ep, "b.polaris.test", "A")
    assert empty_non_terminal.rcode() == dns.rcode.NOERROR and not empty_non_terminal.answer
    nx = ask(ep, "missing.polaris.test", "A")
    assert nx.rcode() == dns.rcode.NXDOMAIN and nx.flags & dns.flags.AA
    assert ask(ep, "example.com", "A").rcode() == dns.rcode.REFUSED


def test_proxied_records_answer_with_edge_addresses(cf, ep):
    cf.dns.records.create(
        zone_id=ep.zone_id, name="mail", type="A", content="192.0.2.10", ttl=1, proxied=True
    )
    assert answers(ask(ep, "mail.polaris.test", "A")) == [EDGE_IPV4]
    assert answers(ask(ep, "mail.polaris.test", "AAAA")) == [EDGE_IPV6]


def test_unsupported_record_type_names_the_field(cf, ep):
    with pytest.raises(cloudflare.BadRequestError) as err:
        cf.dns.records.create(
            zone_id=ep.zone_id,
            name="x",
            type="SRV",
            ttl=1,
            data={"port": 1, "priority": 1, "target": "t", "weight": 1},
        )
    assert "'type'" in err.value.body["errors"][0]["message"]
