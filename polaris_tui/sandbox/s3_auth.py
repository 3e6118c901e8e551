"""SigV4 verification of S3 requests against the sandbox's R2 access keys, as R2 does.

moto accepts any signature, so a wrong key pair would upload happily. Here a request is
checked before moto sees it: the ``Authorization`` header or the presigned query
(``X-Amz-Signature``) is recomputed from the request itself with the secret of the
access key it names. Anonymous requests are refused (R2 buckets are private; public reads
go through a custom domain). Errors use S3's codes: ``InvalidAccessKeyId``,
``SignatureDoesNotMatch`` and ``AccessDenied`` (403), ``BadDigest`` (400).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED = "UNSIGNED-PAYLOAD"
_PARTS = re.compile(r"(Credential|SignedHeaders|Signature)=([^,\s]+)")


@dataclass
class S3Error(Exception):
    status: int
    code: str
    message: str

    def xml(self) -> bytes:
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{self.code}</Code><Message>{self.message}</Message></Error>"
        ).encode()


def request_headers(environ: dict[str, Any]) -> dict[str, str]:
    """The request's headers with lower-case names, from a WSGI environ."""
    headers = {
        key[5:].replace("_", "-").lower(): str(value)
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = str(environ[key])
    return headers


def _quote(text: str) -> str:
    return urllib.parse.quote(text, safe="-_.~")


def _canonical_query(pairs: list[tuple[str, str]]) -> str:
    encoded = sorted((_quote(k), _quote(v)) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in encoded)


def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def verify(
    method: str,
    raw_path: str,
    query: str,
    headers: dict[str, str],
    keys: dict[str, str],
    now: datetime | None = None,
) -> None:
    """Raise ``S3Error`` unless the request is signed with one of ``keys`` (id -> secret)."""
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    params = dict(pairs)
    auth = headers.get("authorization", "")
    if auth.startswith(ALGORITHM + " "):
        fields = dict(_PARTS.findall(auth))
        credential, signed, given = (
            fields.get(k, "") for k in ("Credential", "SignedHeaders", "Signature")
        )
        amz_date = headers.get("x-amz-date", "")
        payload = headers.get("x-amz-content-sha256", UNSIGNED)
        signed_pairs = pairs
    elif params.get("X-Amz-Algorithm") == ALGORITHM:
        credential = params.get("X-Amz-Credential", "")
        signed = params.get("X-Amz-SignedHeaders", "")
        given = params.get("X-Amz-Signature", "")
        amz_date = params.get("X-Amz-Date", "")
        payload = UNSIGNED
        signed_pairs = [(k, v) for k, v in pairs if k != "X-Amz-Signature"]
        _check_expiry(amz_date, params.get("X-Amz-Expires", ""), now)
    elif auth:
        raise S3Error(400, "InvalidArgument", "Only AWS4-HMAC-SHA256 signatures are supported.")
    else:
        raise S3Error(403, "AccessDenied", "Access Denied: the request is not signed.")
    key_id, _, scope = credential.partition("/")
    secret = keys.get(key_id)
    if secret is None:
        raise S3Error(
            403,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        )
    date, region, service, *_ = [*scope.split("/"), "", "", ""]
    names = [n for n in signed.lower().split(";") if n]
    canonical = "\n".join(
        [
            method,
            raw_path or "/",
            _canonical_query(signed_pairs),
            "".join(f"{n}:{' '.join(headers.get(n, '').split())}\n" for n in names),
            ";".join(names),
            payload,
        ]
    )
    to_sign = "\n".join(
        [ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = _signing_key(secret, date, region, service)
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if "host" not in names or not hmac.compare_digest(expected, given):
        raise S3Error(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your secret access key and signing method.",
        )


def _check_expiry(amz_date: str, expires: str, now: datetime | None) -> None:
    try:
        start = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        lifetime = timedelta(seconds=int(expires))
    except ValueError:
        raise S3Error(403, "AccessDenied", "X-Amz-Date and X-Amz-Expires are required.") from None
    if (now or datetime.now(UTC)) > start + lifetime:
        raise S3Error(403, "AccessDenied", "Request has expired.")


def check_digest(headers: dict[str, str], body: bytes) -> None:
    """A ``Content-MD5`` that is not the body's MD5 is refused with 400 BadDigest."""
    given = headers.get("content-md5")
    if given is None:
        return
    actual = base64.b64encode(hashlib.md5(body).digest()).decode()
    if given.strip() != actual:
        raise S3Error(
            400, "BadDigest", "The Content-MD5 you specified did not match what we received."
        )
