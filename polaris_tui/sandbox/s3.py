"""S3 endpoint for the R2 buckets: moto's S3 in server mode behind a small WSGI wrapper
(latency injection, SigV4 checked against the R2 keys, S3 as the only service, objects and
their metadata kept across restarts)."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from polaris_tui.fsutil import atomic_write
from polaris_tui.sandbox.s3_auth import S3Error, check_digest, request_headers, verify
from polaris_tui.sandbox.s3_namespace import BucketNamespace
from polaris_tui.sandbox.state import S3_KEY_ID_NAME, S3_SECRET_NAME, SERVICE

S3_HOST = "s3.amazonaws.com"
# The sandbox's own requests (restore, mirror, the edge's reads) skip the SigV4 check with
# this header; its signature is random per process, so no outside client can present it.
INTERNAL_AUTH = (
    "AWS4-HMAC-SHA256 Credential=sandbox/20250101/us-east-1/s3/aws4_request, "
    f"SignedHeaders=host, Signature={secrets.token_hex(32)}"
)


def _internal(environ: dict[str, Any]) -> bool:
    """The sandbox's own request (restore, the mirror's read after a PUT, the R2 API's bucket
    calls, the edge's reads): the injected latency models the client's network, so these
    skip it; delaying them delayed a client's PUT twice and every start once per object."""
    return environ.get("HTTP_AUTHORIZATION") == INTERNAL_AUTH


KEPT_HEADERS = (
    "Content-Type",
    "Cache-Control",
    "Content-Disposition",
    "Content-Encoding",
    "Content-Language",
    "Expires",
)


