"""The Python relay over real HTTP on 127.0.0.1: client, rotation, delivery and fuzzing."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from relay_support import (
    MAIL_URL,
    SECRET_A,
    SECRET_B,
    SETTINGS,
    exported,
    payload,
    serve_app,
)

from polaris_tui.relay import sign
from polaris_tui.relay.client import send_signed
from polaris_tui.relay.engine import FIELDS, RelayEngine, SmtpDelivery
from polaris_tui.relay.outbox import OutboxDelivery
from polaris_tui.relay.server import create_app


def test_send_signed_lands_in_the_spool_before_202_then_in_the_outbox(tmp_path: Path) -> None:
    engine = RelayEngine(SETTINGS, OutboxDelivery(tmp_path))
    with serve_app(create_app(engine)) as base:
        result = send_signed(MAIL_URL, SECRET_A, payload(), connect_to=base)
        spooled = (tmp_path / ".spool" / "messages.spool").read_bytes()
        assert f"\r\nMessage-ID: <{result.message_id}>\r\n".encode() in spooled
        [eml] = exported(tmp_path, 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".spool", eml.name]  # no temp left
    assert (result.status, result.key_slot) == (202, "A")
    assert result.body == {"ok": True, "id": result.message_id, "key": "A"}
    raw = eml.read_bytes()
    assert f"\r\nMessage-ID: <{result.message_id}>\r\n".encode() in raw
    assert raw.startswith(b"From: hello@polaris.test\r\nTo: ada@example.com\r\n")
    assert eml.suffix == ".eml"
    assert stat.S_IMODE(eml.stat().st_mode) == 0o600


def test_send_signed_to_the_relay_url_directly(tmp_path: Path) -> None:
    engine = RelayEngine(SETTINGS, OutboxDelivery(tmp_path))
    with serve_app(create_app(engine)) as base:
        result = send_signed(f"{base}/send", SECRET_B, payload(dry_run=True))
    assert (result.status, result.key_slot, result.message_id) == (200, "B", None)
    assert list(tmp_path.glob("*.eml")) == []
    assert (tmp_path / ".spool" / "messages.spool").read_bytes() == b""


def test_rotation_graceful_then_emergency(tmp_path: Path) -> None:
    """A and B both sign; clearing B (engine.update) leaves only A, and keeps replay state."""
    engine = RelayEngine(SETTINGS, OutboxDelivery(tmp_path))
    with serve_app(create_app(engine)) as base, httpx.Client(base_url=base) as client:
        body = json.dumps(payload()).encode()
        replayable = sign(SECRET_A, "POST", MAIL_URL, body)
        headers = {**replayable, "host": "mail.polaris.test"}
        assert client.post("/send", content=body, headers=headers).status_code == 202
        assert send_signed(MAIL_URL, SECRET_B, payload(), connect_to=base).key_slot == "B"

        engine.update(replace(SETTINGS, secret_b=None))
        assert send_signed(MAIL_URL, SECRET_B, payload(), connect_to=base).status == 401
        assert send_signed(MAIL_URL, SECRET_A, payload(), connect_to=base).key_slot == "A"
        assert client.post("/send", content=body, headers=headers).status_code == 401

        engine.update(replace(SETTINGS, secret_a=SECRET_B, secret_b=None))  # promote B
        assert send_signed(MAIL_URL, SECRET_A, payload(), connect_to=base).status == 401
        assert send_signed(MAIL_URL, SECRET_B, payload(), connect_to=base).key_slot == "A"
        assert len(exported(tmp_path, 4)) == 4


def test_failed_delivery_is_502_not_202(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_fdatasync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    engine = RelayEngine(SETTINGS, OutboxDelivery(tmp_path))
    monkeypatch.setattr(os, "fdatasync", failing_fdatasync)
    with serve_app(create_app(engine)) as base:
        result = send_signed(MAIL_URL, SECRET_A, payload(), connect_to=base)
    assert result.status == 502
    assert isinstance(result.body, dict) and result.body["error"] == "send_failed"


def test_smtp_delivery_reaches_the_inbox(smtp_inbox) -> None:
    engine = RelayEngine(SETTINGS, SmtpDelivery(smtp_inbox.host, smtp_inbox.port))
    to = ["ada@example.com", "bob@example.com"]
    with serve_app(create_app(engine)) as base:
        result = send_signed(MAIL_URL, SECRET_A, payload(to, html="<p>Hi</p>"), connect_to=base)
    assert result.status == 202
    [(mail_from, rcpt_tos, data)] = smtp_inbox.messages
    assert (mail_from, rcpt_tos) == ("hello@polaris.test", to)
    assert f"Message-ID: <{result.message_id}>".encode() in data
    assert b"multipart/alternative" in data


def test_smtp_server_down_is_502(smtp_inbox) -> None:
    engine = RelayEngine(SETTINGS, SmtpDelivery("127.0.0.1", 1))
    with serve_app(create_app(engine)) as base:
        assert send_signed(MAIL_URL, SECRET_A, payload(), connect_to=base).status == 502


def test_oversize_body_is_refused_while_streaming(tmp_path: Path) -> None:
    engine = RelayEngine(replace(SETTINGS, max_body_bytes=1024), OutboxDelivery(tmp_path))

    def chunks():
        for _ in range(64):
            yield b"x" * 1024

    with serve_app(create_app(engine)) as base:
        response = httpx.post(f"{base}/send", content=chunks())  # chunked: no Content-Length
    assert response.status_code == 413
    assert response.json() == {"error": "payload_too_large", "max_bytes": 1024}


def any_text(min_size: int = 0, max_size: int = 40) -> st.SearchStrategy[str]:
    """Any code points, lone surrogates included (st.text drops them; JSON carries them)."""
    chars = st.characters(exclude_categories=()) | st.sampled_from(["\ud800", "\udbff", "\udc00"])
    return st.lists(chars, min_size=min_size, max_size=max_size).map("".join)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | any_text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
payloads = st.dictionaries(
    st.sampled_from([*FIELDS, "cc", ""]),
    json_values | st.sampled_from(["hello@polaris.test", "x@example.com", "a\r\nb"]),
    max_size=8,
)
recipient = st.from_regex(r"[a-z0-9.+]{1,12}@example\.(com|org)", fullmatch=True)
near_valid = st.fixed_dictionaries(  # valid shapes, fuzzed text: reaches message building
    {
        "from": st.sampled_from(["hello@polaris.test", "Admin@Polaris.test"]),
        "to": recipient | st.lists(recipient, min_size=1, max_size=3),
        "subject": any_text(1, 60),
        "text": any_text(0, 200),
    },
    optional={
        "html": any_text(0, 200),
        "reply_to": recipient,
        "dry_run": st.booleans(),
    },
)
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80).map(
    str.strip
)
unsigned = st.fixed_dictionaries(
    {},
    optional={"X-Polaris-Sig": header_text, "X-Polaris-Ts": header_text,
              "X-Polaris-Nonce": header_text, "Content-Type": header_text},
)  # fmt: skip


@pytest.fixture(scope="module")
def fuzz_base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # No practical rate limit: examples reuse addresses, and a 429 would hide message building.
    unlimited = replace(SETTINGS, rate_limit_max=10**9)
    engine = RelayEngine(unlimited, OutboxDelivery(tmp_path_factory.mktemp("outbox")))
    with serve_app(create_app(engine)) as base:
        yield base


@settings(max_examples=200, deadline=None)
@given(
    method=st.sampled_from(["POST", "GET", "PUT", "DELETE", "PATCH", "OPTIONS"]),
    path=st.sampled_from(["/send", "/", "/send/", "/%73end", "/send?x=1"])
    | header_text.map("/{}".format),
    headers=unsigned,
    body=st.binary(max_size=300),
)
def test_fuzzed_unsigned_requests_never_get_a_5xx(fuzz_base, method, path, headers, body):
    response = httpx.request(method, f"{fuzz_base}{path}", headers=headers, content=body)
    assert response.status_code < 500, response.text
    assert isinstance(response.json(), dict)


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=300) | (payloads | near_valid).map(lambda p: json.dumps(p).encode()))
def test_fuzzed_signed_bodies_never_get_a_5xx(fuzz_base, body):
    headers = {**sign(SECRET_A, "POST", MAIL_URL, body), "host": "mail.polaris.test"}
    response = httpx.post(f"{fuzz_base}/send", headers=headers, content=body)
    assert response.status_code < 500, response.text
    assert isinstance(response.json(), dict)


async def test_outbox_answers_after_the_spool_fsync_that_covers_its_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Group commit: fewer spool fsyncs than messages, none answered before its own."""
    synced: list[bytes] = []  # the spool's bytes when each finished fdatasync began
    real_fdatasync = os.fdatasync

    def slow_fdatasync(fd: int) -> None:
        present = os.pread(fd, os.fstat(fd).st_size, 0)
        time.sleep(0.02)
        real_fdatasync(fd)
        synced.append(present)

    monkeypatch.setattr(os, "fdatasync", slow_fdatasync)
    delivery = OutboxDelivery(tmp_path)

    async def deliver(i: int) -> None:
        message = f"message {i}\r\n".encode()
        await delivery.deliver("hello@polaris.test", ["ada@example.com"], message)
        assert any(message in present for present in synced), i

    await asyncio.gather(*(deliver(i) for i in range(16)))
    assert 1 <= len(synced) < 16
    assert len(exported(tmp_path, 16)) == 16
    delivery.close()


