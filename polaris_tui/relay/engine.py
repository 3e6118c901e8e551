"""The local relay: the Worker's contract in Python, answering 2xx only once mail is durable.

Checks run in the order docs/relay-protocol.md lists; the shared vectors in
tests/vectors/relay.json hold this engine and the Worker to the same answers.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import smtplib
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from polaris_tui.relay.bounds import RELAY_BOUNDS, RELAY_SWITCHES
from polaris_tui.relay.group_commit import GroupCommit
from polaris_tui.relay.mime import OutgoingMessage, build_mime, new_message_id
from polaris_tui.relay.signing import (
    HOST_RE,
    NONCE_RE,
    SIG_RE,
    TS_RE,
    SigningError,
    canonical_string,
    verify,
)
from polaris_tui.relay.state import RelayState, mailbox_key

KV_MIN_TTL_SECONDS = 60
MAX_RECIPIENTS = 10
MAX_SUBJECT_CHARS = 900
FIELDS = ("from", "to", "subject", "text", "html", "reply_to", "dry_run")
BINDING_RE = re.compile(r"SEND_([A-Z0-9_]+)")
ADDRESS_RE = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+"
)


@dataclass(frozen=True)
class RelaySettings:
    """What the Worker reads from its bindings, for the local relay."""

    secret_a: str
    secret_b: str | None
    senders: dict[str, str]  # allowed from-address -> send_email binding name
    ts_window_ms: int = RELAY_BOUNDS["ts_window_ms"].default
    nonce_ttl_seconds: int = RELAY_BOUNDS["nonce_ttl_seconds"].default
    rate_limit_max: int = RELAY_BOUNDS["rate_limit_max"].default
    rate_limit_window_seconds: int = RELAY_BOUNDS["rate_limit_window_seconds"].default
    max_body_bytes: int = RELAY_BOUNDS["max_body_bytes"].default
    # The Worker's store for nonces and counters (this relay's SQLite is exact either way).
    relay_strict: bool = RELAY_SWITCHES["relay_strict"]

    def __post_init__(self) -> None:
        """Refuse settings the Worker would refuse: an empty secret would verify anything."""
        if not self.secret_a:
            raise ValueError("secret_a is empty: set POLARIS_SECRET_A")
        for name, bound in RELAY_BOUNDS.items():
            value = getattr(self, name)
            if fix := bound.fix(value):
                raise ValueError(f"{name} = {value!r} is out of bounds: {fix}")
        for address, binding in self.senders.items():
            if not ADDRESS_RE.fullmatch(address):
                raise ValueError(f"senders: {address!r} is not a bare address like a@example.com")
            if not BINDING_RE.fullmatch(binding):
                raise ValueError(
                    f"senders: binding {binding!r} for {address} must be named SEND_<NAME> "
                    "(upper case), e.g. SEND_CUSTOMER"
                )

    def worker_vars(self) -> dict[str, str]:
        """The Worker's plain_text vars: the limits, and SENDER_<X> for each SEND_<X> binding."""
        plain = {
            "TS_WINDOW_MS": str(self.ts_window_ms),
            "NONCE_TTL_SECONDS": str(self.nonce_ttl_seconds),
            "RATE_LIMIT_MAX": str(self.rate_limit_max),
            "RATE_LIMIT_WINDOW_SECONDS": str(self.rate_limit_window_seconds),
            "MAX_BODY_BYTES": str(self.max_body_bytes),
            "RELAY_STRICT": "true" if self.relay_strict else "false",
        }
        for address, binding in self.senders.items():
            plain[binding.replace("SEND_", "SENDER_", 1)] = address
        return plain

    def send_email_bindings(self) -> list[dict[str, object]]:
        """One send_email binding per sender, restricted to that sender (wrangler's shape)."""
        return [
            {"name": binding, "allowed_sender_addresses": [address]}
            for address, binding in self.senders.items()
        ]

    @property
    def effective_nonce_ttl_seconds(self) -> int:
        """A nonce must outlive every timestamp still acceptable with it (the Worker clamps too)."""
        return max(
            self.nonce_ttl_seconds, math.ceil(2 * self.ts_window_ms / 1000), KV_MIN_TTL_SECONDS
        )


@dataclass(frozen=True)
class RelayResponse:
    status: int
    headers: dict[str, str]
    body: bytes


class Delivery(Protocol):
    commit: GroupCommit | None  # its group commit, which the relay state's commits then join

    async def deliver(self, envelope_from: str, recipients: list[str], message: bytes) -> None:
        """Store or hand off ``message``; it must be durable when this returns."""


class SmtpDelivery:
    """Hand the message to an SMTP server (e.g. Mailpit); 250 to DATA means it is theirs now."""

    commit = None  # the SMTP server's 250 is the durability; nothing to share

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port

    def _send(self, envelope_from: str, recipients: list[str], message: bytes) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=30) as smtp:
            smtp.sendmail(envelope_from, recipients, message)

    async def deliver(self, envelope_from: str, recipients: list[str], message: bytes) -> None:
        await asyncio.to_thread(self._send, envelope_from, recipients, message)


