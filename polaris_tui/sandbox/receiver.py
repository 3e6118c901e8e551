"""The inbox as a receiving mail server: SPF, DKIM and DMARC judged against the sandbox DNS,
the verdict written into each stored message as an RFC 8601 ``Authentication-Results`` header.

It asks DNS the way a receiving server's resolver does, over UDP (TCP when truncated) to the
sandbox's DNS server, so a record edited through the API changes the verdict of the next
message. SPF is pyspf's evaluation, DKIM dkimpy's verification; DMARC (RFC 7489) is the
alignment of either pass with the From domain, strict or relaxed as the record says, relaxed
meaning the same organizational domain by the Public Suffix List.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import authres
import dkim
import spf
from authres.dmarc import DMARCAuthenticationResult
from dnslib import QTYPE, RCODE, DNSRecord

AUTHSERV_ID = "mx.inbox.sandbox.invalid"
DNS_TIMEOUT_S = 2.0
MAX_CNAME_HOPS = 8


class DnsFailure(Exception):
    """The resolver got no usable answer (timeout, SERVFAIL, REFUSED): a temperror."""


@dataclass(frozen=True)
class UdpResolver:
    """A stub resolver for one DNS server (host, port), asked anew for every lookup."""

    server: Callable[[], tuple[str, int]]

    def _ask(self, name: str, qtype: str) -> DNSRecord:
        host, port = self.server()
        question = DNSRecord.question(name, qtype)
        try:
            reply = DNSRecord.parse(question.send(host, port, timeout=DNS_TIMEOUT_S))
            if reply.header.tc:
                reply = DNSRecord.parse(question.send(host, port, tcp=True, timeout=DNS_TIMEOUT_S))
        except OSError as exc:
            raise DnsFailure(f"{name} {qtype}: {exc}") from None
        if reply.header.rcode not in (RCODE.NOERROR, RCODE.NXDOMAIN):
            raise DnsFailure(f"{name} {qtype}: {RCODE.get(reply.header.rcode)}")
        return reply

    def records(self, name: str, qtype: str) -> list[Any]:
        """The rdata of ``name``'s ``qtype`` records, CNAMEs followed."""
        name = name.rstrip(".").lower()
        for _ in range(MAX_CNAME_HOPS):
            reply = self._ask(name, qtype)
            found = [rr.rdata for rr in reply.rr if QTYPE.get(rr.rtype) == qtype]
            if found:
                return found
            alias = next(
                (
                    rr.rdata
                    for rr in reply.rr
                    if rr.rtype == QTYPE.CNAME and str(rr.rname).rstrip(".").lower() == name
                ),
                None,
            )
            if alias is None:
                return []
            name = str(alias.label).rstrip(".").lower()
        return []

    def txt(self, name: str) -> list[bytes]:
        """Each TXT record's character-strings joined, as SPF, DKIM and DMARC read them."""
        return [b"".join(r.data) for r in self.records(name, "TXT")]


@dataclass(frozen=True)
class Verdict:
    result: str  # RFC 8601: pass, fail, softfail, neutral, none, temperror, permerror
    domain: str = ""  # the identity judged (SPF: MAIL FROM domain; DKIM: d=; DMARC: From)
    reason: str = ""
    selector: str = ""  # DKIM only


class _SpfQuery(spf.query):
    """pyspf's evaluation with its DNS lookups going to the sandbox resolver."""

    resolver: UdpResolver

    def dns(self, name: str, qtype: str, cnames: Any = None, ignore_void: bool = False) -> list:
        try:
            found = self.resolver.records(name, qtype)
        except DnsFailure as exc:
            raise spf.TempError(f"DNS {exc}") from None
        values: list[Any]
        if qtype in ("TXT", "SPF"):
            values = [list(r.data) for r in found]
        elif qtype == "MX":
            values = [(r.preference, str(r.label).rstrip(".")) for r in found]
        else:
            values = [str(r).rstrip(".") for r in found]
        if not values and not ignore_void:
            self.void_lookups += 1
            if self.void_lookups > spf.MAX_VOID_LOOKUPS:
                raise spf.PermError(f"Void lookup limit of {spf.MAX_VOID_LOOKUPS} exceeded")
        return values


def _domain_of(address: str) -> str:
    return address.rpartition("@")[2].strip().strip("<>").rstrip(".").lower()


def judge_spf(resolver: UdpResolver, client_ip: str, mail_from: str, helo: str) -> Verdict:
    query = _SpfQuery(i=client_ip, s=mail_from, h=helo, timeout=DNS_TIMEOUT_S, querytime=10)
    query.resolver = resolver
    result, _code, explanation = query.check()
    domain = _domain_of(mail_from) if mail_from else helo
    return Verdict(result, domain, f"{client_ip} for {domain}: {explanation}".strip(": "))


