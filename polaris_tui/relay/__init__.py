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

__all__ = [
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
