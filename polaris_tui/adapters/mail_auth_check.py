"""SPF and DMARC validation with checkdmarc, asking the zone's authoritative nameservers.

checkdmarc accepts a caller-built dnspython resolver. Ours sends names inside the zone to the
authoritative servers (any port, so the sandbox works too) and every other name (include
targets such as _spf.google.com, an external rua domain) to the configured public resolvers.
With no public resolver configured (the sandbox has no internet) such names are not looked
up, and the result says which targets were left unchecked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import dns.resolver


@dataclass(frozen=True)
class Validation:
    ok: bool
    detail: str
    warnings: tuple[str, ...] = ()
    unchecked: tuple[str, ...] = field(default_factory=tuple)


def _in_zone(name: str, zone: str) -> bool:
    name = name.rstrip(".").lower()
    return name == zone or name.endswith("." + zone)


def zone_resolver(
    zone: str,
    authoritative: list[tuple[str, int]],
    public: list[tuple[str, int]],
    timeout: float,
) -> dns.resolver.Resolver:
    """A resolver that asks the authoritative servers for ``zone`` and ``public`` for the rest."""
    import dns.nameserver
    import dns.resolver

    class ZoneRoutingResolver(dns.resolver.Resolver):
        def __init__(self) -> None:
            super().__init__(configure=False)
            self.timeout = timeout
            self.lifetime = timeout * 2
            self.unchecked: list[str] = []

        def resolve(self, qname: Any, rdtype: Any = "A", *args: Any, **kwargs: Any) -> Any:
            servers = authoritative if _in_zone(str(qname), zone) else public
            if not servers:
                self.unchecked.append(str(qname).rstrip("."))
                raise dns.resolver.NoResolverConfiguration(
                    f"no public resolver configured to look up {qname}"
                )
            self.nameservers = [dns.nameserver.Do53Nameserver(h, p) for h, p in servers]
            return super().resolve(qname, rdtype, *args, **kwargs)

    return ZoneRoutingResolver()


def _clear_cache() -> None:
    """checkdmarc caches answers by name only: a check must never see an older answer."""
    from checkdmarc.utils import DNS_CACHE

    DNS_CACHE.clear()


def validate_spf(record: str, domain: str, resolver: dns.resolver.Resolver) -> Validation:
    """Full RFC 7208 checks: syntax, lookups (limit 10), void lookups, include loops."""
    from checkdmarc.spf import SPFError, SPFRecordNotFound, parse_spf_record

    _clear_cache()
    unchecked: list[str] = resolver.unchecked  # type: ignore[attr-defined]
    try:
        result = parse_spf_record(record, domain, resolver=resolver)
    except SPFRecordNotFound as exc:
        if unchecked:  # the syntax pass runs before any lookup, so the syntax is valid
            return Validation(
                True,
                "syntax valid (checkdmarc); not resolved without a public resolver: "
                + ", ".join(dict.fromkeys(unchecked)),
                tuple(exc.warnings),
                tuple(unchecked),
            )
        return Validation(False, f"checkdmarc: {exc}", tuple(exc.warnings))
    except SPFError as exc:
        return Validation(False, f"checkdmarc: {exc}", tuple(getattr(exc, "warnings", [])))
    lookups = result["dns_lookups"]
    return Validation(
        True,
        f"valid (checkdmarc): {lookups}/10 DNS lookups",
        tuple(result["warnings"]),
        tuple(unchecked),
    )


def validate_dmarc(record: str, domain: str, resolver: dns.resolver.Resolver) -> Validation:
    """Syntax and tag values; the rua destination's MX and authorization are warnings."""
    from checkdmarc.dmarc import DMARCError, parse_dmarc_record

    _clear_cache()
    try:
        result = parse_dmarc_record(record, domain, resolver=resolver)
    except DMARCError as exc:
        return Validation(False, f"checkdmarc: {exc}")
    return Validation(True, "valid (checkdmarc)", tuple(result.get("warnings", [])))


def rua_authorized(domain: str, rua_domain: str, resolver: dns.resolver.Resolver) -> Validation:
    """An external rua domain must publish ``<domain>._report._dmarc.<rua_domain>``."""
    from checkdmarc.dmarc import (
        DMARCError,
        UnverifiedDMARCURIDestination,
        verify_dmarc_report_destination,
    )

    _clear_cache()
    try:
        verify_dmarc_report_destination(domain, rua_domain, resolver=resolver)
    except (DMARCError, UnverifiedDMARCURIDestination) as exc:
        return Validation(False, str(exc))
    return Validation(True, f"{rua_domain} accepts DMARC reports for {domain}")
