"""Everything a step needs, built once per run: config, vault, state, journal and adapters.

The same Context shape serves real Cloudflare and the embedded sandbox; only endpoints
differ. ``polaris_tui.session`` builds it (and is the only module that knows how to start a
sandbox). Adapters are created lazily so the TUI's first frame never waits on heavy imports.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from polaris_tui.config import Config
from polaris_tui.journal import Journal
from polaris_tui.observation import observed
from polaris_tui.state import StateStore
from polaris_tui.vault import Vault

if TYPE_CHECKING:
    from polaris_tui.adapters.cloudflare_api import CloudflareApi
    from polaris_tui.ports import (
        R2,
        DnsProber,
        DnsRecords,
        EmailRouting,
        EmailSending,
        HttpProber,
        KvNamespaces,
        Mailbox,
        Workers,
    )

IMAP_REMEDY = "run `polaris-tui secrets set imap-password` (the password of imap_user)"
R2_REMEDY = (
    "create an R2 API token (R2 → Manage API tokens) and run `polaris-tui secrets "
    "set r2-access-key-id` and `... r2-secret-access-key`"
)


@dataclass(frozen=True)
class Endpoints:
    """Where the adapters connect; all None means real Cloudflare and real DNS."""

    api_base: str | None = None
    s3: str | None = None
    authoritative_dns: list[tuple[str, int]] | None = None
    resolvers: list[tuple[str, int]] = field(default_factory=list)
    edge: str | None = None


class SandboxFacts(Protocol):
    """What the engine may know of a running sandbox (the session root passes its endpoints):
    where it keeps its files, the inbox its SMTP server delivers to, and how the operator's
    one manual act (opening a destination address's verification mail) is stood in for."""

    @property
    def directory(self) -> Path: ...

    @property
    def inbox(self) -> Path: ...

    def verify_address(self, address: str) -> None: ...


@dataclass
class Context:
    config: Config
    config_path: Path
    vault: Vault
    state: StateStore
    journal: Journal
    endpoints: Endpoints
    sandbox: SandboxFacts | None = None

    @property
    def is_sandbox(self) -> bool:
        return self.sandbox is not None

    @cached_property
    def api(self) -> CloudflareApi:
        """The Cloudflare API connection the Cloudflare adapters share (token read on use)."""
        from polaris_tui.adapters.cloudflare_api import CloudflareApi, make_client

        def client() -> Any:
            token = self.vault.require(
                "cloudflare-api-token", "run `polaris-tui secrets set cloudflare-api-token`"
            )
            return make_client(token, self.endpoints.api_base)

        return CloudflareApi(client, self.config.account_id, lambda: self.zone_id)

    @property
    def cf(self) -> Any:
        """The raw SDK client, for the adapters and for tests that arrange the world.

        Steps never use it: they reach Cloudflare only through the ports below.
        """
        return self.api.client

    @cached_property
    def dns_records(self) -> DnsRecords:
        from polaris_tui.adapters.dns_records import CloudflareDnsRecords

        return observed("dns_records", CloudflareDnsRecords(self.api))

    @cached_property
    def email_routing(self) -> EmailRouting:
        from polaris_tui.adapters.email_routing import CloudflareEmailRouting

        return observed("email_routing", CloudflareEmailRouting(self.api))

    @cached_property
    def email_sending(self) -> EmailSending:
        from polaris_tui.adapters.email_sending import CloudflareEmailSending

        return observed("email_sending", CloudflareEmailSending(self.api, self.config.zone))

    @cached_property
    def workers(self) -> Workers:
        from polaris_tui.adapters.workers import CloudflareWorkers

        return observed("workers", CloudflareWorkers(self.api))

    @cached_property
    def kv(self) -> KvNamespaces:
        from polaris_tui.adapters.kv import CloudflareKv

        return observed("kv", CloudflareKv(self.api))

    @cached_property
    def r2(self) -> R2:
        """R2 buckets and custom domains (Cloudflare API), objects (S3 API, keys read on use)."""
        from polaris_tui.adapters.r2 import CloudflareR2

        def credentials() -> tuple[str, str]:
            return (
                self.vault.require("r2-access-key-id", R2_REMEDY),
                self.vault.require("r2-secret-access-key", R2_REMEDY),
            )

        return observed("r2", CloudflareR2(self.api, credentials, self.endpoints.s3))

    @cached_property
    def dns(self) -> DnsProber:
        from polaris_tui.adapters.dns_probe import DnsProber as DnsProbe

        return DnsProbe(
            self.config.zone,
            self.endpoints.authoritative_dns,
            list(self.endpoints.resolvers),
            self.config.dns_timeout_seconds,
        )

    @cached_property
    def http(self) -> HttpProber:
        from polaris_tui.adapters.http_probe import HttpProber as HttpProbe

        return HttpProbe(self.endpoints.edge)

    @cached_property
    def mailbox(self) -> Mailbox | None:
        """Where test messages can be read back: the sandbox inbox, the configured IMAPS
        mailbox (password read on use), or None when there is none to read."""
        from polaris_tui.adapters.mailbox import ImapsMailbox, InboxFolder

        if self.sandbox is not None:
            return InboxFolder(Path(self.sandbox.inbox))
        if not self.config.imap_host:
            return None
        return ImapsMailbox(
            self.config.imap_host,
            self.config.imap_user,
            lambda: self.vault.require("imap-password", IMAP_REMEDY),
        )

    @cached_property
    def zone_id(self) -> str:
        """The zone's id, looked up once by name (cached in the tool state)."""
        cached = self.state.get("zone_id")
        if cached:
            return str(cached)
        zone_id = self.api.find_zone_id(self.config.zone)
        self.state.set("zone_id", zone_id)
        return zone_id


def fingerprint(secret: str) -> str:
    """A short non-reversible tag to tell secrets apart in state and UI (never the value)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()[:12]
