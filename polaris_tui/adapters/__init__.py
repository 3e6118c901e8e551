"""Adapters: the only modules that import cloudflare, boto3, dns and httpx (lazily)."""

from __future__ import annotations

import importlib
import pkgutil

SDK_MODULES = (
    "cloudflare.resources.dns",
    "cloudflare.resources.zones",
    "cloudflare.resources.email_routing",
    "cloudflare.resources.email_sending",
    "cloudflare.resources.workers",
    "cloudflare.resources.kv",
    "cloudflare.resources.r2",
    "cloudflare.resources.accounts",  # preflight: the account's subscriptions
    "cloudflare.resources.user",  # preflight: the token's own verify call
    "boto3",
    "boto3.s3.inject",  # imported when the first S3 client is built
    "boto3.s3.transfer",
    "botocore.config",
    "dns.asyncquery",
    "dns.asyncresolver",
    "dns.message",
    "dns.rcode",
    "httpx",
    "httpcore",
    "dns.resolver",
    "checkdmarc.spf",
    "checkdmarc.dmarc",
)
PRELOAD_RDTYPES = ("A", "AAAA", "CNAME", "MX", "NS", "SOA", "TXT")


def preload() -> None:
    """Import every vendor module the adapters use, before reads fan out over threads.

    The SDK imports its resources lazily on first use; two threads making that first import
    at once can deadlock on Python's per-module import locks, so a caller about to run reads
    concurrently imports them here, once, on one thread.
    """
    for name in SDK_MODULES:
        importlib.import_module(name)
    for module in pkgutil.iter_modules(__path__):  # the adapters themselves, built lazily too
        importlib.import_module(f"{__name__}.{module.name}")
    import dns.rdata
    import dns.rdataclass
    import dns.rdatatype

    for rdtype in PRELOAD_RDTYPES:  # dnspython imports each record type's class on first use
        dns.rdata.get_rdata_class(dns.rdataclass.IN, dns.rdatatype.from_text(rdtype))
