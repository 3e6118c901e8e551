"""Persistent sandbox account state: one JSON document written through on every change.

Secrets (the API token, S3 keys, Worker secret values, Email Sending's DKIM private keys)
never go into ``state.json``; they live in the sandbox keyring file next to it.
"""

from __future__ import annotations

import copy
import json
import os
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from polaris_tui.fsutil import atomic_write, read_json_object
from polaris_tui.sandbox import STATE_NAME
from polaris_tui.sandbox.dkim_keys import SERVICE as DKIM_SERVICE
from polaris_tui.sandbox.keyring_backend import SandboxKeyring

DOMAIN = "polaris.test"
SERVICE = f"polaris-tui:{DOMAIN}"
TOKEN_NAME = "cloudflare-api-token"
S3_KEY_ID_NAME = "r2-access-key-id"
S3_SECRET_NAME = "r2-secret-access-key"
STATE_VERSION = 1

CONFIG_TOML = """\
# polaris-tui configuration of the embedded sandbox (a local test double, not Cloudflare).
domain = "{domain}"
account_id = "{account_id}"
zone = "{domain}"
traefik_ipv4 = "192.0.2.10"
traefik_ipv6 = "2001:db8::10"
r2_bucket = "polaris-assets"
sender_customer = "noreply@{domain}"
sender_admin = "admin@{domain}"
"""


RESET_FIX = "run `polaris-tui sandbox reset` to start from a fresh demo account"


def now_iso() -> str:
    """Cloudflare-style UTC timestamp with microseconds."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_id() -> str:
    """A 32-hex identifier like Cloudflare's."""
    return uuid.uuid4().hex


def worker_secret_service(script: str) -> str:
    """Keyring service under which a deployed Worker's secret values are kept."""
    return f"polaris-sandbox-worker:{script}"


@dataclass(frozen=True)
class Settings:
    """Behaviour knobs read from the environment (constructor arguments override them)."""

    activation_ms: int = 1500
    dkim_mode: str = "txt"  # "txt" (cf-bounce._domainkey TXT) or "cname" (<sel>._domainkey)
    latency_ms: int = 0
    faults: str = ""
    page_cap: int = 0  # > 0: list pages hold at most this many items, whatever was asked
    # >= 0: a destination address is verified this long after it was created, as if its
    # owner opened the mailed link; negative: only opening the link verifies it
    address_verify_ms: int = -1

    @classmethod
    def from_env(cls, faults: str | None = None, latency_ms: int | None = None) -> Settings:
        def env_int(name: str, default: int) -> int:
            raw = os.environ.get(name, "").strip()
            if not raw:
                return default
            try:
                return int(raw)
            except ValueError:
                raise ValueError(f"{name} must be an integer number of milliseconds") from None

        dkim = os.environ.get("POLARIS_SANDBOX_DKIM_MODE", "txt").strip().lower() or "txt"
        if dkim not in ("txt", "cname"):
            raise ValueError("POLARIS_SANDBOX_DKIM_MODE must be 'txt' or 'cname'")
        return cls(
            activation_ms=env_int("POLARIS_SANDBOX_ACTIVATION_MS", 1500),
            dkim_mode=dkim,
            latency_ms=latency_ms
            if latency_ms is not None
            else env_int("POLARIS_SANDBOX_LATENCY_MS", 0),
            faults=faults if faults is not None else os.environ.get("POLARIS_SANDBOX_FAULTS", ""),
            page_cap=env_int("POLARIS_SANDBOX_PAGE_CAP", 0),
            address_verify_ms=env_int("POLARIS_SANDBOX_ADDRESS_VERIFY_MS", -1),
        )


def empty_state(account_id: str, zone_id: str) -> dict[str, Any]:
    """The demo account as it looks before any step ran."""
    created = now_iso()
    return {
        "version": STATE_VERSION,
        "account_id": account_id,
        "zone": {"id": zone_id, "name": DOMAIN, "created_on": created},
        "serial": 1,
        "dns_records": {},
        "email_routing": {
            "enabled": False,
            "tag": new_id(),
            "created": created,
            "modified": created,
            "unlocked": False,
        },
        "email_addresses": {},
        "email_rules": {},
        "sending_subdomains": {},
        "r2_buckets": {},
        "kv_namespaces": {},
        "scripts": {},
        "routes": {},
        "worker_domains": {},
    }


class Store:
    """The account document plus its lock; ``change()`` writes it through atomically."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / STATE_NAME
        self.keyring = SandboxKeyring.in_folder(self.directory)
        self.lock = threading.RLock()
        self.data: dict[str, Any] = {}
        self.load_or_seed()

    # -- lifecycle -------------------------------------------------------------------
    def load_or_seed(self) -> None:
        """Load ``state.json``, or seed the demo account on first use."""
        with self.lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            try:
                self.data = read_json_object(self.path, RESET_FIX)
            except FileNotFoundError:
                self.data = empty_state(new_id(), new_id())
                self._save()
            self._ensure_credentials()
            self._write_config()

    def wipe(self) -> None:
        """Forget every resource but keep the account, zone and credentials."""
        with self.lock:
            for script in self.data.get("scripts", {}):
                self.keyring.delete_service(worker_secret_service(script))
            self.keyring.delete_service(DKIM_SERVICE)
            self.data = empty_state(self.data["account_id"], self.data["zone"]["id"])
            self._save()

    def _ensure_credentials(self) -> None:
        kr = self.keyring
        if not kr.get_password(SERVICE, TOKEN_NAME):
            kr.set_password(SERVICE, TOKEN_NAME, "sbx-" + secrets.token_urlsafe(30))
        if not kr.get_password(SERVICE, S3_KEY_ID_NAME):
            kr.set_password(SERVICE, S3_KEY_ID_NAME, secrets.token_hex(16))
        if not kr.get_password(SERVICE, S3_SECRET_NAME):
            kr.set_password(SERVICE, S3_SECRET_NAME, secrets.token_hex(32))

    def _write_config(self) -> None:
        """Seed the config once: after that it is the operator's (``config set``, settings)."""
        path = self.directory / "config.toml"
        if not path.exists():
            text = CONFIG_TOML.format(domain=DOMAIN, account_id=self.data["account_id"])
            atomic_write(path, text.encode(), 0o600)

    def _save(self) -> None:
        blob = json.dumps(self.data, indent=1, sort_keys=True).encode()
        atomic_write(self.path, blob, 0o600)

    # -- access ----------------------------------------------------------------------
    @contextmanager
    def change(self) -> Iterator[dict[str, Any]]:
        """Mutate a copy of the state; it replaces the live state (and disk) only on success,
        so a request that fails half-way (a bad batch entry) changes nothing."""
        with self.lock:
            draft = copy.deepcopy(self.data)
            yield draft
            draft["serial"] = int(draft.get("serial", 1)) + 1
            self.data = draft
            self._save()

    @contextmanager
    def read(self) -> Iterator[dict[str, Any]]:
        with self.lock:
            yield self.data

    @property
    def account_id(self) -> str:
        return self.data["account_id"]

    @property
    def zone_id(self) -> str:
        return self.data["zone"]["id"]

    @property
    def domain(self) -> str:
        return self.data["zone"]["name"]

    def credential(self, name: str) -> str:
        value = self.keyring.get_password(SERVICE, name)
        if value is None:
            raise RuntimeError(f"sandbox credential {name!r} is missing; run `sandbox reset`")
        return value


def epoch_ms() -> int:
    """Wall-clock milliseconds; activation deadlines must survive a restart."""
    return int(time.time() * 1000)
