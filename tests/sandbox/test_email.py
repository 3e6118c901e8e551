"""Email Routing and Email Sending through the SDK, checked over DNS too."""

from __future__ import annotations

import time

import dns.message
import dns.query
import pytest

from polaris_tui.sandbox import Sandbox

SPF_CF = "v=spf1 include:_spf.mx.cloudflare.net ~all"


def txt(ep, name: str) -> list[str]:
    resp = dns.query.udp(
        dns.message.make_query(name, "TXT"), ep.dns_host, port=ep.dns_port, timeout=5
    )
    return sorted(b"".join(rd.strings).decode() for rrset in resp.answer for rd in rrset)


def wait_until(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not reached")


def test_enable_routing_adds_mx_and_spf(cf, ep):
    assert cf.email_routing.get(zone_id=ep.zone_id).status == "unconfigured"
    settings = cf.email_routing.dns.create(zone_id=ep.zone_id)
    assert settings.enabled is True and settings.status == "ready"
    mx = sorted((r.priority, r.content) for r in cf.dns.records.list(zone_id=ep.zone_id, type="MX"))
    assert [c for _, c in mx] == [
        "route1.mx.cloudflare.net",
        "route3.mx.cloudflare.net",
        "route2.mx.cloudflare.net",
    ]
    assert txt(ep, "polaris.test") == [SPF_CF]
    required = cf.email_routing.dns.get(zone_id=ep.zone_id)
    assert {r.type for r in required} == {"MX", "TXT"}
    cf.email_routing.dns.create(zone_id=ep.zone_id)  # idempotent
    assert len(list(cf.dns.records.list(zone_id=ep.zone_id, type="MX"))) == 3


def test_enabling_routing_beside_an_existing_spf_makes_two(cf, ep):
    cf.dns.records.create(
        zone_id=ep.zone_id, name="@", type="TXT", content="v=spf1 ip4:192.0.2.10 -all", ttl=1
    )
    settings = cf.email_routing.dns.create(zone_id=ep.zone_id)
    assert settings.status == "misconfigured"
    assert txt(ep, "polaris.test") == [SPF_CF, "v=spf1 ip4:192.0.2.10 -all"]
    spf = [
        r
        for r in cf.dns.records.list(zone_id=ep.zone_id, type="TXT")
        if r.content.startswith("v=spf1")
    ]
    assert len(spf) == 2
    mine = next(r for r in spf if "-all" in r.content)
    cf.dns.records.delete(mine.id, zone_id=ep.zone_id)
    assert cf.email_routing.get(zone_id=ep.zone_id).status == "ready"


def test_routing_mx_records_are_locked_until_unlocked(cf, ep):
    cf.email_routing.dns.create(zone_id=ep.zone_id)
    mx = next(iter(cf.dns.records.list(zone_id=ep.zone_id, type="MX")))
    import cloudflare

    with pytest.raises(cloudflare.BadRequestError):
        cf.dns.records.delete(mx.id, zone_id=ep.zone_id)
    assert cf.email_routing.dns.edit(zone_id=ep.zone_id).status == "unlocked"
    cf.dns.records.delete(mx.id, zone_id=ep.zone_id)


def test_forwarding_rule_with_destination_address(cf, ep):
    addr = cf.email_routing.addresses.create(account_id=ep.account_id, email="owner@example.com")
    assert addr.verified is None
    rule = cf.email_routing.rules.create(
        zone_id=ep.zone_id,
        name="dmarc reports",
        enabled=True,
        matchers=[{"type": "literal", "field": "to", "value": "dmarc@polaris.test"}],
        actions=[{"type": "forward", "value": ["owner@example.com"]}],
    )
    assert rule.actions[0].value == ["owner@example.com"]
    assert [r.id for r in cf.email_routing.rules.list(zone_id=ep.zone_id)] == [rule.id]
    assert cf.email_routing.addresses.get(addr.id, account_id=ep.account_id).verified is None
    ep.verify_address("owner@example.com")  # the link in the mail the sandbox delivered
    verified = cf.email_routing.addresses.get(addr.id, account_id=ep.account_id).verified
    assert verified is not None
    import cloudflare

    with pytest.raises(cloudflare.BadRequestError) as err:
        cf.email_routing.rules.create(
            zone_id=ep.zone_id,
            matchers=[{"type": "all"}],
            actions=[{"type": "forward", "value": ["stranger@example.com"]}],
        )
    assert "actions.0.value" in err.value.body["errors"][0]["message"]


def test_email_sending_publishes_cf_bounce_records_then_verifies(cf, ep):
    sub = cf.email_sending.subdomains.create(zone_id=ep.zone_id, name="polaris.test")
    assert sub.enabled is False
    assert sub.dkim_selector == "cf-bounce"
    assert sub.return_path_domain == "cf-bounce.polaris.test"
    required = cf.email_sending.subdomains.dns.get(sub.tag, zone_id=ep.zone_id)
    names = {(r.type, r.name) for r in required}
    assert names == {
        ("TXT", "cf-bounce._domainkey.polaris.test"),
        ("MX", "cf-bounce.polaris.test"),
        ("TXT", "cf-bounce.polaris.test"),
    }
    dkim = txt(ep, "cf-bounce._domainkey.polaris.test")
    assert dkim[0].startswith("v=DKIM1;") and len(dkim[0]) > 255
    assert txt(ep, "cf-bounce.polaris.test") == [SPF_CF]
    assert wait_until(lambda: cf.email_sending.subdomains.get(sub.tag, zone_id=ep.zone_id).enabled)
    listed = list(cf.email_sending.subdomains.list(zone_id=ep.zone_id))
    assert [s.tag for s in listed] == [sub.tag]


def test_legacy_cname_dkim_mode_needs_the_record(tmp_path, monkeypatch):
    import cloudflare

    monkeypatch.setenv("POLARIS_SANDBOX_DKIM_MODE", "cname")
    monkeypatch.setenv("POLARIS_SANDBOX_ACTIVATION_MS", "0")
    with Sandbox(tmp_path / "sbx") as ep:
        cf = cloudflare.Cloudflare(api_token=ep.token, base_url=ep.api)
        sub = cf.email_sending.subdomains.create(zone_id=ep.zone_id, name="polaris.test")
        required = cf.email_sending.subdomains.dns.get(sub.tag, zone_id=ep.zone_id)
        cname = next(r for r in required if r.type == "CNAME")
        assert cname.name == f"{sub.dkim_selector}._domainkey.polaris.test"
        assert cname.content == f"{sub.dkim_selector}.dkim.cloudflare.net"
        assert not list(cf.dns.records.list(zone_id=ep.zone_id, type="CNAME"))
        assert cf.email_sending.subdomains.get(sub.tag, zone_id=ep.zone_id).enabled is False
        cf.dns.records.create(
            zone_id=ep.zone_id, name=cname.name, type="CNAME", content=cname.content, ttl=1
        )
        assert cf.email_sending.subdomains.get(sub.tag, zone_id=ep.zone_id).enabled is True
