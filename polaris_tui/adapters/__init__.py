"""Adapters: the only modules that import cloudflare, boto3, dns and httpx (lazily)."""

from __future__ import annotations

import contextlib
import gc
import importlib
import pkgutil
import threading
from collections.abc import Iterator

SDK_MODULES = (
    "cloudflare.resources.dns",
    "cloudflare.resources.zones",
    "cloudflare.resources.email_routing",
    "cloudflare.resources.email_sending",
    "cloudflare.resources.workers",
    "cloudflare.resources.kv",
    "cloudflare.resources.r2",
    "boto3",
    "boto3.s3.inject",  # imported when the first S3 client is built
    "boto3.s3.transfer",
    "botocore.config",
    "dns.asyncquery",
    "dns.asyncresolver",
    "dns._asyncio_backend",  # dnspython's asyncio backend, imported by the first async query
    "anyio._backends._asyncio",  # and the anyio backend that its sockets run on
    "dns.message",
    "dns.rcode",
    "httpx",
    "httpcore",
    "dns.resolver",
)
# The engine's own modules that a step's read imports on first use (deploy's plan).
ENGINE_MODULES = ("polaris_tui.relay.engine",)
# What only some fan-outs need, on top of the reads': imported for those alone (checkdmarc
# is ~0.15 s that a status, or the TUI's sidebar, never uses).
EXTRA_MODULES = {
    "reads": (),
    "verify": ("checkdmarc.spf", "checkdmarc.dmarc"),  # auth's SPF and DMARC validation
    "preflight": (
        "cloudflare.resources.accounts",  # the account's subscriptions
        "cloudflare.resources.user",  # the token's own verify call
    ),
}
PRELOAD_RDTYPES = ("A", "AAAA", "CNAME", "MX", "NS", "SOA", "TXT")

_importing = threading.Lock()  # held by the one thread importing; other callers wait on it
_imported: set[str] = set()  # "reads" and the EXTRA_MODULES already imported


def preload(extra: str | None = None) -> None:
    """Import every vendor module the adapters' reads use (and ``extra``'s, "verify" or
    "preflight"; "reads" adds nothing), before reads fan out over threads.

    The SDK imports its resources lazily on first use; two threads making that first import
    at once can deadlock on Python's per-module import locks, so a caller about to run reads
    concurrently imports them here, once per process, on one thread. A caller that comes
    while another thread is at it (the TUI's statuses, first panel and preflight start
    together) waits for it rather than importing beside it, unless what it needs is in
    already: the TUI's statuses do not wait for preflight's own extras.
    """
    if "reads" in _imported and (extra is None or extra in _imported):
        return
    with _importing, _uncollected():
        if "reads" not in _imported:
            _import_reads()
            _imported.add("reads")
        if extra is not None and extra not in _imported:
            for name in EXTRA_MODULES[extra]:
                importlib.import_module(name)
            _imported.add(extra)


@contextlib.contextmanager
def _uncollected() -> Iterator[None]:
    """Import with the cyclic collector off, then freeze what was loaded.

    The SDK's thousands of classes and models grow the heap fast enough that the collector
    ran three full collections over them during the reads' imports (0.15-0.2 s of a cold
    command's 0.7-0.9 s import); modules and classes live as long as the process, so they
    are moved out of its reach instead."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _import_reads() -> None:
    for name in (*SDK_MODULES, *ENGINE_MODULES):
        importlib.import_module(name)
    for module in pkgutil.iter_modules(__path__):  # the adapters themselves, built lazily too
        importlib.import_module(f"{__name__}.{module.name}")
    import dns.rdata
    import dns.rdataclass
    import dns.rdatatype

    for rdtype in PRELOAD_RDTYPES:  # dnspython imports each record type's class on first use
        dns.rdata.get_rdata_class(dns.rdataclass.IN, dns.rdatatype.from_text(rdtype))