class S3Server:
    """moto S3 on a free loopback port; objects are mirrored to ``<dir>/s3`` so a restart
    (even after SIGKILL) serves what was uploaded before."""

    def __init__(self, directory: Path, latency_ms: Callable[[], int], namespace: str) -> None:
        self.names = BucketNamespace(namespace)
        self.directory = directory
        self.mirror = directory / "s3"
        self.keys: dict[str, str] = {}
        self.latency_ms = latency_ms
        self.port = 0
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> int:
        from moto.moto_server.threaded_moto_server import MotoRequestHandler
        from moto.server import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server

        moto_app = DomainDispatcherApplication(create_backend_app)
        self.keys = self._load_keys()

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            delay = 0 if _internal(environ) else self.latency_ms()
            if delay > 0:
                time.sleep(delay / 1000)
            try:
                self._authorise(environ)
            except S3Error as err:
                body = b"" if environ.get("REQUEST_METHOD") == "HEAD" else err.xml()
                status = f"{err.status} {'Bad Request' if err.status == 400 else 'Forbidden'}"
                start_response(
                    status,
                    [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))],
                )
                return [body]
            environ["HTTP_HOST"] = S3_HOST  # route every request to moto's S3, path-style
            method = environ.get("REQUEST_METHOD", "GET")
            query = environ.get("QUERY_STRING", "")
            bucket, key = self.names.rewrite_request(environ)
            captured: list[Any] = []

            def capture(status: str, headers: Any, exc_info: Any = None) -> Any:
                captured[:] = [status, headers, exc_info]
                return lambda data: None  # moto returns its body; no write() callers

            result = moto_app(environ, capture)
            status, headers, exc_info = captured
            object_read = bool(key) and method in ("GET", "HEAD") and status[:1] == "2"
            if object_read:
                start_response(status, headers, exc_info)
                return result
            try:
                body = b"".join(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
            body = self.names.rewrite_body(body, listing=not bucket and method == "GET")
            fixed = []
            for name, value in headers:
                if name.lower() == "content-length":
                    value = str(len(body))
                elif name.lower() == "location":
                    value = self.names.rewrite_location(value)
                fixed.append((name, value))
            start_response(status, fixed, exc_info)
            if status[:3] in ("200", "204") and key and not query:
                self._mirror(method, bucket, key)
            return [body]

        class QuietHandler(MotoRequestHandler):
            """No access log lines on stderr; errors still go to werkzeug's logger."""

            def log_request(self, *args: Any, **kwargs: Any) -> None:
                return None

        self._server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="sandbox-s3",
            daemon=True,
        )
        self._thread.start()
        return self.port

    def _load_keys(self) -> dict[str, str]:
        from polaris_tui.sandbox.keyring_backend import SandboxKeyring

        keyring = SandboxKeyring.in_folder(self.directory)
        key_id = keyring.get_password(SERVICE, S3_KEY_ID_NAME)
        secret = keyring.get_password(SERVICE, S3_SECRET_NAME)
        return {key_id: secret} if key_id and secret else {}

    def _authorise(self, environ: dict[str, Any]) -> None:
        """SigV4 and Content-MD5 as R2 checks them (the body is buffered for the digest)."""
        headers = request_headers(environ)
        if headers.get("authorization") == INTERNAL_AUTH:
            return
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "/")
        verify(
            environ.get("REQUEST_METHOD", "GET"),
            raw.split("?", 1)[0],
            environ.get("QUERY_STRING", ""),
            headers,
            self.keys,
        )
        if "content-md5" in headers and "aws-chunked" not in headers.get("content-encoding", ""):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            check_digest(headers, body)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    # -- bucket management used by the R2 API ------------------------------------------
    def _request(
        self,
        method: str,
        path: str,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        own = {"Authorization": INTERNAL_AUTH}
        req = urllib.request.Request(
            self.url + path, data=data, method=method, headers={**own, **(headers or {})}
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def create_bucket(self, name: str) -> None:
        status, body = self._request("PUT", f"/{name}")
        if status >= 300 and b"BucketAlreadyOwnedByYou" not in body:
            raise RuntimeError(f"S3 bucket {name} could not be created ({status})")

    def delete_bucket(self, name: str) -> None:
        """Empty and delete one bucket (and its mirror)."""
        for key in self._keys(name):
            self._request("DELETE", f"/{name}/{urllib.parse.quote(key)}")
        self._request("DELETE", f"/{name}")
        bucket_dir = self.mirror / name
        if bucket_dir.exists():
            for item in bucket_dir.iterdir():
                item.unlink()
            bucket_dir.rmdir()

    def object_keys(self, bucket: str) -> list[str]:
        """The keys of a bucket's objects (first page: enough to tell an empty bucket)."""
        return self._keys(bucket)

    def _keys(self, bucket: str) -> list[str]:
        import xml.etree.ElementTree as ET

        status, body = self._request("GET", f"/{bucket}?list-type=2")
        if status != 200:
            return []
        root = ET.fromstring(body)
        return [el.text or "" for el in root.iter() if el.tag.endswith("}Key")]

    def restore(self, buckets: list[str]) -> None:
        """Recreate the buckets of the saved state and re-upload mirrored objects.

        The sandbox's own start, not a client's request: no injected latency (``_internal``)."""
        for name in buckets:
            self.create_bucket(name)
            bucket_dir = self.mirror / name
            if not bucket_dir.is_dir():
                continue
            for meta_path in bucket_dir.glob("*.json"):
                meta = json.loads(meta_path.read_text(encoding="utf-8"))
                data = base64.b64decode(meta["b64"])
                kept = meta.get("headers") or {"Content-Type": meta["content_type"]}
                key = urllib.parse.quote(meta["key"])
                self._request("PUT", f"/{name}/{key}", data, kept)

    # -- mirror ------------------------------------------------------------------------
    def _mirror(self, method: str, bucket: str, raw_key: str) -> None:
        """Copy a stored/deleted object to ``<dir>/s3`` (logical bucket name)."""
        if method not in ("PUT", "DELETE"):
            return
        key = urllib.parse.unquote(raw_key)
        target = self.mirror / bucket / (base64.urlsafe_b64encode(key.encode()).decode() + ".json")
        if method == "DELETE":
            with contextlib.suppress(FileNotFoundError):
                target.unlink()
            return
        req = urllib.request.Request(
            f"{self.url}/{bucket}/{urllib.parse.quote(key)}",
            headers={"Authorization": INTERNAL_AUTH},
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                data = resp.read()
                content_type = resp.headers.get("Content-Type", "binary/octet-stream")
                kept = {
                    name: value
                    for name, value in resp.headers.items()
                    if name.title() in KEPT_HEADERS or name.lower().startswith("x-amz-meta-")
                }
        except urllib.error.HTTPError:
            return
        meta = {
            "key": key,
            "content_type": content_type,
            "headers": kept,
            "b64": base64.b64encode(data).decode(),
        }
        atomic_write(target, json.dumps(meta).encode(), 0o600)
