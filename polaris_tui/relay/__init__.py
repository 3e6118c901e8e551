"""The signed relay: request signer, shipped Worker source and (in submodules) the local relay.

Import-light on purpose (stdlib hashing only): the TUI and the deploy step import this at
start-up; the ASGI server, SMTP delivery and HTTP client live in submodules loaded on use.
"""

from __future__ import annotations

from polaris_tui.relay.signing import (
    HEADER_NONCE,
    HEADER_SIG,
    HEADER_TS,
    SigningError,
    canonical_string,
    sign,
)

WORKER_MAIN_MODULE = "index.js"
WORKER_COMPATIBILITY_DATE = "2026-04-26"
# Strict mode's Durable Object: the binding the Worker reads, the class it exports, and the tag
# of the migration that creates the class's SQLite namespace (a new tag only for a new step).
GUARD_BINDING = "RELAY_GUARD"
GUARD_CLASS = "RelayGuard"
GUARD_MIGRATION_TAG = "relay-guard-v1"

__all__ = [
    "GUARD_BINDING",
    "GUARD_CLASS",
    "GUARD_MIGRATION_TAG",
    "HEADER_NONCE",
    "HEADER_SIG",
    "HEADER_TS",
    "WORKER_COMPATIBILITY_DATE",
    "WORKER_MAIN_MODULE",
    "SigningError",
    "canonical_string",
    "sign",
    "worker_files",
]


def worker_files() -> dict[str, bytes]:
    """The Worker's ES modules as uploaded (module name -> source), main module included."""
    from importlib.resources import files

    src = files(__name__).joinpath("worker", "src")
    return {
        entry.name: entry.read_bytes()
        for entry in sorted(src.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".js")
    }
