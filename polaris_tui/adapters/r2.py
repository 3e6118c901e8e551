"""boto3 S3 client for R2 (``region_name="auto"``), or for the sandbox's S3 endpoint."""

from __future__ import annotations

from typing import Any


def make_r2_client(
    account_id: str, access_key_id: str, secret_access_key: str, endpoint: str | None = None
) -> Any:
    import boto3
    from botocore.config import Config as BotoConfig

    return boto3.client(
        "s3",
        endpoint_url=endpoint or f"https://{account_id}.r2.cloudflarestorage.com",
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        region_name="auto",
        config=BotoConfig(
            retries={"max_attempts": 3, "mode": "standard"}, s3={"addressing_style": "path"}
        ),
    )