async def test_a_failed_spool_fsync_fails_every_message_waiting_on_it_and_later_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_fdatasync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    delivery = OutboxDelivery(tmp_path)
    monkeypatch.setattr(os, "fdatasync", failing_fdatasync)
    results = await asyncio.gather(
        *(delivery.deliver("hello@polaris.test", ["ada@example.com"], b"m") for _ in range(4)),
        return_exceptions=True,
    )
    assert all(isinstance(result, OSError) for result in results)
    monkeypatch.undo()  # the disk is back, but nothing is trusted until a restart
    with pytest.raises(OSError, match="restart the relay"):
        await delivery.deliver("hello@polaris.test", ["ada@example.com"], b"m")
    assert (tmp_path / ".spool" / "messages.spool").read_bytes() == b""  # no unanswered tail
    delivery.close()


def test_partial_files_a_crash_left_are_removed_at_start(tmp_path: Path) -> None:
    """A temp file from an interrupted export: its record is still in the spool."""
    partial = tmp_path / ".1764108000000-abc.eml.x1y2z3.tmp"
    partial.write_bytes(b"From: half a mess")
    kept = tmp_path / "1764108000000-abc.eml"
    kept.write_bytes(b"From: hello@polaris.test\r\n")
    OutboxDelivery(tmp_path).close()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".spool", kept.name]
