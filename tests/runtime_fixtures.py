"""Fixtures for the runtime steps' tests, loaded with ``pytest_plugins``.

They build on ``sandbox_ctx`` from tests/conftest.py.
"""

from __future__ import annotations

import pytest

from polaris_tui.context import Context
from polaris_tui.steps.secret import VAULT_A, VAULT_B
from tests.runtime_helpers import RELAY_STEPS, SENDING_STEPS, apply_step


@pytest.fixture
def ctx(sandbox_ctx: Context) -> Context:
    """A sandbox Context whose keyring holds no signing secrets (the reset keeps the keyring)."""
    sandbox_ctx.vault.delete(VAULT_A)
    sandbox_ctx.vault.delete(VAULT_B)
    return sandbox_ctx


@pytest.fixture
async def relay_ctx(ctx: Context) -> Context:
    """kv, secret, deploy and route applied: the relay answers at mail.<domain>."""
    for step_id in RELAY_STEPS:
        assert (await apply_step(ctx, step_id)).ok, step_id
    return ctx


@pytest.fixture
async def sending_ctx(ctx: Context) -> Context:
    """The relay answering, with polaris.test a verified Email Sending domain: sends reach
    any recipient, as on an account whose operator finished the email-service step."""
    for step_id in SENDING_STEPS:
        assert (await apply_step(ctx, step_id)).ok, step_id
    return ctx
