"""The assets step: PNG checks, uploads over real S3 (moto), the R2 custom domain through the
real SDK, and anonymous HEAD checks through the sandbox edge."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import pytest

from polaris_tui import runner
from polaris_tui.context import Context
from polaris_tui.paths import shipped_assets_dir
from polaris_tui.steps.assets import (
    CACHE_CONTROL,
    OBJECT_KIND,
    REQUIRED_SIZES,
    AssetError,
    AssetsStep,
    load_assets,
)
from polaris_tui.steps.base import Action, StepState
from polaris_tui.steps.records import RECORD_KIND
from tests.pngdata import make_png

STEP = AssetsStep()


def yes(step: Any, changes: Any) -> bool:
    return True


def with_assets_dir(ctx: Context, directory: Path) -> Context:
    return dataclasses.replace(ctx, config=dataclasses.replace(ctx.config, assets_dir=directory))


def watch_puts(ctx: Context) -> list[str]:
    """Keys of every PutObject the context's boto3 client sends (a botocore event hook)."""
    seen: list[str] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        seen.append(params["Key"])

    ctx.r2.s3.meta.events.register("provide-client-params.s3.PutObject", record)
    return seen


@pytest.fixture
def puts(sandbox_ctx: Context) -> list[str]:
    return watch_puts(sandbox_ctx)


def copy_assets(tmp_path: Path) -> Path:
    target = tmp_path / "assets"
    shutil.copytree(shipped_assets_dir(), target)
    return target


# -- local files (no network) ----------------------------------------------------------------
def test_shipped_assets_load() -> None:
    loaded = load_assets(shipped_assets_dir())
    assert [a.key for a in loaded] == [f"email/{name}" for name, _ in REQUIRED_SIZES]


def test_wrong_size_names_file_found_and_required(tmp_path: Path) -> None:
    folder = copy_assets(tmp_path)
    (folder / "polaris-logo-160.png").write_bytes(make_png(200, 50))
    with pytest.raises(AssetError) as err:
        load_assets(folder)
    assert str(err.value) == "polaris-logo-160.png: size 200x50 found, 160x40 required"


def test_every_bad_file_is_reported(tmp_path: Path) -> None:
    folder = copy_assets(tmp_path)
    (folder / "polaris-logo-320.png").unlink()
    (folder / "expressync-logo-160.png").write_bytes(b"GIF89a not a png")
    with pytest.raises(AssetError) as err:
        load_assets(folder)
    assert len(err.value.problems) == 2
    assert "polaris-logo-320.png: file not found" in err.value.problems[0]
    assert "320x80" in err.value.problems[0]
    assert err.value.problems[1].startswith("expressync-logo-160.png: not a PNG file")


# -- against the sandbox ---------------------------------------------------------------------
async def test_apply_uploads_four_then_nothing(sandbox_ctx: Context, puts: list[str]) -> None:
    first = await runner.apply_async(
        sandbox_ctx, STEP, await runner.plan_async(sandbox_ctx, STEP), confirm=yes
    )
    assert first.ok, first.detail
    assert [c.target for c in first.applied if c.kind == OBJECT_KIND] == [
        f"polaris-assets/email/{name}" for name, _ in REQUIRED_SIZES
    ]
    assert sorted(puts) == sorted(f"email/{name}" for name, _ in REQUIRED_SIZES)
    s3 = sandbox_ctx.r2.s3
    before = {}
    for name, _ in REQUIRED_SIZES:
        head = s3.head_object(Bucket="polaris-assets", Key=f"email/{name}")
        assert head["ContentType"] == "image/png"
        assert head["CacheControl"] == CACHE_CONTROL
        before[name] = (head["ETag"], head["LastModified"])

    assert (await runner.plan_async(sandbox_ctx, STEP)).pending == []
    second = await runner.apply_async(
        sandbox_ctx, STEP, await runner.plan_async(sandbox_ctx, STEP), confirm=yes
    )
    assert second.ok and second.detail == "nothing to do"
    assert len(puts) == 4  # no PutObject on the re-run
    for name, _ in REQUIRED_SIZES:
        head = s3.head_object(Bucket="polaris-assets", Key=f"email/{name}")
        assert (head["ETag"], head["LastModified"]) == before[name]
    assert (await STEP.plan(sandbox_ctx)).state is StepState.DONE


def test_verify_passes_through_the_edge(sandbox_ctx: Context) -> None:
    assert runner.apply(sandbox_ctx, STEP, runner.plan(sandbox_ctx, STEP), confirm=yes).ok
    report = runner.verify(sandbox_ctx, [STEP])
    assert report.ok, [(c.id, c.detail) for c in report.checks if not c.ok]
    ids = {c.id for c in report.checks}
    assert "assets.custom-domain" in ids and "assets.public-polaris-logo-160" in ids


