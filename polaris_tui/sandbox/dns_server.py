"""Authoritative DNS for the sandbox zone over UDP and TCP (same port), answering from
the live state: proxied names get the sandbox edge addresses, like Cloudflare."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any

from dnslib import AAAA, CNAME, EDNS0, MX, NS, QTYPE, RCODE, RR, SOA, TXT, A, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSServer

from polaris_tui.sandbox import EDGE_IPV4, EDGE_IPV6, provider_dns
from polaris_tui.sandbox.state import Store
from polaris_tui.sandbox.zone import in_zone

AUTO_TTL = 300
NS_NAMES = ("ns1", "ns2")
GLUE_IPV4 = "127.0.0.1"
TXT_STRING_MAX = 255
UDP_PLAIN_MAX = 512  # a query without EDNS takes at most this much over UDP (RFC 1035)
EDNS_PAYLOAD = 1232  # what the server advertises in its OPT record (DNS flag day 2020)
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')


def _split(raw: bytes) -> list[bytes]:
    return [raw[i : i + TXT_STRING_MAX] for i in range(0, len(raw), TXT_STRING_MAX)] or [b""]


def txt_strings(content: str) -> list[bytes]:
    """Cloudflare splits TXT content into <=255-byte character-strings: unquoted content,
    and each quoted string longer than that too (one string on the wire cannot be longer)."""
    if content.startswith('"'):
        parts = [p.replace('\\"', '"') for p in _QUOTED.findall(content)]
        if parts:
            return [chunk for p in parts for chunk in _split(p.encode())]
    return _split(content.encode())


class _Quiet:
    """dnslib logger that logs nothing (tests query a lot)."""

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None


class ZoneResolver(BaseResolver):
    def __init__(self, store: Store, latency_ms: Callable[[], int]) -> None:
        self.store, self.latency_ms = store, latency_ms

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        delay = self.latency_ms()
        if delay > 0:
            time.sleep(delay / 1000)
        reply = self._reply(request)
        reply.header.ad = 0  # no DNSSEC here: AD is never copied from the query
        reply.header.tc = 0
        if edns_payload(request) is not None:  # EDNS answered with EDNS
            reply.add_ar(EDNS0(udp_len=EDNS_PAYLOAD))
        return reply

    def _reply(self, request: DNSRecord) -> DNSRecord:
        reply = request.reply(ra=0, aa=1)
        qname = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE.get(request.q.qtype)
        with self.store.read() as state:
            domain, serial = state["zone"]["name"], state["serial"]
            records = [r for r in state["dns_records"].values()]
            provider = provider_dns.records(state)
        if in_zone(qname, provider_dns.ZONE):
            return self._provider_reply(reply, qname, qtype, provider)
        if not in_zone(qname, domain):
            reply.header.aa = 0
            reply.header.rcode = RCODE.REFUSED
            return reply
        by_name: dict[str, list[dict[str, Any]]] = {}
        for rec in records:
            by_name.setdefault(rec["name"], []).append(rec)
        answers = self._answer(qname, qtype, by_name, domain, depth=0)
        reply.rr.extend(answers)
        if qname == domain and qtype == "NS":  # glue, so NS discovery needs no second query
            for host in self._ns_hosts(domain):
                reply.add_ar(RR(host, QTYPE.A, ttl=86400, rdata=A(GLUE_IPV4)))
        if not answers:
            exists = (
                qname in by_name
                or qname == domain
                or qname in self._ns_hosts(domain)
                or any(name.endswith("." + qname) for name in by_name)
            )
            if not exists:
                reply.header.rcode = RCODE.NXDOMAIN
            reply.add_auth(self._soa(domain, serial))
        return reply

    def _provider_reply(
        self, reply: DNSRecord, qname: str, qtype: str, provider: list[dict[str, Any]]
    ) -> DNSRecord:
        """Cloudflare's own names (``provider_dns``): their records, or NXDOMAIN."""
        named = [r for r in provider if r["name"] == qname]
        reply.rr.extend(self._rr(r) for r in named if r["type"] == qtype)
        if not named:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply

    @staticmethod
    def _ns_hosts(domain: str) -> list[str]:
        return [f"{ns}.{domain}" for ns in NS_NAMES]

    def _soa(self, domain: str, serial: int) -> RR:
        return RR(
            domain,
            QTYPE.SOA,
            ttl=AUTO_TTL,
            rdata=SOA(f"ns1.{domain}", f"hostmaster.{domain}", (serial, 10000, 2400, 604800, 300)),
        )

    def _answer(
        self,
        qname: str,
        qtype: str,
        by_name: dict[str, list[dict[str, Any]]],
        domain: str,
        depth: int,
    ) -> list[RR]:
        out: list[RR] = []
        if qname == domain and qtype == "NS":
            out += [RR(domain, QTYPE.NS, ttl=86400, rdata=NS(h)) for h in self._ns_hosts(domain)]
        if qname == domain and qtype == "SOA":
            with self.store.read() as state:
                out.append(self._soa(domain, state["serial"]))
        if qname in self._ns_hosts(domain) and qtype == "A":
            out.append(RR(qname, QTYPE.A, ttl=86400, rdata=A(GLUE_IPV4)))
        recs = by_name.get(qname, [])
        proxied = [r for r in recs if r.get("proxied")]
        if proxied and qtype in ("A", "AAAA"):
            rdata = A(EDGE_IPV4) if qtype == "A" else AAAA(EDGE_IPV6)
            return [*out, RR(qname, getattr(QTYPE, qtype), ttl=AUTO_TTL, rdata=rdata)]
        cname = next((r for r in recs if r["type"] == "CNAME" and not r.get("proxied")), None)
        if cname is not None and qtype != "CNAME":
            out.append(self._rr(cname))
            target = cname["content"]
            if in_zone(target, domain) and depth < 8:
                out += self._answer(target, qtype, by_name, domain, depth + 1)
            return out
        for rec in recs:
            if rec["type"] == qtype and not (rec.get("proxied") and qtype == "CNAME"):
                out.append(self._rr(rec))
        return out

    @staticmethod
    def _rr(rec: dict[str, Any]) -> RR:
        ttl = AUTO_TTL if rec.get("ttl", 1) == 1 else int(rec["ttl"])
        kind, content = rec["type"], rec.get("content") or ""
        rdata: Any
        if kind == "A":
            rdata = A(content)
        elif kind == "AAAA":
            rdata = AAAA(content)
        elif kind == "CNAME":
            rdata = CNAME(content)
        elif kind == "MX":
            rdata = MX(content, int(rec.get("priority") or 0))
        elif kind == "NS":
            rdata = NS(content)
        else:
            rdata = TXT(txt_strings(content))
        return RR(rec["name"], getattr(QTYPE, kind), ttl=ttl, rdata=rdata)


