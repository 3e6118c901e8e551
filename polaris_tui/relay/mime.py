"""The message the relay sends, byte-compatible in shape with the Worker's buildMime."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from email.utils import formatdate

SUBJECT_WORD_BYTES = 45  # 60 base64 chars: each encoded word stays within RFC 2047's 75


@dataclass(frozen=True)
class OutgoingMessage:
    """A validated /send payload."""

    sender: str
    recipients: tuple[str, ...]
    subject: str
    text: str | None
    html: str | None
    reply_to: str | None


def encode_subject(subject: str) -> str:
    """Printable ASCII as is; anything else as UTF-8 B-words, cut at character boundaries."""
    if all(0x20 <= ord(ch) <= 0x7E for ch in subject):
        return subject
    words: list[bytes] = []
    chunk = b""
    for ch in subject:
        encoded = ch.encode("utf-8")
        if len(chunk) + len(encoded) > SUBJECT_WORD_BYTES:
            words.append(chunk)
            chunk = b""
        chunk += encoded
    words.append(chunk)
    return "\r\n ".join(f"=?UTF-8?B?{base64.b64encode(w).decode('ascii')}?=" for w in words)


def _base64_lines(text: str) -> str:
    encoded = base64.b64encode(text.encode("utf-8")).decode("ascii")
    return "\r\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))


def _part(content_type: str, content: str) -> list[str]:
    return [
        f"Content-Type: {content_type}; charset=utf-8",
        "Content-Transfer-Encoding: base64",
        "",
        _base64_lines(content),
    ]


def new_message_id(sender: str) -> str:
    """A globally unique id in the sender's domain (without the angle brackets)."""
    return f"{uuid.uuid4()}@{sender.rsplit('@', 1)[1]}"


def build_mime(message: OutgoingMessage, message_id: str, now_s: float, boundary: str) -> bytes:
    """Headers From, To, [Reply-To], Subject, Date, Message-ID, MIME-Version, then the body."""
    lines = [f"From: {message.sender}", f"To: {', '.join(message.recipients)}"]
    if message.reply_to:
        lines.append(f"Reply-To: {message.reply_to}")
    lines += [
        f"Subject: {encode_subject(message.subject)}",
        f"Date: {formatdate(now_s, usegmt=False).replace('-0000', '+0000')}",
        f"Message-ID: <{message_id}>",
        "MIME-Version: 1.0",
    ]
    parts = [
        _part(kind, content)
        for kind, content in (("text/plain", message.text), ("text/html", message.html))
        if content
    ]
    if len(parts) == 1:
        lines += parts[0]
    else:
        lines += [f'Content-Type: multipart/alternative; boundary="{boundary}"', ""]
        for part in parts:
            lines += [f"--{boundary}", *part]
        lines.append(f"--{boundary}--")
    return ("\r\n".join(lines) + "\r\n").encode("ascii")