async def test_changed_file_is_reuploaded_alone(sandbox_ctx: Context, tmp_path: Path) -> None:
    assert (
        await runner.apply_async(
            sandbox_ctx, STEP, await runner.plan_async(sandbox_ctx, STEP), confirm=yes
        )
    ).ok
    folder = copy_assets(tmp_path)
    with (folder / "expressync-logo-320.png").open("ab") as fh:
        fh.write(b"\x00trailing")  # same header and size, other bytes
    ctx = with_assets_dir(sandbox_ctx, folder)
    assert (await STEP.plan(ctx)).state is StepState.DRIFT
    pending = (await runner.plan_async(ctx, STEP)).pending
    assert [(c.action, c.target) for c in pending] == [
        (Action.UPDATE, "polaris-assets/email/expressync-logo-320.png")
    ]
    reuploaded = watch_puts(ctx)
    assert (await runner.apply_async(ctx, STEP, await runner.plan_async(ctx, STEP), confirm=yes)).ok
    assert reuploaded == ["email/expressync-logo-320.png"]
    report = await runner.verify_async(
        sandbox_ctx, [STEP]
    )  # the shipped file is now stale in the bucket
    stale = [c for c in report.checks if not c.ok]
    assert [c.id for c in stale] == ["assets.public-expressync-logo-320"]
    assert "other content" in stale[0].detail


def test_wrong_size_fails_before_uploading_anything(sandbox_ctx: Context, tmp_path: Path) -> None:
    folder = copy_assets(tmp_path)
    (folder / "polaris-logo-160.png").write_bytes(make_png(200, 50))
    ctx = with_assets_dir(sandbox_ctx, folder)
    puts = watch_puts(ctx)
    with pytest.raises(runner.StepFailure) as err:
        runner.apply(ctx, STEP, runner.plan(ctx, STEP), confirm=yes)
    assert "polaris-logo-160.png" in err.value.message
    assert "200x50" in err.value.message and "160x40" in err.value.message
    assert err.value.entry is not None and err.value.entry.id == "png-wrong"
    assert puts == []
    listing = ctx.cf.r2.buckets.list(account_id=ctx.config.account_id)
    assert not listing.buckets  # not even the bucket was created
    assert runner.step_status(ctx, STEP).state is StepState.FAILED


async def test_private_s3_cname_is_replaced_only_with_permission(sandbox_ctx: Context) -> None:
    ctx = sandbox_ctx
    ctx.cf.dns.records.create(
        zone_id=ctx.zone_id,
        type="CNAME",
        name="assets.polaris.test",
        content="polaris-assets.r2.cloudflarestorage.com",
        proxied=False,
        ttl=1,
    )
    deletes = [c for c in (await runner.plan_async(ctx, STEP)).changes if c.kind == RECORD_KIND]
    assert len(deletes) == 1 and deletes[0].action is Action.DELETE and not deletes[0].owned
    assert "private S3 API" in deletes[0].note
    assert "private S3 API" in (await STEP.plan(ctx)).summary
    with pytest.raises(runner.StepFailure, match="--allow-delete"):
        await runner.apply_async(ctx, STEP, await runner.plan_async(ctx, STEP), confirm=yes)
    assert (
        await runner.apply_async(
            ctx, STEP, await runner.plan_async(ctx, STEP), confirm=yes, allow_delete=True
        )
    ).ok
    assert (await runner.verify_async(ctx, [STEP])).ok


def test_missing_object_and_private_bucket_get_their_guidance(sandbox_ctx: Context) -> None:
    ctx = sandbox_ctx
    assert runner.apply(ctx, STEP, runner.plan(ctx, STEP), confirm=yes).ok
    ctx.r2.s3.delete_object(Bucket="polaris-assets", Key="email/polaris-logo-320.png")
    checks = {c.id: c for c in runner.verify(ctx, [STEP]).checks}
    missing = checks["assets.public-polaris-logo-320"]
    assert not missing.ok and missing.data["status"] == 404
    assert missing.guidance.startswith("Brand asset missing")

    ctx.cf.r2.buckets.domains.custom.update(
        "assets.polaris.test",
        account_id=ctx.config.account_id,
        bucket_name="polaris-assets",
        enabled=False,
    )
    checks = {c.id: c for c in runner.verify(ctx, [STEP]).checks}
    private = checks["assets.public-polaris-logo-160"]
    assert not private.ok and private.data["status"] == 403
    assert "bucket isn't public" in private.guidance
    assert not checks["assets.custom-domain"].ok
    # re-enabling the domain is planned as an update, never a second attach
    domain = [c for c in runner.plan(ctx, STEP).pending if c.kind == "r2_custom_domain"]
    assert [c.action for c in domain] == [Action.UPDATE]


@pytest.mark.parametrize(
    ("key_id", "secret", "code"),
    [
        (None, "0" * 64, "SignatureDoesNotMatch"),  # the secret was mistyped
        ("f" * 32, None, "InvalidAccessKeyId"),  # the key pair was rotated away
    ],
)
def test_wrong_or_rotated_r2_keys_get_the_r2_guidance(
    sandbox_ctx: Context, key_id: str | None, secret: str | None, code: str
) -> None:
    ctx = sandbox_ctx
    assert ctx.sandbox is not None
    # the keyring holds what the operator typed, wrong or stale (the sandbox's keyring
    # outlives this test: its own pair goes back afterwards)
    if key_id:
        ctx.vault.set("r2-access-key-id", key_id)
    if secret:
        ctx.vault.set("r2-secret-access-key", secret)
    try:
        with pytest.raises(runner.StepFailure) as err:
            runner.apply(ctx, STEP, runner.plan(ctx, STEP), confirm=yes)
    finally:
        ctx.vault.set("r2-access-key-id", ctx.sandbox.s3_access_key_id)
        ctx.vault.set("r2-secret-access-key", ctx.sandbox.s3_secret_access_key)
    assert code in err.value.message
    assert err.value.entry is not None and err.value.entry.id == "r2-s3-credentials"
