"""Sandbox fixtures: one sandbox per session, state reset in place before each test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from polaris_tui.sandbox import Sandbox

ACTIVATION_MS = "1000"  # long enough to observe "pending" on a busy machine


@pytest.fixture(scope="session")
def sandbox_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """Servers start once (about a second); tests share them."""
    previous = os.environ.get("POLARIS_SANDBOX_ACTIVATION_MS")
    os.environ["POLARIS_SANDBOX_ACTIVATION_MS"] = ACTIVATION_MS
    box = Sandbox(tmp_path_factory.mktemp("sandbox"))
    try:
        box.start()
    finally:
        if previous is None:
            del os.environ["POLARIS_SANDBOX_ACTIVATION_MS"]
        else:
            os.environ["POLARIS_SANDBOX_ACTIVATION_MS"] = previous
    yield box
    box.stop()


@pytest.fixture
def sandbox(sandbox_session: Sandbox) -> Sandbox:
    """A running sandbox with a freshly seeded account (``sandbox.endpoints``)."""
    sandbox_session.reset_state()
    return sandbox_session


@pytest.fixture
def cf(sandbox: Sandbox) -> Any:
    """The real Cloudflare SDK pointed at the sandbox API."""
    import cloudflare

    ep = sandbox.endpoints
    assert ep is not None
    return cloudflare.Cloudflare(api_token=ep.token, base_url=ep.api)


@pytest.fixture
def ep(sandbox: Sandbox) -> Any:
    assert sandbox.endpoints is not None
    return sandbox.endpoints
