"""A deployed Worker's code as Cloudflare serves it back.

``GET /accounts/{a}/workers/scripts/{name}`` answers a module Worker as
``multipart/form-data`` (one part per uploaded module, named by its file name) and a
service-worker script as its raw body. Hashing the whole response would compare the MIME
framing, so the deploy step reads the one module it shipped from here.
"""

from __future__ import annotations

from email import policy
from email.message import Message
from email.parser import BytesParser


def _part_name(part: Message) -> str | None:
    return part.get_param("filename", header="content-disposition") or part.get_param(
        "name", header="content-disposition"
    )  # type: ignore[return-value]


def module_source(body: bytes, content_type: str, module: str) -> bytes:
    """The bytes of ``module`` from a download; a raw (non-multipart) body is the code.

    A multipart body without a part of that name yields its first part (a dashboard-made
    Worker names its module ``worker.js``), so a foreign script still compares as different.
    """
    if not content_type.lower().startswith("multipart/"):
        return body
    head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    parts = list(message.iter_parts()) if message.is_multipart() else []
    chosen = next((p for p in parts if _part_name(p) == module), parts[0] if parts else None)
    if chosen is None:
        return b""
    payload = chosen.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""
