"""Reading a delivered message back by its Message-ID: from the sandbox inbox's folder of
``.eml`` files, or from an operator's mailbox over IMAPS (TLS from the first byte, the
certificate checked; never plain IMAP, which would send the password in the clear)."""

from __future__ import annotations

import email.parser
import email.policy
import imaplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from polaris_tui.errors import Unavailable

IMAPS_PORT = 993
IMAP_TIMEOUT_S = 15.0
_HEADERS = email.parser.BytesHeaderParser(policy=email.policy.compat32)


def _message_id_of(raw: bytes) -> str:
    return (_HEADERS.parsebytes(raw).get("Message-ID") or "").strip().strip("<>")


@dataclass(frozen=True)
class InboxFolder:
    """The sandbox SMTP inbox: one ``.eml`` file per stored message."""

    path: Path

    @property
    def description(self) -> str:
        return f"the sandbox inbox ({self.path})"

    def find(self, message_id: str) -> bytes | None:
        for path in sorted(self.path.glob("*.eml"), reverse=True):  # newest first
            raw = path.read_bytes()
            if _message_id_of(raw) == message_id:
                return raw
        return None


def split_host(value: str) -> tuple[str, int]:
    """``host`` or ``host:port`` (IMAPS, 993 by default)."""
    host, sep, port = value.rpartition(":")
    if sep and port.isdigit() and host and not host.endswith(":"):
        return host.strip("[]"), int(port)
    return value.strip("[]"), IMAPS_PORT


@dataclass(frozen=True)
class ImapsMailbox:
    """An operator's mailbox over IMAP on TLS; the INBOX is searched by Message-ID."""

    host: str
    user: str
    password: Callable[[], str]  # read from the keyring when the mailbox is opened
    context: ssl.SSLContext | None = None  # None: the system's trust store

    @property
    def description(self) -> str:
        return f"imaps://{self.user}@{self.host}"

    def find(self, message_id: str) -> bytes | None:
        host, port = split_host(self.host)
        context = self.context or ssl.create_default_context()
        try:
            with imaplib.IMAP4_SSL(
                host, port, ssl_context=context, timeout=IMAP_TIMEOUT_S
            ) as imap:
                imap.login(self.user, self.password())
                imap.select("INBOX", readonly=True)
                status, found = imap.search(None, "HEADER", "Message-ID", f"<{message_id}>")
                numbers = found[0].split() if status == "OK" and found and found[0] else []
                for number in reversed(numbers):
                    status, parts = imap.fetch(number.decode(), "(BODY.PEEK[])")
                    for part in parts if status == "OK" else []:
                        if isinstance(part, tuple) and _message_id_of(part[1]) == message_id:
                            return part[1]
                return None
        except imaplib.IMAP4.error as exc:
            raise Unavailable(f"{self.description}: {exc}") from None
        except (TimeoutError, OSError, ssl.SSLError) as exc:
            raise Unavailable(f"{self.description}: {type(exc).__name__}: {exc}") from None