def edns_payload(message: DNSRecord) -> int | None:
    """The UDP payload size an EDNS query advertises, None without an OPT record."""
    for rr in message.ar:
        if rr.rtype == QTYPE.OPT:
            return int(rr.rclass)
    return None


def truncated(reply: DNSRecord) -> DNSRecord:
    """The question, the header with TC set and the OPT record: "ask again over TCP"."""
    short = DNSRecord(reply.header, q=reply.q)
    short.header.tc = 1
    for rr in reply.ar:
        if rr.rtype == QTYPE.OPT:
            short.add_ar(rr)
    return short


class ZoneHandler(DNSHandler):
    """Over UDP, an answer larger than the client can take goes out truncated (TC): 512
    bytes without EDNS, else the advertised payload size."""

    def get_reply(self, data: bytes) -> bytes:
        request = DNSRecord.parse(data)
        reply = self.server.resolver.resolve(request, self)
        packed = reply.pack()
        if self.protocol == "udp":
            limit = max(UDP_PLAIN_MAX, edns_payload(request) or UDP_PLAIN_MAX)
            if len(packed) > limit:
                packed = truncated(reply).pack()
        return packed


class ZoneDnsServer:
    """UDP and TCP servers on one free port."""

    def __init__(self, store: Store, latency_ms: Callable[[], int]) -> None:
        self.resolver = ZoneResolver(store, latency_ms)
        self.port = 0
        self._servers: list[DNSServer] = []

    def start(self) -> int:
        for _ in range(50):
            udp = DNSServer(
                self.resolver, address="127.0.0.1", port=0, logger=_Quiet(), handler=ZoneHandler
            )
            port = udp.server.server_address[1]
            try:
                tcp = DNSServer(
                    self.resolver,
                    address="127.0.0.1",
                    port=port,
                    tcp=True,
                    logger=_Quiet(),
                    handler=ZoneHandler,
                )
            except OSError:
                udp.server.server_close()
                continue
            self._servers, self.port = [udp, tcp], port
            for server in self._servers:
                thread = threading.Thread(
                    target=server.server.serve_forever,
                    kwargs={"poll_interval": 0.05},
                    name="sandbox-dns",
                    daemon=True,
                )
                thread.start()
            return port
        raise RuntimeError("no free loopback port for the sandbox DNS server")

    def stop(self) -> None:
        for server in self._servers:
            server.server.shutdown()
            server.server.server_close()
        self._servers = []
