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
from polaris_tui.state import StateStore
from polaris_tui.vault import Vault

if TYPE_CHECKING:
    import cloudflare

    from polaris_tui.adapters.dns_probe import DnsProber
    from polaris_tui.adapters.http_probe import HttpProber


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
    where it keeps its files and the inbox its SMTP server delivers to."""

    @property
    def directory(self) -> Path: ...

    @property
    def inbox(self) -> Path: ...


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
    def cf(self) -> cloudflare.Cloudflare:
        from polaris_tui.adapters.cloudflare_api import make_client

        token = self.vault.require(
            "cloudflare-api-token", "run `polaris-tui secrets set cloudflare-api-token`"
        )
        return make_client(token, self.endpoints.api_base)

    @cached_property
    def r2(self) -> Any:
        from polaris_tui.adapters.r2 import make_r2_client

        remedy = (
            "create an R2 API token (R2 → Manage API tokens) and run `polaris-tui secrets "
            "set r2-access-key-id` and `... r2-secret-access-key`"
        )
        return make_r2_client(
            self.config.account_id,
            self.vault.require("r2-access-key-id", remedy),
            self.vault.require("r2-secret-access-key", remedy),
            self.endpoints.s3,
        )

    @cached_property
    def dns(self) -> DnsProber:
        from polaris_tui.adapters.dns_probe import DnsProber

        return DnsProber(
            self.config.zone,
            self.endpoints.authoritative_dns,
            list(self.endpoints.resolvers),
            self.config.dns_timeout_seconds,
        )

    @cached_property
    def http(self) -> HttpProber:
        from polaris_tui.adapters.http_probe import HttpProber

        return HttpProber(self.endpoints.edge)

    @cached_property
    def zone_id(self) -> str:
        """The zone's id, looked up once by name (cached in the tool state)."""
        cached = self.state.get("zone_id")
        if cached:
            return str(cached)
        from polaris_tui.adapters.cloudflare_api import all_items

        zones = all_items(self.cf.zones.list(name=self.config.zone))
        if not zones:
            raise LookupError(
                f"Zone {self.config.zone} not found in the account: add the "
                "zone in the Cloudflare dashboard, or fix 'zone' in the config"
            )
        self.state.set("zone_id", zones[0].id)
        return zones[0].id


def fingerprint(secret: str) -> str:
    """A short non-reversible tag to tell secrets apart in state and UI (never the value)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()[:12]
