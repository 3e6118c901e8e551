"""HMAC-SHA256 request signing for the relay: the reference the app's signer follows.

Stdlib only, so the TUI and ``send-test`` can import it without pulling in a web stack.
The exact bytes and every field rule are in docs/relay-protocol.md.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import time
from urllib.parse import urlsplit

SCHEME = "POLARIS-HMAC-SHA256-V1"
HEADER_SIG = "X-Polaris-Sig"
HEADER_TS = "X-Polaris-Ts"
HEADER_NONCE = "X-Polaris-Nonce"

METHOD_RE = re.compile(r"[A-Z]{1,16}")
HOST_RE = re.compile(r"[a-z0-9.\-]+(:[0-9]{1,5})?|\[[0-9a-f:.]+\](:[0-9]{1,5})?")
PATH_RE = re.compile(r"/[\x21-\x7e]*")
TS_RE = re.compile(r"0|[1-9][0-9]{0,15}")
NONCE_RE = re.compile(r"[A-Za-z0-9_\-]{16,128}")
SIG_RE = re.compile(r"[0-9a-f]{64}")


class SigningError(ValueError):
    """A field that cannot be signed unambiguously; the message names the field."""


def canonical_host(host: str) -> str:
    """Lowercase host[:port]; ports 80 and 443 are dropped so both ends agree without a scheme."""
    host = host.lower()
    for default in (":80", ":443"):
        if host.endswith(default):
            return host[: -len(default)]
    return host


def canonical_string(method: str, host: str, path: str, ts: str, nonce: str, body: bytes) -> bytes:
    """The exact bytes that are signed; each field is checked so it cannot contain the delimiter."""
    host = canonical_host(host)
    for field, value, pattern in (
        ("method", method, METHOD_RE),
        ("host", host, HOST_RE),
        ("path", path, PATH_RE),
        ("ts", ts, TS_RE),
        ("nonce", nonce, NONCE_RE),
    ):
        if not pattern.fullmatch(value):
            raise SigningError(f"{field} {value!r} is not signable (expected {pattern.pattern})")
    digest = hashlib.sha256(body).hexdigest()
    return "\n".join((SCHEME, method, host, path, ts, nonce, digest)).encode("ascii")


def signature(secret: str, canonical: bytes) -> str:
    """Lowercase hex HMAC-SHA256; the key is the secret's UTF-8 text as stored, not decoded."""
    return hmac.new(secret.encode("utf-8"), canonical, hashlib.sha256).hexdigest()


def verify(secret: str, canonical: bytes, sig: str) -> bool:
    """Constant-time check of ``sig`` against ``secret``."""
    return hmac.compare_digest(signature(secret, canonical), sig)


def new_nonce() -> str:
    """16 random bytes as unpadded base64url (22 characters)."""
    return base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode("ascii")


def sign(
    secret: str,
    method: str,
    url: str,
    body: bytes,
    *,
    ts_ms: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """Return the three X-Polaris-* headers for a request to ``url`` with ``body``."""
    if not secret:
        raise SigningError("secret is empty: set POLARIS_SECRET_A (or B) first")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SigningError(f"url {url!r} must be an absolute http(s) URL")
    if ts_ms is None:
        ts_ms = int(time.time() * 1000)
    ts = str(ts_ms)
    nonce = new_nonce() if nonce is None else nonce
    canonical = canonical_string(method, parts.netloc, parts.path or "/", ts, nonce, body)
    return {HEADER_SIG: signature(secret, canonical), HEADER_TS: ts, HEADER_NONCE: nonce}
