"""R2 buckets and custom domains, S3 through boto3, the edge serving assets, and KV."""

from __future__ import annotations

import boto3
import cloudflare
import httpx
import pytest

from tests.sandbox.test_email import wait_until

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def s3_client(ep):
    return boto3.client(
        "s3",
        endpoint_url=ep.s3,
        region_name="auto",
        aws_access_key_id=ep.s3_access_key_id,
        aws_secret_access_key=ep.s3_secret_access_key,
    )


def edge_get(ep, host: str, path: str, method: str = "GET") -> httpx.Response:
    return httpx.request(method, ep.edge + path, headers={"Host": host}, timeout=10)


def test_buckets_list_create_get(cf, ep):
    assert cf.r2.buckets.list(account_id=ep.account_id).buckets == []
    bucket = cf.r2.buckets.create(account_id=ep.account_id, name="polaris-assets")
    assert bucket.name == "polaris-assets"
    assert [b.name for b in cf.r2.buckets.list(account_id=ep.account_id).buckets] == [
        "polaris-assets"
    ]
    assert cf.r2.buckets.get("polaris-assets", account_id=ep.account_id).name == "polaris-assets"
    with pytest.raises(cloudflare.ConflictError):
        cloudflare.Cloudflare(api_token=ep.token, base_url=ep.api, max_retries=0).r2.buckets.create(
            account_id=ep.account_id, name="polaris-assets"
        )


def test_boto3_with_region_auto_puts_heads_and_lists(cf, ep):
    cf.r2.buckets.create(account_id=ep.account_id, name="polaris-assets")
    s3 = s3_client(ep)
    s3.put_object(Bucket="polaris-assets", Key="logo.png", Body=PNG, ContentType="image/png")
    head = s3.head_object(Bucket="polaris-assets", Key="logo.png")
    assert head["ContentType"] == "image/png" and head["ContentLength"] == len(PNG)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="polaris-assets")["Contents"]]
    assert keys == ["logo.png"]


def test_custom_domain_goes_active_and_edge_serves_only_then(cf, ep):
    cf.r2.buckets.create(account_id=ep.account_id, name="polaris-assets")
    s3_client(ep).put_object(
        Bucket="polaris-assets", Key="brand/logo.png", Body=PNG, ContentType="image/png"
    )
    assert edge_get(ep, "assets.polaris.test", "/brand/logo.png").status_code == 404
    created = cf.r2.buckets.domains.custom.create(
        "polaris-assets",
        account_id=ep.account_id,
        domain="assets.polaris.test",
        zone_id=ep.zone_id,
        enabled=True,
    )
    assert created.domain == "assets.polaris.test" and created.zone_id == ep.zone_id
    first = cf.r2.buckets.domains.custom.get(
        "assets.polaris.test", account_id=ep.account_id, bucket_name="polaris-assets"
    )
    assert first.status.ownership == "pending"
    assert edge_get(ep, "assets.polaris.test", "/brand/logo.png").status_code == 403
    wait_until(
        lambda: (
            cf.r2.buckets.domains.custom.get(
                "assets.polaris.test", account_id=ep.account_id, bucket_name="polaris-assets"
            ).status.ssl
            == "active"
        )
    )
    listed = cf.r2.buckets.domains.custom.list("polaris-assets", account_id=ep.account_id)
    assert [(d.domain, d.status.ownership) for d in listed.domains] == [
        ("assets.polaris.test", "active")
    ]
    resp = edge_get(ep, "assets.polaris.test", "/brand/logo.png")
    assert resp.status_code == 200 and resp.content == PNG
    assert resp.headers["content-type"] == "image/png" and resp.headers["etag"]
    head = edge_get(ep, "assets.polaris.test", "/brand/logo.png", "HEAD")
    assert head.status_code == 200 and head.headers["etag"] == resp.headers["etag"]
    assert edge_get(ep, "assets.polaris.test", "/missing.png").status_code == 404
    cf.r2.buckets.domains.custom.delete(
        "assets.polaris.test", account_id=ep.account_id, bucket_name="polaris-assets"
    )
    assert edge_get(ep, "assets.polaris.test", "/brand/logo.png").status_code == 404


