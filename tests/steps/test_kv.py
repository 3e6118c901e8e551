"""kv step against the sandbox API, and the wrangler.jsonc round-trip it performs."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import json5
import pytest

from polaris_tui.context import Context
from polaris_tui.relay.node import WORKER_DIR
from polaris_tui.steps.base import Action
from polaris_tui.steps.kv import PREVIEW_TITLE, TITLE, KvStep, kv_ids, list_namespaces
from polaris_tui.wrangler_sync import (
    KvIds,
    WranglerConfigError,
    read_kv_ids,
    write_kv_ids,
)
from tests.runtime_helpers import apply_step, pending

pytest_plugins = ["tests.runtime_fixtures"]

SHIPPED = WORKER_DIR / "wrangler.jsonc"


@pytest.fixture
def wrangler_file(tmp_path: Path) -> Path:
    target = tmp_path / "email-worker" / "wrangler.jsonc"
    target.parent.mkdir()
    shutil.copy(SHIPPED, target)
    return target


def test_write_kv_ids_changes_only_the_two_ids(wrangler_file: Path) -> None:
    before = wrangler_file.read_text()
    assert read_kv_ids(wrangler_file) == KvIds(None, None)  # placeholders read as unset

    assert write_kv_ids(wrangler_file, KvIds("a" * 32, "b" * 32)) is True

    after = wrangler_file.read_text()
    expected = before.replace("REPLACE_WITH_KV_NAMESPACE_ID", "a" * 32).replace(
        "REPLACE_WITH_KV_PREVIEW_ID", "b" * 32
    )
    assert after == expected  # every comment, key order and indent kept
    assert "// Nonce dedup and per-recipient rate counters" in after
    assert json5.loads(after)["kv_namespaces"][0]["preview_id"] == "b" * 32
    assert write_kv_ids(wrangler_file, KvIds("a" * 32, "b" * 32)) is False  # idempotent


def test_write_kv_ids_replaces_stale_ids_in_json5_syntax(tmp_path: Path) -> None:
    path = tmp_path / "wrangler.jsonc"
    path.write_text(
        "{\n  // keep\n  kv_namespaces: [\n    { binding: 'EMAIL_NONCE_DEDUP', id: 'old1', "
        "preview_id: 'old2', },\n  ],\n}\n"
    )
    write_kv_ids(path, KvIds("new1", "new2"))
    text = path.read_text()
    assert "// keep" in text and "old" not in text
    assert read_kv_ids(path) == KvIds("new1", "new2")


def test_missing_binding_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "wrangler.jsonc"
    path.write_text('{ "kv_namespaces": [] }')
    with pytest.raises(WranglerConfigError, match="EMAIL_NONCE_DEDUP"):
        write_kv_ids(path, KvIds("x", "y"))
    with pytest.raises(WranglerConfigError, match="worker_dir"):
        read_kv_ids(tmp_path / "absent.jsonc")


async def test_apply_creates_both_namespaces_and_is_idempotent(ctx: Context) -> None:
    changes = await pending(ctx, "kv")
    assert [(c.action, c.target) for c in changes] == [
        (Action.CREATE, TITLE),
        (Action.CREATE, PREVIEW_TITLE),
    ]
    result = await apply_step(ctx, "kv")
    assert result.ok
    names = await list_namespaces(ctx)
    assert kv_ids(ctx) == {"id": names[TITLE], "preview_id": names[PREVIEW_TITLE]}
    assert names[TITLE] in ctx.state.owned("kv_namespace")
    assert await pending(ctx, "kv") == []
    checks = await KvStep().verify(ctx)
    assert [c.ok for c in checks] == [True, True], checks


async def test_existing_namespaces_are_reused_by_title(ctx: Context) -> None:
    made = ctx.cf.kv.namespaces.create(account_id=ctx.config.account_id, title=TITLE)
    changes = await pending(ctx, "kv")
    assert {(c.action, c.kind) for c in changes} == {
        (Action.UPDATE, "tool_state"),
        (Action.CREATE, "kv_namespace"),
    }
    await apply_step(ctx, "kv")
    assert kv_ids(ctx)["id"] == made.id
    assert made.id not in ctx.state.owned("kv_namespace")  # reused, not created by the tool
    assert len([t for t in await list_namespaces(ctx) if t == TITLE]) == 1


async def test_worker_dir_gets_the_ids(ctx: Context, wrangler_file: Path) -> None:
    ctx.config = dataclasses.replace(ctx.config, worker_dir=wrangler_file.parent)
    kinds = [c.kind for c in await pending(ctx, "kv")]
    assert "wrangler_config" in kinds
    await apply_step(ctx, "kv")
    ids = kv_ids(ctx)
    assert read_kv_ids(wrangler_file) == KvIds(ids["id"], ids["preview_id"])
    assert await pending(ctx, "kv") == []
    checks = await KvStep().verify(ctx)
    assert {c.id: c.ok for c in checks} == {
        "kv.namespace": True,
        "kv.preview-namespace": True,
        "kv.wrangler-config": True,
    }


async def test_verify_fails_when_a_namespace_disappears(ctx: Context) -> None:
    await apply_step(ctx, "kv")
    ctx.cf.kv.namespaces.delete(kv_ids(ctx)["preview_id"], account_id=ctx.config.account_id)
    checks = {c.id: c for c in await KvStep().verify(ctx)}
    assert checks["kv.namespace"].ok
    assert not checks["kv.preview-namespace"].ok
    assert "apply kv" in checks["kv.preview-namespace"].detail
