"""Turn tests/vectors/relay.json steps into concrete signed requests (Python runner side).

The Node runner (polaris_tui/relay/worker/test/) reads the same file with the same rules.
"""

from __future__ import annotations

import email
import email.policy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from polaris_tui.relay import sign
from polaris_tui.relay.engine import RelaySettings

VECTORS = json.loads(
    (Path(__file__).parents[1] / "vectors" / "relay.json").read_text(encoding="utf-8")
)
RELAY = VECTORS["relay"]
NOW_MS: int = RELAY["now_ms"]


def case_settings(case: dict[str, Any]) -> RelaySettings:
    return RelaySettings(**{**RELAY["settings"], **case.get("settings", {})})


def _body(spec: dict[str, Any]) -> bytes:
    if "payload" in spec:
        return json.dumps(spec["payload"], separators=(",", ":"), ensure_ascii=False).encode()
    return spec.get("body_text", "").encode()


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes
    nonce: str | None


def build_request(
    step: dict[str, Any], settings: RelaySettings, now_ms: int, nonces: list[str | None]
) -> Request:
    """The request a vector step describes; ``nonces`` holds earlier steps' nonces."""
    spec = step["request"]
    base = urlsplit(RELAY["url"])
    path = spec.get("path", base.path)
    body = _body(spec)
    method = spec.get("method", "POST")
    sign_spec = spec.get("sign", {})
    if sign_spec is None:
        return Request(method, f"{base.scheme}://{base.netloc}{path}", [], body, None)
    secret = (
        sign_spec.get("secret")
        or {"A": settings.secret_a, "B": RELAY["settings"]["secret_b"]}[sign_spec.get("key", "A")]
    )
    signed_url = (
        f"{base.scheme}://{sign_spec.get('host', base.netloc)}{sign_spec.get('path', path)}"
    )
    signed_body = _body(sign_spec) if "payload" in sign_spec else body
    nonce = nonces[sign_spec["nonce_from_step"]] if "nonce_from_step" in sign_spec else None
    headers = sign(
        secret,
        sign_spec.get("method", method),
        signed_url,
        signed_body,
        ts_ms=now_ms + sign_spec.get("ts_offset_ms", 0),
        nonce=nonce,
    )
    nonce = headers["X-Polaris-Nonce"]
    if sign_spec.get("uppercase_sig"):
        headers["X-Polaris-Sig"] = headers["X-Polaris-Sig"].upper()
    for name in sign_spec.get("omit", []):
        del headers[name]
    sent = list(headers.items())
    sent += [(name, headers[name]) for name in sign_spec.get("duplicate", [])]
    return Request(method, f"{base.scheme}://{base.netloc}{path}", sent, body, nonce)


def check_response(
    case: str, index: int, expect: dict[str, Any], status: int, headers: dict[str, str], body: bytes
) -> None:
    where = f"{case} step {index}"
    assert status == expect["status"], f"{where}: {status} {body!r}"
    parsed = json.loads(body)
    if "body" in expect:
        assert parsed == expect["body"], where
    for key, value in expect.get("body_subset", {}).items():
        assert parsed.get(key) == value, f"{where}: {key} in {parsed}"
    if status == 202:
        assert isinstance(parsed.get("id"), str) and "@" in parsed["id"], where
    lowered = {k.lower(): v for k, v in headers.items()}
    for name, value in expect.get("headers", {}).items():
        assert name in lowered, f"{where}: header {name} missing"
        if value is not True:
            assert lowered[name] == value, where


def check_message(where: str, expect: dict[str, Any], raw: bytes) -> None:
    """The stored message has the vector's headers and parts (same checks as the Node runner)."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Message-ID"], where
    assert msg["Date"], where
    assert msg["MIME-Version"] == "1.0", where
    if "from" in expect:
        assert msg["From"] == expect["from"], where
    if "to" in expect:
        assert [a.strip() for a in str(msg["To"]).split(",")] == expect["to"], where
    if "reply_to" in expect:
        assert msg["Reply-To"] == expect["reply_to"], where
    if "subject_header" in expect:
        assert f"\r\nSubject: {expect['subject_header']}\r\n".encode() in raw, where
    for kind in ("text", "html"):
        if kind in expect:
            part = msg.get_body(preferencelist=(("plain",) if kind == "text" else ("html",)))
            assert part is not None and part.get_content() == expect[kind], where