def test_kv_namespaces_and_title_clash(cf, ep):
    ns = cf.kv.namespaces.create(account_id=ep.account_id, title="polaris-nonces")
    assert [n.title for n in cf.kv.namespaces.list(account_id=ep.account_id)] == ["polaris-nonces"]
    with pytest.raises(cloudflare.BadRequestError) as err:
        cf.kv.namespaces.create(account_id=ep.account_id, title="polaris-nonces")
    assert err.value.status_code == 400
    assert err.value.body["errors"][0] == {
        "code": 10014,
        "message": "a namespace with this account ID and title already exists",
    }
    cf.kv.namespaces.create(account_id=ep.account_id, title="polaris-nonces-preview")
    cf.kv.namespaces.delete(ns.id, account_id=ep.account_id)
    assert [n.title for n in cf.kv.namespaces.list(account_id=ep.account_id)] == [
        "polaris-nonces-preview"
    ]


def test_kv_create_without_title_names_the_field(cf, ep):
    with pytest.raises(cloudflare.BadRequestError) as err:
        cf.post(f"/accounts/{ep.account_id}/storage/kv/namespaces", body={}, cast_to=object)
    assert "'title'" in err.value.body["errors"][0]["message"]


def test_edge_honours_conditional_requests_and_odd_keys(cf, ep, sandbox):
    import os

    cf.r2.buckets.create(account_id=ep.account_id, name="polaris-assets")
    s3_client(ep).put_object(
        Bucket="polaris-assets", Key="brand/logo dark.png", Body=PNG, ContentType="image/png"
    )
    cf.r2.buckets.domains.custom.create(
        "polaris-assets",
        account_id=ep.account_id,
        domain="assets.polaris.test",
        zone_id=ep.zone_id,
        enabled=True,
    )
    wait_until(
        lambda: edge_get(ep, "assets.polaris.test", "/brand/logo%20dark.png").status_code == 200
    )
    etag = edge_get(ep, "assets.polaris.test", "/brand/logo%20dark.png").headers["etag"]
    again = httpx.get(
        ep.edge + "/brand/logo%20dark.png",
        headers={"Host": "assets.polaris.test", "If-None-Match": etag},
    )
    assert again.status_code == 304 and again.content == b""
    assert os.path.isdir(ep.directory / "s3" / "polaris-assets")  # mirrored for restarts


def test_two_sandboxes_in_one_process_keep_their_buckets_apart(cf, ep, tmp_path):
    from polaris_tui.sandbox import Sandbox

    cf.r2.buckets.create(account_id=ep.account_id, name="polaris-assets")
    s3_client(ep).put_object(Bucket="polaris-assets", Key="mine.png", Body=PNG)
    with Sandbox(tmp_path / "other") as other:
        cf2 = cloudflare.Cloudflare(api_token=other.token, base_url=other.api)
        cf2.r2.buckets.create(account_id=other.account_id, name="polaris-assets")
        s3 = s3_client(other)
        assert s3.list_objects_v2(Bucket="polaris-assets").get("KeyCount") == 0
        s3.put_object(Bucket="polaris-assets", Key="theirs.png", Body=PNG)
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["polaris-assets"]
        listing = s3.list_objects_v2(Bucket="polaris-assets")
        assert listing["Name"] == "polaris-assets"
        assert [o["Key"] for o in listing["Contents"]] == ["theirs.png"]
    mine = s3_client(ep).list_objects_v2(Bucket="polaris-assets")
    assert [o["Key"] for o in mine["Contents"]] == ["mine.png"]
    with pytest.raises(s3_client(ep).exceptions.NoSuchBucket):
        s3_client(ep).list_objects_v2(Bucket="never-created")
