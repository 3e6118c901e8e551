"""Email Sending signs, the inbox judges: a DKIM key pair per sending domain whose public half
is the published record, mail signed and sent from the egress address _spf.mx.cloudflare.net
authorises, and SPF/DKIM/DMARC judged over UDP against the sandbox DNS into an RFC 8601
Authentication-Results header. Every message goes over SMTP, every lookup over DNS."""

from __future__ import annotations

import base64
import smtplib
from email.message import EmailMessage

import authres
import dkim
import dns.message
import dns.query
import pytest

from polaris_tui.sandbox import EGRESS_IPV4, outbound
from polaris_tui.sandbox.receiver import AUTHSERV_ID, UdpResolver
from polaris_tui.sandbox.send_email_policy import store_policy
from polaris_tui.sandbox.smtp import SmtpInbox
from polaris_tui.sandbox.state import Settings, Store
from tests.sandbox.conftest import ACTIVATION_MS
from tests.sandbox.test_email import wait_until

DOMAIN = "polaris.test"
SETTINGS = Settings(activation_ms=int(ACTIVATION_MS))


def _txt(ep, name: str) -> list[str]:
    query = dns.message.make_query(name, "TXT")
    reply = dns.query.udp(query, ep.dns_host, port=ep.dns_port, timeout=3)
    return [b"".join(r.strings).decode() for rrset in reply.answer for r in rrset]


def _send(port: int, sender: str = f"noreply@{DOMAIN}") -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "someone@example.org", "auth"
    msg["Message-ID"] = "<auth@polaris.test>"
    msg.set_content("hello")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.send_message(msg)


def _results(inbox) -> dict[str, authres.core.AuthenticationResult]:
    (path,) = inbox.glob("*.eml")
    raw = path.read_bytes()
    line = next(h for h in raw.split(b"\r\n") if h.startswith(b"Authentication-Results:"))
    header = authres.AuthenticationResultsHeader.parse(line.decode())
    assert header.authserv_id == AUTHSERV_ID
    return {r.method: r for r in header.results}


@pytest.fixture
def sending(cf, ep):
    """polaris.test a verified Email Sending domain; returns its subdomain."""
    sub = cf.email_sending.subdomains.create(zone_id=ep.zone_id, name=DOMAIN)
    wait_until(lambda: cf.email_sending.subdomains.get(sub.tag, zone_id=ep.zone_id).enabled)
    return sub


@pytest.fixture
def cloudflare_door(ep, tmp_path):
    """The send_email door as the sandbox wires it: recipient rules, signing, egress."""
    boxes: list[SmtpInbox] = []

    def start(name: str = "inbox") -> SmtpInbox:
        store = Store(ep.directory)  # the account (and its keyring) as it is now
        box = SmtpInbox(
            tmp_path / name,
            UdpResolver(lambda: (ep.dns_host, ep.dns_port)),
            store_policy(store, lambda: SETTINGS),
            lambda mail_from, data: outbound.prepare(store, mail_from, data),
        )
        box.start()
        boxes.append(box)
        return box

    yield start
    for box in boxes:
        box.stop()


def _edit(cf, ep, name: str, content: str) -> None:
    (record,) = cf.dns.records.list(zone_id=ep.zone_id, name={"exact": name}, type="TXT")
    cf.dns.records.edit(
        record.id, zone_id=ep.zone_id, type="TXT", name=name, content=content, ttl=1
    )


def test_the_published_dkim_key_is_the_public_half_of_the_signing_key(cf, ep, sending):
    """The TXT at the selector the API names holds a real RSA key; a message the sandbox signs
    verifies with exactly that record, fetched over DNS."""
    required = cf.email_sending.subdomains.dns.get(sending.tag, zone_id=ep.zone_id)
    (dkim_record,) = [r for r in required if "_domainkey" in r.name]
    assert dkim_record.name == f"{sending.dkim_selector}._domainkey.{DOMAIN}"
    (published,) = _txt(ep, dkim_record.name)
    assert published == dkim_record.content
    key = base64.b64decode(published.split("p=")[1])
    assert len(key) == 294  # DER SubjectPublicKeyInfo of a 2048-bit RSA key

    store = Store(ep.directory)
    message = b"From: noreply@polaris.test\r\nTo: a@example.org\r\nSubject: s\r\n\r\nbody\r\n"
    signed = outbound.prepare(store, "noreply@polaris.test", message).data
    assert dkim.verify(signed, dnsfunc=lambda name, timeout=5: published.encode())


def test_cloudflare_names_are_served_beside_the_zone(ep):
    assert _txt(ep, "_spf.mx.cloudflare.net") == [f"v=spf1 ip4:{EGRESS_IPV4} ~all"]


