"""Per-sandbox bucket names inside moto.

moto keeps S3 state per process with one global bucket namespace, so two sandboxes in one
process (a test session often has several) would share ``polaris-assets``. Each sandbox
maps its bucket names to ``<namespace>-<name>`` on the way in and back on the way out.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

_BUCKET_XML = re.compile(rb"<(Name|Bucket|BucketName)>([^<]*)</\1>")
_BUCKET_ENTRY = re.compile(rb"<Bucket>.*?</Bucket>", re.S)
_ENTRY_NAME = re.compile(rb"<Name>([^<]*)</Name>")


class BucketNamespace:
    def __init__(self, namespace: str) -> None:
        self.prefix = f"{namespace}-"
        self._logical: dict[str, str] = {}

    def physical(self, name: str) -> str:
        """Deterministic moto bucket name (kept within S3's 63 characters)."""
        real = self.prefix + name
        if len(real) > 63:
            real = self.prefix + hashlib.sha256(name.encode()).hexdigest()[: 63 - len(self.prefix)]
        self._logical[real] = name
        return real

    def logical(self, real: str) -> str | None:
        return self._logical.get(real) or (
            real[len(self.prefix) :] if real.startswith(self.prefix) else None
        )

    def rewrite_request(self, environ: dict[str, Any]) -> tuple[str, str]:
        """Map the bucket segment of a path-style request; returns (bucket, key)."""
        _, _, rest = environ.get("PATH_INFO", "/").partition("/")
        bucket, _, key = rest.partition("/")
        if not bucket:
            return "", ""
        real = self.physical(bucket)
        environ["PATH_INFO"] = f"/{real}" + (f"/{key}" if key or rest.endswith("/") else "")
        for name in ("RAW_URI", "REQUEST_URI"):
            raw = environ.get(name)
            if raw and raw.startswith(f"/{bucket}"):
                environ[name] = f"/{real}" + raw[len(bucket) + 1 :]
        return bucket, key

    def rewrite_body(self, body: bytes, *, listing: bool) -> bytes:
        """Logical names in XML bodies; a bucket listing keeps only this sandbox's buckets."""
        if listing:
            body = _BUCKET_ENTRY.sub(self._keep_own, body)

        def swap(match: re.Match[bytes]) -> bytes:
            name = self.logical(match.group(2).decode())
            if name is None:
                return match.group(0)
            tag = match.group(1)
            return b"<" + tag + b">" + name.encode() + b"</" + tag + b">"

        return _BUCKET_XML.sub(swap, body)

    def _keep_own(self, match: re.Match[bytes]) -> bytes:
        name = _ENTRY_NAME.search(match.group(0))
        if name and self.logical(name.group(1).decode()) is not None:
            return match.group(0)
        return b""

    def rewrite_location(self, value: str) -> str:
        head, sep, rest = value.lstrip("/").partition("/")
        name = self.logical(head)
        return f"/{name}{sep}{rest}" if name is not None and value.startswith("/") else value
