"""S3 checks credentials and integrity as R2 does: SigV4 (header and presigned query)
against the sandbox's R2 keys, anonymous requests refused, Content-MD5 verified, and
object metadata kept across a restart. boto3, httpx and curl are the outside clients."""

from __future__ import annotations

import base64
import hashlib
import subprocess

import boto3
import botocore.exceptions
import httpx
import pytest
from botocore.config import Config

from polaris_tui.sandbox import Sandbox

BUCKET = "polaris-assets"
KEY = "email/polaris logo.png"


def client(ep, key_id: str | None = None, secret: str | None = None):
    return boto3.client(
        "s3",
        endpoint_url=ep.s3,
        region_name="auto",
        aws_access_key_id=key_id or ep.s3_access_key_id,
        aws_secret_access_key=secret or ep.s3_secret_access_key,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


@pytest.fixture
def stored(cf, ep):
    cf.r2.buckets.create(account_id=ep.account_id, name=BUCKET)
    client(ep).put_object(Bucket=BUCKET, Key=KEY, Body=b"png", ContentType="image/png")
    return ep


def _error(call) -> tuple[str, int]:
    with pytest.raises(botocore.exceptions.ClientError) as err:
        call()
    return err.value.response["Error"]["Code"], err.value.response["ResponseMetadata"][
        "HTTPStatusCode"
    ]


def test_wrong_secret_and_unknown_key_are_403(stored):
    ep = stored
    wrong_secret = client(ep, secret="0" * 64)
    assert _error(lambda: wrong_secret.get_object(Bucket=BUCKET, Key=KEY)) == (
        "SignatureDoesNotMatch",
        403,
    )
    unknown = client(ep, key_id="f" * 32)
    assert _error(lambda: unknown.put_object(Bucket=BUCKET, Key="x", Body=b"x")) == (
        "InvalidAccessKeyId",
        403,
    )
    assert client(ep).get_object(Bucket=BUCKET, Key=KEY)["Body"].read() == b"png"


def test_presigned_urls_are_verified_and_anonymous_requests_refused(stored):
    ep = stored
    url = client(ep).generate_presigned_url(
        "get_object", Params={"Bucket": BUCKET, "Key": KEY}, ExpiresIn=300
    )
    assert httpx.get(url).content == b"png"
    forged = client(ep, secret="1" * 64).generate_presigned_url(
        "get_object", Params={"Bucket": BUCKET, "Key": KEY}, ExpiresIn=300
    )
    denied = httpx.get(forged)
    assert denied.status_code == 403 and b"<Code>SignatureDoesNotMatch</Code>" in denied.content
    anonymous = subprocess.run(
        ["curl", "-s", "-w", "\\n%{http_code}", f"{ep.s3}/{BUCKET}/email/polaris%20logo.png"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert anonymous.endswith("\n403") and "<Code>AccessDenied</Code>" in anonymous


def test_wrong_content_md5_is_400_bad_digest(stored):
    ep = stored
    s3 = client(ep)
    wrong = base64.b64encode(hashlib.md5(b"something else").digest()).decode()
    assert _error(
        lambda: s3.put_object(Bucket=BUCKET, Key="k", Body=b"data", ContentMD5=wrong)
    ) == ("BadDigest", 400)
    right = base64.b64encode(hashlib.md5(b"data").digest()).decode()
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"data", ContentMD5=right)
    assert s3.get_object(Bucket=BUCKET, Key="k")["Body"].read() == b"data"


def test_object_metadata_survives_a_restart(tmp_path):
    import cloudflare

    with Sandbox(tmp_path / "sbx") as ep:
        cloudflare.Cloudflare(api_token=ep.token, base_url=ep.api).r2.buckets.create(
            account_id=ep.account_id, name=BUCKET
        )
        client(ep).put_object(
            Bucket=BUCKET,
            Key=KEY,
            Body=b"png",
            ContentType="image/png",
            CacheControl="public, max-age=86400",
            Metadata={"origin": "polaris"},
        )
    with Sandbox(tmp_path / "sbx") as ep:
        head = client(ep).head_object(Bucket=BUCKET, Key=KEY)
    assert head["ContentType"] == "image/png"
    assert head["CacheControl"] == "public, max-age=86400"
    assert head["Metadata"] == {"origin": "polaris"}


def test_injected_latency_delays_the_clients_requests_only(tmp_path):
    """The latency knob models the client's network: each boto3 request is delayed once,
    and the sandbox's own requests (the R2 API's bucket create, the mirror's read after a
    PUT, a restart's restore) not at all. Counted where the delay is decided, over HTTP."""
    import cloudflare

    from polaris_tui.sandbox.s3 import S3Server

    delayed: list[str] = []

    def latency() -> int:
        delayed.append("delayed")
        return 0

    box = Sandbox(tmp_path / "sbx")
    with box as ep:
        s3_server = box._running().s3
        s3_server.latency_ms = latency
        cloudflare.Cloudflare(api_token=ep.token, base_url=ep.api).r2.buckets.create(
            account_id=ep.account_id, name=BUCKET
        )
        assert delayed == []
        for key in (KEY, KEY + "2"):
            client(ep).put_object(Bucket=BUCKET, Key=key, Body=b"png", ContentType="image/png")
        assert len(delayed) == 2  # once per client request, not twice per PUT
        account_id = ep.account_id
    delayed.clear()
    again = S3Server(tmp_path / "sbx", latency, namespace=account_id[:10])  # as the runtime
    again.start()
    try:
        again.restore([BUCKET])
        assert delayed == []
        assert sorted(again.object_keys(BUCKET)) == [KEY, KEY + "2"]
    finally:
        again.stop()
