"""The embedded sandbox: a local stand-in for a Cloudflare account (API, authoritative DNS,
S3 for R2, the HTTP edge and an SMTP inbox) on loopback ports, state kept in a folder.

It is a test double, labelled as such wherever it is used, never a silent fallback.
This module stays import-light: the servers are imported only by ``Sandbox.start``.

Environment knobs (read by ``start``; constructor arguments override the first two):
  POLARIS_SANDBOX_FAULTS         ``METHOD:PATH_GLOB:ACTION[:COUNT]`` rules separated by ``;``
                                 (ACTION: HTTP status, ``reset`` or ``delay=MS``; PATH is
                                 relative to /client/v4), e.g. ``POST:/zones/*/dns_records:500:2``
  POLARIS_SANDBOX_LATENCY_MS     delay every API, DNS, S3 and edge response
  POLARIS_SANDBOX_ACTIVATION_MS  pending -> active delay of R2 custom domains and Email
                                 Sending verification (default 1500)
  POLARIS_SANDBOX_ADDRESS_VERIFY_MS  a new destination address is verified this many ms after
                                 it was created, as if its owner opened the mailed link
                                 (default -1: only opening the link verifies it)
  POLARIS_SANDBOX_PAGE_CAP       at most this many items per list page, fewer than a client
                                 may ask for (result_info then has no total_pages)
  POLARIS_SANDBOX_DKIM_MODE      ``txt`` (cf-bounce._domainkey TXT, published automatically)
                                 or ``cname`` (``<selector>._domainkey`` CNAME left to the
                                 operator, the older documented form)

Folder layout: ``state.json`` (account state, no secrets), ``keyring.json`` (0600: API token,
S3 keys, Worker secret values, DKIM private keys), ``config.toml``, ``requests.jsonl``
(redacted API log), ``inbox/*.eml`` (each with the inbox's Authentication-Results), ``s3/``
(object copies so a restart serves what was uploaded), ``workerd/`` (the edge's miniflare
scratch space and its ``workerd.log``) and ``sandbox.log`` (the output of the sandbox process
that the CLI and the TUI start, ``child.py``).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

    from polaris_tui.sandbox.runtime import Runtime

EDGE_IPV4 = "198.18.0.1"
EDGE_IPV6 = "2001:db8:ed9e::1"
# Where Email Sending's mail leaves "Cloudflare" from: the address _spf.mx.cloudflare.net
# (served by the sandbox DNS) authorises, and the client address the inbox judges SPF for.
EGRESS_IPV4 = "198.18.0.25"
LOG_NAME = "sandbox.log"  # the sandbox process's own output (see child.py)
KEYRING_NAME = "keyring.json"  # the sandbox's own credentials (keyring_backend.py)
STATE_NAME = "state.json"  # the sandbox's account, zones and resources (state.py)
SANDBOX_MARKERS = (STATE_NAME, KEYRING_NAME, "config.toml", LOG_NAME)

__all__ = [
    "EDGE_IPV4",
    "EDGE_IPV6",
    "EGRESS_IPV4",
    "Sandbox",
    "SandboxEndpoints",
    "default_sandbox_dir",
    "reset",
]


@dataclass(frozen=True)
class SandboxEndpoints:
    """Where the running sandbox listens and the demo credentials it accepts."""

    api: str
    token: str
    account_id: str
    zone_id: str
    domain: str
    dns_host: str
    dns_port: int
    s3: str
    s3_access_key_id: str
    s3_secret_access_key: str
    edge: str
    smtp_host: str
    smtp_port: int
    inbox: Path
    directory: Path
    config_path: Path
    # How the edge runs uploaded Workers: "workerd (miniflare)", or "unavailable: <why>"
    # (then every Worker host answers 503 with that reason).
    edge_workers: str = "workerd (miniflare)"

    def verify_address(self, address: str) -> None:
        """Open the verification link mailed to ``address``, standing in for its owner."""
        from polaris_tui.sandbox.address_verification import click

        click(self.inbox, address)

    @classmethod
    def from_serve_line(cls, line: dict[str, Any], directory: Path) -> SandboxEndpoints:
        """The endpoints of a sandbox in ``directory`` that printed ``line``."""
        dns_host, dns_port = line["dns"].rsplit(":", 1)
        smtp_host, smtp_port = line["smtp"].rsplit(":", 1)
        return cls(
            api=line["api"],
            token=line["token"],
            account_id=line["account_id"],
            zone_id=line["zone_id"],
            domain=line["domain"],
            dns_host=dns_host,
            dns_port=int(dns_port),
            s3=line["s3"],
            s3_access_key_id=line["s3_access_key_id"],
            s3_secret_access_key=line["s3_secret_access_key"],
            edge=line["edge"],
            smtp_host=smtp_host,
            smtp_port=int(smtp_port),
            inbox=Path(line["inbox"]),
            directory=directory,
            config_path=directory / "config.toml",
            edge_workers=line["edge_workers"],
        )

    def serve_line(self) -> dict[str, Any]:
        """The JSON object ``sandbox serve`` prints (sandbox-only credentials included)."""
        return {
            "api": self.api,
            "token": self.token,
            "account_id": self.account_id,
            "zone_id": self.zone_id,
            "domain": self.domain,
            "dns": f"{self.dns_host}:{self.dns_port}",
            "s3": self.s3,
            "s3_access_key_id": self.s3_access_key_id,
            "s3_secret_access_key": self.s3_secret_access_key,
            "edge": self.edge,
            "smtp": f"{self.smtp_host}:{self.smtp_port}",
            "inbox": str(self.inbox),
            "edge_workers": self.edge_workers,
        }


class Sandbox:
    """Start/stop every sandbox server in this process (background threads)."""

    def __init__(
        self,
        directory: Path,
        *,
        faults: str | None = None,
        latency_ms: int | None = None,
        warm_edge: bool = False,
    ) -> None:
        self.directory = Path(directory)
        self._faults, self._latency_ms = faults, latency_ms
        # Load every deployed Worker in the background once the servers are up, as
        # Cloudflare runs a deployed Worker before its first request (``verify`` asks them).
        self._warm_edge = warm_edge
        self._runtime: Runtime | None = None
        self.endpoints: SandboxEndpoints | None = None

    def start(self) -> SandboxEndpoints:
        from polaris_tui.sandbox.runtime import Runtime
        from polaris_tui.sandbox.state import Settings

        if self._runtime is not None and self.endpoints is not None:
            return self.endpoints
        runtime = Runtime(self.directory, Settings.from_env(self._faults, self._latency_ms))
        try:
            self.endpoints = runtime.start(warm_edge=self._warm_edge)
        except BaseException:
            runtime.stop()
            raise
        self._runtime = runtime
        return self.endpoints

    def stop(self) -> None:
        if self._runtime is not None:
            self._runtime.stop()
        self._runtime = None
        self.endpoints = None

    def halt(self) -> None:
        """Stop the Worker host only, for a process about to end (its servers' threads end
        with it; every change was on disk before it was answered)."""
        if self._runtime is not None:
            self._runtime.workers.stop()
        self._runtime = None
        self.endpoints = None

    def __enter__(self) -> SandboxEndpoints:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _running(self) -> Runtime:
        if self._runtime is None:
            raise RuntimeError("the sandbox is not running; call start() first")
        return self._runtime

    def keyring(self) -> KeyringBackend:
        """The sandbox's own keyring (never the operator's)."""
        from polaris_tui.sandbox.keyring_backend import SandboxKeyring

        if self._runtime is not None:
            return self._runtime.store.keyring
        return SandboxKeyring.in_folder(self.directory)

    def set_faults(self, spec: str) -> None:
        """Replace the fault rules at runtime (same syntax as POLARIS_SANDBOX_FAULTS)."""
        self._running().set_faults(spec)

    def set_latency(self, latency_ms: int) -> None:
        self._running().set_latency(latency_ms)

    def set_address_verify(self, delay_ms: int) -> None:
        """Verify new destination addresses ``delay_ms`` after creation (negative: only by
        their mailed link), like POLARIS_SANDBOX_ADDRESS_VERIFY_MS."""
        self._running().set_address_verify(delay_ms)

    def reset_state(self) -> None:
        """Back to the freshly seeded account, keeping servers, ports and credentials."""
        self._running().reset_state()


def default_sandbox_dir() -> Path:
    from platformdirs import user_state_dir

    return Path(user_state_dir("polaris-tui")) / "sandbox"


def reset(directory: Path) -> None:
    """Wipe a sandbox directory; refuses folders that do not look like a sandbox."""
    directory = Path(directory)
    if not directory.exists():
        return
    if any(directory.iterdir()) and not any((directory / m).exists() for m in SANDBOX_MARKERS):
        raise ValueError(
            f"{directory} does not look like a sandbox directory (no state.json); "
            "refusing to delete it"
        )
    shutil.rmtree(directory)