def judge_dkim(resolver: UdpResolver, data: bytes) -> Verdict:
    """The first DKIM-Signature, verified with the key its d= and s= name in DNS."""
    checker = dkim.DKIM(data)
    if not any(name.lower() == b"dkim-signature" for name, _ in checker.headers):
        return Verdict("none", reason="the message carries no DKIM-Signature")
    asked: dict[str, str] = {}  # key record name -> "found", "missing" or the DNS failure

    def txt(name: bytes, timeout: float = DNS_TIMEOUT_S) -> bytes | None:
        key_name = name.decode("ascii", "replace").rstrip(".").lower()
        try:
            found = resolver.txt(key_name)
        except DnsFailure as exc:
            asked[key_name] = str(exc)
            return None
        asked[key_name] = "found" if found else "missing"
        return found[0] if found else None

    try:
        ok = checker.verify(dnsfunc=txt)
    except dkim.DKIMException as exc:
        return Verdict("permerror", reason=f"signature unusable: {exc}")
    domain = (checker.domain or b"").decode("ascii", "replace").lower()
    selector = (checker.selector or b"").decode("ascii", "replace")
    key_name = f"{selector}._domainkey.{domain}"
    if ok:
        return Verdict("pass", domain, f"signature verified with the key at {key_name}", selector)
    looked_up = asked.get(key_name.lower(), "found")
    if looked_up == "missing":
        return Verdict("permerror", domain, f"no DKIM key published at {key_name}", selector)
    if looked_up != "found":
        return Verdict("temperror", domain, f"DNS: {looked_up}", selector)
    return Verdict(
        "fail", domain, f"signature does not verify with the key at {key_name}", selector
    )


@cache
def _suffixes() -> Any:
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList()


def organizational_domain(domain: str) -> str:
    """RFC 7489 3.2: the registrable domain under its public suffix."""
    return _suffixes().privatesuffix(domain.lower()) or domain.lower()


def _aligned(identity: str, header_from: str, mode: str) -> bool:
    if not identity:
        return False
    if mode == "s":
        return identity == header_from
    return organizational_domain(identity) == organizational_domain(header_from)


def _dmarc_tags(resolver: UdpResolver, domain: str) -> dict[str, str] | None:
    records = [r.decode("utf-8", "replace") for r in resolver.txt(f"_dmarc.{domain}")]
    records = [r for r in records if r.strip().lower().startswith("v=dmarc1")]
    if len(records) != 1:
        return None
    tags = {}
    for part in records[0].split(";"):
        key, _, value = part.partition("=")
        if key.strip():
            tags[key.strip().lower()] = value.strip()
    return tags


def judge_dmarc(resolver: UdpResolver, header_from: str, spf_: Verdict, dkim_: Verdict) -> Verdict:
    """Pass when SPF or DKIM passed for an identity aligned with the From domain."""
    if not header_from:
        return Verdict("permerror", reason="no single From address")
    org = organizational_domain(header_from)
    try:
        tags = _dmarc_tags(resolver, header_from)
        if tags is None and org != header_from:
            tags = _dmarc_tags(resolver, org)
    except DnsFailure as exc:
        return Verdict("temperror", header_from, str(exc))
    if tags is None:
        return Verdict("none", header_from, f"no single DMARC record for {header_from}")
    policy = tags.get("sp", tags.get("p", "none")) if header_from != org else tags.get("p", "none")
    passed = []
    if spf_.result == "pass" and _aligned(spf_.domain, header_from, tags.get("aspf", "r")):
        passed.append(f"SPF ({spf_.domain})")
    if dkim_.result == "pass" and _aligned(dkim_.domain, header_from, tags.get("adkim", "r")):
        passed.append(f"DKIM ({dkim_.domain})")
    if passed:
        return Verdict("pass", header_from, f"aligned {' and '.join(passed)}; p={policy}")
    return Verdict(
        "fail",
        header_from,
        f"neither SPF ({spf_.result}, {spf_.domain or '-'}) nor DKIM ({dkim_.result}, "
        f"{dkim_.domain or '-'}) passed aligned with {header_from}; p={policy}",
    )


def _header_from(data: bytes) -> str:
    message = email.message_from_bytes(data, policy=email.policy.compat32)
    found = email.utils.getaddresses(message.get_all("From") or [])
    return _domain_of(found[0][1]) if len(found) == 1 and found[0][1] else ""


def authentication_results(spf_: Verdict, dkim_: Verdict, dmarc_: Verdict, mail_from: str) -> str:
    """The header line (without CRLF) that records the three verdicts."""
    header = authres.AuthenticationResultsHeader(
        authserv_id=AUTHSERV_ID,
        results=[
            authres.SPFAuthenticationResult(
                result=spf_.result, reason=spf_.reason, smtp_mailfrom=mail_from or None
            ),
            authres.DKIMAuthenticationResult(
                result=dkim_.result,
                reason=dkim_.reason,
                header_d=dkim_.domain or None,
                header_s=dkim_.selector or None,
            ),
            DMARCAuthenticationResult(
                result=dmarc_.result, reason=dmarc_.reason, header_from=dmarc_.domain or None
            ),
        ],
    )
    return str(header)


def receive(
    resolver: UdpResolver, data: bytes, *, client_ip: str, helo: str, mail_from: str
) -> bytes:
    """The message as the receiving server stores it: ``Return-Path`` (the envelope sender)
    and ``Authentication-Results`` prepended, the rest as received."""
    spf_ = judge_spf(resolver, client_ip, mail_from, helo)
    dkim_ = judge_dkim(resolver, data)
    dmarc_ = judge_dmarc(resolver, _header_from(data), spf_, dkim_)
    results = authentication_results(spf_, dkim_, dmarc_, mail_from)
    return f"Return-Path: <{mail_from}>\r\n{results}\r\n".encode() + data
