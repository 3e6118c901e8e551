"""Ask DNS the way a careful operator would: the zone's authoritative nameservers first
(a change is visible as soon as Cloudflare serves it), then public resolvers, concurrently."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from polaris_tui.ports import DnsAnswer

__all__ = ["DnsAnswer", "DnsProber"]


@dataclass
class DnsProber:
    """``authoritative`` fixes the servers to ask (the sandbox); None discovers them via NS."""

    zone: str
    authoritative: list[tuple[str, int]] | None = None
    resolvers: list[tuple[str, int]] = field(default_factory=list)
    timeout: float = 3.0
    _discovered: list[tuple[str, int]] | None = None

    async def _ask(self, host: str, port: int, name: str, rdtype: str) -> DnsAnswer:
        import dns.asyncquery
        import dns.exception
        import dns.flags
        import dns.message
        import dns.rcode
        import dns.rdatatype

        query = dns.message.make_query(name, rdtype)
        server = f"{host}:{port}"
        try:
            resp = await dns.asyncquery.udp(query, host, port=port, timeout=self.timeout)
            if resp.flags & dns.flags.TC:
                resp = await dns.asyncquery.tcp(query, host, port=port, timeout=self.timeout)
        except dns.exception.Timeout:
            return DnsAnswer(server, "TIMEOUT")
        except OSError as exc:
            return DnsAnswer(server, f"ERROR {exc.strerror or exc}")
        want = dns.rdatatype.from_text(rdtype)
        records = []
        for rrset in resp.answer:
            if rrset.rdtype == want:
                records.extend(_text(rd, rdtype) for rd in rrset)
        return DnsAnswer(
            server,
            dns.rcode.to_text(resp.rcode()),
            tuple(sorted(records)),
            bool(resp.flags & dns.flags.AA),
        )

    async def authoritative_servers(self) -> list[tuple[str, int]]:
        if self.authoritative is not None:
            return self.authoritative
        if self._discovered is None:
            import dns.asyncresolver

            resolver = dns.asyncresolver.Resolver()
            resolver.lifetime = self.timeout * 2
            ns = await resolver.resolve(self.zone, "NS")
            addrs: list[tuple[str, int]] = []
            for rd in ns:
                try:
                    a = await resolver.resolve(str(rd.target), "A")
                    addrs.extend((str(x), 53) for x in a)
                except Exception:  # one unresolvable NS must not hide the others
                    continue
            self._discovered = addrs
        return self._discovered

    async def ask_authoritative(self, name: str, rdtype: str) -> list[DnsAnswer]:
        servers = await self.authoritative_servers()
        return list(await asyncio.gather(*(self._ask(h, p, name, rdtype) for h, p in servers)))

    async def ask_public(self, name: str, rdtype: str) -> list[DnsAnswer]:
        return list(
            await asyncio.gather(*(self._ask(h, p, name, rdtype) for h, p in self.resolvers))
        )

    async def lookup(self, name: str, rdtype: str) -> DnsAnswer:
        """The first authoritative answer (all are asked concurrently)."""
        answers = await self.ask_authoritative(name, rdtype)
        for a in answers:
            if a.ok:
                return a
        return answers[0] if answers else DnsAnswer("(none)", "NO SERVERS")


def _text(rd: object, rdtype: str) -> str:
    """A record's value the way the Cloudflare API spells it (TXT strings joined)."""
    if rdtype == "TXT":
        return b"".join(rd.strings).decode("utf-8", "replace")  # type: ignore[attr-defined]
    if rdtype == "MX":
        return f"{rd.preference} {str(rd.exchange).rstrip('.')}"  # type: ignore[attr-defined]
    if rdtype in ("CNAME", "NS"):
        return str(rd.target).rstrip(".")  # type: ignore[attr-defined]
    return str(rd)
