"""The relay's numeric limits: one table for the config, the local relay and the Worker.

A value the config accepts must be one the deployed Worker accepts too, or every send answers
500 ``relay_misconfigured`` after a clean apply. The Worker cannot import Python, so
``worker/src/index.js`` carries the same numbers in its ``DEFAULTS`` and ``BOUNDS`` (and
the on/off vars in ``SWITCHES``); tests/test_config_bounds.py reads them and fails when they differ.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Bound:
    """A whole number's default and inclusive range, with the unit said in errors."""

    default: int
    low: int
    high: int
    unit: str

    def fix(self, value: object) -> str | None:
        """None when ``value`` is a whole number in range, else how to put it right."""
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not self.low <= value <= self.high
        ):
            return f"use a whole number from {self.low:,} to {self.high:,} ({self.unit})"
        return None


RELAY_BOUNDS: dict[str, Bound] = {
    # Clock skew a signed request may have: over an hour, a captured request stays usable too long.
    "ts_window_ms": Bound(300_000, 1_000, 3_600_000, "ms"),
    # How long a nonce stays used; the relay raises it to twice the window (and KV's 60 s).
    "nonce_ttl_seconds": Bound(600, 1, 604_800, "s"),
    # Messages per recipient per window; the top stays far below JavaScript's 2**53.
    "rate_limit_max": Bound(10, 1, 1_000_000_000, "messages"),
    "rate_limit_window_seconds": Bound(3_600, 1, 604_800, "s"),
    # A request body held in memory by the Worker; mail beyond 1 MiB is not a notification.
    "max_body_bytes": Bound(65_536, 1_024, 1_048_576, "bytes"),
}
"""Keyed by the Python name; the Worker's variable is the same name upper-cased."""


RELAY_SWITCHES: dict[str, bool] = {
    # Nonce claims and per-mailbox counters through the RelayGuard Durable Object (exact under
    # concurrency); false falls back to KV, best effort (docs/relay-protocol.md, section 8).
    "relay_strict": True,
}
"""On/off Worker vars and their defaults, sent as ``"true"``/``"false"``; same naming."""