def test_sent_mail_passes_spf_dkim_and_dmarc_from_its_own_header(ep, sending, cloudflare_door):
    box = cloudflare_door()
    _send(box.port)
    results = _results(box.inbox)
    assert {m: r.result for m, r in results.items()} == {
        "spf": "pass",
        "dkim": "pass",
        "dmarc": "pass",
    }
    assert results["spf"].smtp_mailfrom == f"bounces@{sending.return_path_domain}"
    assert results["dkim"].header_d == DOMAIN
    (path,) = box.inbox.glob("*.eml")
    assert path.read_bytes().startswith(f"Return-Path: <bounces@cf-bounce.{DOMAIN}>".encode())


def test_a_dkim_record_edited_wrong_fails_dkim(cf, ep, sending, cloudflare_door):
    name = f"{sending.dkim_selector}._domainkey.{DOMAIN}"
    (published,) = _txt(ep, name)
    head, key = published.split("p=")
    other = "A" if key[60] != "A" else "B"  # one character of the modulus changed
    _edit(cf, ep, name, f"{head}p={key[:60]}{other}{key[61:]}")
    box = cloudflare_door()
    _send(box.port)
    results = _results(box.inbox)
    assert results["dkim"].result == "fail"
    assert results["spf"].result == "pass"  # DMARC still passes through aligned SPF
    assert results["dmarc"].result == "pass"


def test_spf_without_the_cloudflare_include_fails_spf(cf, ep, sending, cloudflare_door):
    _edit(cf, ep, sending.return_path_domain, "v=spf1 -all")
    box = cloudflare_door()
    _send(box.port)
    results = _results(box.inbox)
    assert results["spf"].result == "fail"
    assert results["dkim"].result == "pass"


def test_without_dkim_and_spf_dmarc_fails(cf, ep, sending, cloudflare_door):
    _edit(cf, ep, sending.return_path_domain, "v=spf1 ~all")
    _edit(cf, ep, f"{sending.dkim_selector}._domainkey.{DOMAIN}", "v=DKIM1; k=rsa; p=")
    box = cloudflare_door()
    _send(box.port)
    results = _results(box.inbox)
    assert results["spf"].result == "softfail"
    assert results["dkim"].result != "pass"
    assert results["dmarc"].result == "fail"


def test_a_plain_smtp_client_is_judged_from_where_it_connects(cf, ep, sending, tmp_path):
    """Mail handed in directly (the local relay's --smtp) is not Cloudflare's: loopback is not
    in _spf.mx.cloudflare.net and nothing signed it."""
    cf.email_routing.dns.create(zone_id=ep.zone_id)  # apex SPF: include:_spf.mx.cloudflare.net
    box = SmtpInbox(tmp_path / "plain", UdpResolver(lambda: (ep.dns_host, ep.dns_port)))
    box.start()
    try:
        _send(box.port)
        results = _results(box.inbox)
    finally:
        box.stop()
    assert results["spf"].result == "softfail"
    assert results["dkim"].result == "none"
    assert results["dmarc"].result == "fail"


def test_the_cname_form_resolves_to_the_key_cloudflare_serves(cf, ep, sending):
    """``<selector>._domainkey`` CNAME to ``<selector>.dkim.cloudflare.net`` (the older form):
    the inbox's resolver follows it out of the zone to the key the sandbox serves there."""
    name = f"cf-legacy._domainkey.{DOMAIN}"
    target = f"{sending.dkim_selector}.dkim.cloudflare.net"
    cf.dns.records.create(zone_id=ep.zone_id, type="CNAME", name=name, content=target, ttl=1)
    resolver = UdpResolver(lambda: (ep.dns_host, ep.dns_port))
    (published,) = _txt(ep, f"{sending.dkim_selector}._domainkey.{DOMAIN}")
    assert resolver.txt(name) == [published.encode()]
    assert resolver.txt("nothing.dkim.cloudflare.net") == []


def test_the_receivers_lookups_skip_the_injected_latency(sandbox, ep, sending, monkeypatch):
    """The latency knob models the operator's network to Cloudflare: a client's DNS query
    pays it, the receiving server's own SPF, DKIM and DMARC lookups (over UDP, to the same
    zone) do not. Counted where the delay is decided."""
    runtime = sandbox._running()
    delayed: list[str] = []

    def latency() -> int:
        delayed.append("delayed")
        return 0

    monkeypatch.setattr(runtime.dns.resolver, "latency_ms", latency)
    _send(runtime.smtp.port)
    assert set(_results(runtime.smtp.inbox)) == {"spf", "dkim", "dmarc"}  # it looked them up
    assert delayed == []
    _txt(ep, f"_dmarc.{DOMAIN}")
    assert delayed == ["delayed"]
