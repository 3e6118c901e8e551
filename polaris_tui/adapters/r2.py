"""R2: buckets and custom domains over the Cloudflare API, objects over R2's S3 API (boto3,
``region_name="auto"``), pointed at Cloudflare or at the sandbox's S3 endpoint."""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from polaris_tui.adapters.cloudflare_api import CloudflareApi, in_thread, translated
from polaris_tui.errors import ApiError, NotFound, PermissionDenied, Unavailable
from polaris_tui.ports import R2CustomDomain


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


@contextmanager
def _s3_errors() -> Iterator[None]:
    """botocore's exceptions as the port errors (the S3 error code kept in the message)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        error = exc.response.get("Error", {})
        message = f"S3 {error.get('Code', 'error')}: {error.get('Message', exc)}"
        if status in (401, 403):
            raise PermissionDenied(message, status=status) from exc
        if status == 404:
            raise NotFound(message, status=status) from exc
        if status >= 500:
            raise Unavailable(message, status=status) from exc
        raise ApiError(message, status=status or None) from exc
    except BotoCoreError as exc:
        raise Unavailable(f"no answer from the R2 S3 API: {type(exc).__name__}: {exc}") from exc


def _etag(value: str | None) -> str:
    return (value or "").strip('"').lower()


def _domain(obj: Any) -> R2CustomDomain:
    status = obj.status
    return R2CustomDomain(obj.domain.lower(), bool(obj.enabled), status.ownership, status.ssl)


@dataclass
class CloudflareR2:
    api: CloudflareApi
    credentials: Callable[[], tuple[str, str]]  # (access key id, secret), read when first used
    s3_endpoint: str | None = None

    _building: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @cached_property
    def s3(self) -> Any:
        """The boto3 S3 client (also what tests use to arrange objects).

        Built under a lock: boto3's default session is not safe to create clients from
        several threads at once, and concurrent reads may ask for the client together.
        """
        with self._building:
            if "s3" in self.__dict__:
                return self.__dict__["s3"]
            key_id, secret = self.credentials()
            return make_r2_client(self.api.account_id, key_id, secret, self.s3_endpoint)

    @property
    def _buckets(self) -> Any:
        return self.api.client.r2.buckets

    @in_thread
    def bucket_exists(self, name: str) -> bool:
        with translated():
            listing = self._buckets.list(account_id=self.api.account_id, name_contains=name)
        return any(b.name == name for b in listing.buckets or [])

    @in_thread
    def create_bucket(self, name: str) -> None:
        with translated():
            self._buckets.create(account_id=self.api.account_id, name=name)

    @in_thread
    def object_etags(self, bucket: str, prefix: str) -> dict[str, str]:
        out: dict[str, str] = {}
        with _s3_errors():
            pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for page in pages:
                for obj in page.get("Contents", []):
                    out[obj["Key"]] = _etag(obj.get("ETag"))
        return out

    @in_thread
    def put_object(
        self, bucket: str, key: str, data: bytes, *, content_type: str, cache_control: str
    ) -> None:
        digest = hashlib.md5(data, usedforsecurity=False).digest()
        with _s3_errors():
            self.s3.put_object(
                Bucket=bucket,
                Key=key,
                Body=data,
                ContentType=content_type,
                CacheControl=cache_control,
                ContentMD5=base64.b64encode(digest).decode("ascii"),
            )

    @in_thread
    def custom_domains(self, bucket: str) -> list[R2CustomDomain]:
        with translated():
            listing = self._buckets.domains.custom.list(bucket, account_id=self.api.account_id)
        return [_domain(d) for d in listing.domains]

    @in_thread
    def custom_domain(self, bucket: str, domain: str) -> R2CustomDomain:
        with translated():
            got = self._buckets.domains.custom.get(
                domain, account_id=self.api.account_id, bucket_name=bucket
            )
        return _domain(got)

    @in_thread
    def attach_custom_domain(self, bucket: str, domain: str) -> None:
        with translated():
            self._buckets.domains.custom.create(
                bucket,
                account_id=self.api.account_id,
                domain=domain,
                zone_id=self.api.zone_id,
                enabled=True,
            )

    @in_thread
    def enable_custom_domain(self, bucket: str, domain: str) -> None:
        with translated():
            self._buckets.domains.custom.update(
                domain, account_id=self.api.account_id, bucket_name=bucket, enabled=True
            )

    @in_thread
    def detach_custom_domain(self, bucket: str, domain: str) -> None:
        with translated():
            self._buckets.domains.custom.delete(
                domain, account_id=self.api.account_id, bucket_name=bucket
            )

    @in_thread
    def delete_objects(self, bucket: str, keys: Sequence[str]) -> None:
        with _s3_errors():
            for key in keys:
                self.s3.delete_object(Bucket=bucket, Key=key)

    @in_thread
    def delete_bucket(self, name: str) -> None:
        with translated():
            self._buckets.delete(name, account_id=self.api.account_id)