def _json(status: int, payload: Mapping[str, Any], **headers: str) -> RelayResponse:
    return RelayResponse(
        status,
        {"content-type": "application/json", **headers},
        json.dumps(payload, separators=(",", ":")).encode(),
    )


UNAUTHORIZED = _json(401, {"error": "unauthorized"})
HOST_PROBLEM = "send exactly one Host header: a name or [IPv6] with an optional :port"


def payload_too_large(max_bytes: int) -> RelayResponse:
    """413, also sent by the server before it has read an oversize body."""
    return _json(413, {"error": "payload_too_large", "max_bytes": max_bytes})


def valid_host(host: str | None) -> bool:
    """One Host header, in the signed host's pattern (``H:PORT:80`` is not a host)."""
    return host is not None and HOST_RE.fullmatch(host.lower()) is not None


def request_timeout() -> RelayResponse:
    """408: the body did not arrive in time; the connection is closed after it."""
    return _json(408, {"error": "request_timeout"}, connection="close")


class BadField(Exception):
    """A payload field problem, answered with 400 naming the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _has_line_break(value: str) -> bool:
    return "\r" in value or "\n" in value


def _is_well_formed(value: str) -> bool:
    """False for a lone surrogate, which JSON escapes allow but UTF-8 cannot carry."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_address(field: str, value: object) -> str:
    if not isinstance(value, str):
        raise BadField(field, f"{field} must be a string e-mail address")
    if _has_line_break(value):
        raise BadField(field, f"{field} must not contain CR or LF")
    if len(value) > 254 or not ADDRESS_RE.fullmatch(value):
        raise BadField(field, f"{field} must be a bare address like name@example.com")
    return value


def parse_payload(payload: object) -> tuple[OutgoingMessage, bool]:
    """Validate a /send body in the documented field order; returns the message and dry_run."""
    if not isinstance(payload, dict):
        raise BadField("body", "the body must be a JSON object")
    for key in payload:
        if key not in FIELDS:
            raise BadField(key, f"unknown field; allowed: {', '.join(FIELDS)}")
    sender = _check_address("from", payload.get("from"))
    to = payload.get("to")
    recipients = [to] if isinstance(to, str) else to
    if not isinstance(recipients, list) or not 1 <= len(recipients) <= MAX_RECIPIENTS:
        raise BadField("to", f"to must be an address or a list of 1 to {MAX_RECIPIENTS} addresses")
    seen: set[str] = set()
    for address in recipients:
        _check_address("to", address)
        if address.lower() in seen:
            raise BadField("to", f"to lists {address} twice")
        seen.add(address.lower())
    subject = payload.get("subject")
    if not isinstance(subject, str) or not subject:
        raise BadField("subject", "subject must be a non-empty string")
    if _has_line_break(subject):
        raise BadField("subject", "subject must not contain CR or LF")
    if len(subject) > MAX_SUBJECT_CHARS:
        raise BadField("subject", f"subject must be at most {MAX_SUBJECT_CHARS} characters")
    for field in ("text", "html"):
        if field in payload and not isinstance(payload[field], str):
            raise BadField(field, f"{field} must be a string")
    for field in ("subject", "text", "html"):
        if not _is_well_formed(payload.get(field, "")):
            raise BadField(
                field, f"{field} contains an unpaired UTF-16 surrogate (\\ud800-\\udfff)"
            )
    if not payload.get("text") and not payload.get("html"):
        raise BadField("text", "give text or html (or both), non-empty")
    reply_to = payload.get("reply_to")
    if "reply_to" in payload:
        _check_address("reply_to", reply_to)
    dry_run = payload.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise BadField("dry_run", "dry_run must be true or false")
    message = OutgoingMessage(
        sender=sender,
        recipients=tuple(recipients),
        subject=subject,
        text=payload.get("text") or None,
        html=payload.get("html") or None,
        reply_to=reply_to,
    )
    return message, dry_run


