"""RelaySettings refuses what the Worker would refuse, naming the field."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from relay_support import SETTINGS


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"secret_a": ""}, "secret_a is empty"),
        ({"ts_window_ms": 0}, "ts_window_ms = 0 is out of bounds: use a whole number from 1,000"),
        ({"rate_limit_max": True}, "rate_limit_max = True is out of bounds"),
        ({"rate_limit_max": 9007199254740993}, "from 1 to 1,000,000,000"),
        ({"max_body_bytes": "65536"}, "max_body_bytes = '65536' is out of bounds"),
        ({"senders": {"hello@polaris.test": "customer"}}, "must be named SEND_<NAME>"),
        ({"senders": {"Hello <hello@polaris.test>": "SEND_CUSTOMER"}}, "not a bare address"),
    ],
)
def test_invalid_settings_are_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        replace(SETTINGS, **change)


def test_nonce_ttl_is_raised_to_twice_the_window() -> None:
    assert SETTINGS.effective_nonce_ttl_seconds == 600
    assert replace(SETTINGS, ts_window_ms=900_000).effective_nonce_ttl_seconds == 1800
    assert (
        replace(SETTINGS, ts_window_ms=1000, nonce_ttl_seconds=5).effective_nonce_ttl_seconds == 60
    )