class RelayEngine:
    """Request handling plus the nonce and rate-limit state the Worker keeps in KV."""

    def __init__(
        self,
        settings: RelaySettings,
        delivery: Delivery,
        *,
        clock: Callable[[], float] = time.time,
        state: RelayState | None = None,
    ) -> None:
        """``state`` None keeps nonces and counters in memory (lost on restart)."""
        self.settings = settings
        self.delivery = delivery
        self.clock = clock
        self.state = state or RelayState()
        self._state_commit = delivery.commit or GroupCommit()
        self._state_commit.add(self.state.cut)

    def update(self, settings: RelaySettings) -> None:
        """Swap secrets/limits (rotation) while keeping the replay and rate state."""
        self.settings = settings

    def _rate_limit(self, recipients: tuple[str, ...], now_ms: int) -> int:
        """Seconds to wait when any mailbox is at the limit, else count the send and return 0."""
        window_ms = self.settings.rate_limit_window_seconds * 1000
        window = now_ms // window_ms
        mailboxes = [mailbox_key(r) for r in recipients]
        if self.state.count_sends(mailboxes, window, self.settings.rate_limit_max):
            return 0
        return max(1, math.ceil(((window + 1) * window_ms - now_ms) / 1000))

    def _authenticate(
        self, host: str, path: str, headers: Mapping[str, str], body: bytes, now_ms: int
    ) -> str | None:
        """The key slot ("A", then "B") whose signature checks out and whose nonce is fresh.

        None for every failure alike, so a caller learns nothing about which check failed.
        """
        lowered = {k.lower(): v for k, v in headers.items()}
        sig = lowered.get("x-polaris-sig", "")
        ts = lowered.get("x-polaris-ts", "")
        nonce = lowered.get("x-polaris-nonce", "")
        if not (SIG_RE.fullmatch(sig) and TS_RE.fullmatch(ts) and NONCE_RE.fullmatch(nonce)):
            return None
        if abs(now_ms - int(ts)) > self.settings.ts_window_ms:
            return None
        try:
            canonical = canonical_string("POST", host, path, ts, nonce, body)
        except SigningError:
            return None
        if verify(self.settings.secret_a, canonical, sig):
            slot = "A"
        elif self.settings.secret_b and verify(self.settings.secret_b, canonical, sig):
            slot = "B"
        else:
            return None
        ttl = self.settings.effective_nonce_ttl_seconds
        return slot if self.state.claim_nonce(nonce, now_ms / 1000, ttl) else None

    async def handle(
        self, method: str, path: str, host: str | None, headers: Mapping[str, str], body: bytes
    ) -> RelayResponse:
        """Answer one request; ``body`` is the raw bytes, already capped by the server.

        ``host`` is the Host header as sent (None when absent or repeated); a repeated header
        reaches ``headers`` joined with ", " (as a Worker sees it), so it never verifies.
        Once the nonce is claimed, no answer leaves before that claim (and the counters) are
        durable: one state commit per batch of requests in flight, as for the spool.
        """
        settings = self.settings
        if not valid_host(host):
            return _bad_request("host", HOST_PROBLEM)
        if method != "POST":
            return _json(405, {"error": "method_not_allowed"}, allow="POST")
        if path != "/send":
            return _json(404, {"error": "not_found"})
        if len(body) > settings.max_body_bytes:
            return payload_too_large(settings.max_body_bytes)
        now_s = self.clock()
        now_ms = int(now_s * 1000)
        key_slot = self._authenticate(host, path, headers, body, now_ms)
        if key_slot is None:
            return UNAUTHORIZED
        response = await self._claimed(key_slot, body, now_s, now_ms)
        if response.status not in (202, 502):  # a delivery waited for the state beside it
            await self._state_commit.durable()
        return response

    async def _claimed(
        self, key_slot: str, body: bytes, now_s: float, now_ms: int
    ) -> RelayResponse:
        """The checks after the claim, then the delivery and the state made durable together."""
        settings = self.settings
        try:
            payload = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError, RecursionError):
            return _bad_request("body", "the body must be UTF-8 JSON")
        try:
            message, dry_run = parse_payload(payload)
        except BadField as problem:
            return _bad_request(problem.field, problem.message)
        allowed = {address.lower(): address for address in settings.senders}
        sender = allowed.get(message.sender.lower())
        if sender is None:
            return _json(
                403,
                {
                    "error": "sender_not_allowed",
                    "field": "from",
                    "message": f"from must be one of: {', '.join(settings.senders)}",
                },
            )
        if dry_run:
            return _json(200, {"ok": True, "dry_run": True, "key": key_slot})
        self.state.record_accepted(key_slot, now_ms)
        retry_after = self._rate_limit(message.recipients, now_ms)
        if retry_after:
            return _json(
                429,
                {"error": "rate_limited", "field": "to", "retry_after": retry_after},
                **{"retry-after": str(retry_after)},
            )
        message_id = new_message_id(sender)
        message = replace(message, sender=sender)
        raw = build_mime(message, message_id, now_s, f"polaris-{uuid.uuid4().hex}")
        delivered, state = await asyncio.gather(
            self.delivery.deliver(sender, list(message.recipients), raw),
            self._state_commit.durable(),
            return_exceptions=True,
        )
        for outcome in (delivered, state):  # one shared round: both may carry its OSError
            if isinstance(outcome, OSError):
                return _json(
                    502, {"error": "send_failed", "id": message_id, "message": str(outcome)}
                )
            if isinstance(outcome, BaseException):
                raise outcome
        return _json(202, {"ok": True, "id": message_id, "key": key_slot})


def _reject_constant(name: str) -> None:
    """NaN and Infinity are not JSON (JSON.parse in the Worker refuses them too)."""
    raise ValueError(name)


def _bad_request(field: str, message: str) -> RelayResponse:
    return _json(400, {"error": "bad_request", "field": field, "message": message})
