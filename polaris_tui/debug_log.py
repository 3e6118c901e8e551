"""The debug log of `-v` / `POLARIS_TUI_LOG=debug`: one line per API request, retries, errors.

Built from the loggers the SDKs already have (the Cloudflare SDK and httpx, botocore and
urllib3 for R2) rather than from hooks in the adapters. Only the records named here pass, and
each is rewritten from its fields (method, URL, status, elapsed time); request options, bodies
and headers, where tokens and secret values travel, are dropped before formatting, and the
final line is scrubbed once more for anything that looks like a credential.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from polaris_tui.paths import LOG_ENV

LOGGERS = ("polaris_tui", "cloudflare", "httpx", "botocore", "urllib3.connectionpool")

# Anything credential-shaped that could still reach a line: auth headers, bearer tokens,
# signed-URL parameters and key/secret/token assignments.
_SCRUB = (
    (re.compile(r"(?i)\b(bearer|basic)\s+[^\s'\",]+"), r"\1 ***"),
    (
        re.compile(
            r"(?i)\b(authorization|x-auth-key|x-amz-security-token|cookie)(['\"]?\s*[:=]\s*)"
            r"['\"]?[^'\",}\s]+"
        ),
        r"\1\2***",
    ),
    (
        re.compile(
            r"(?i)\b((?:x-amz-[a-z-]+|credential|signature|token|secret|key|password)=)"
            r"[^&\s'\",]+"
        ),
        r"\1***",
    ),
)


def scrub(text: str) -> str:
    for pattern, replacement in _SCRUB:
        text = pattern.sub(replacement, text)
    return text


class _RequestLines(logging.Filter):
    """Let through the records that say what was asked, how it went and when it was retried;
    rewrite each from its arguments so no header or body is ever formatted."""

    def __init__(self) -> None:
        super().__init__()
        self._started = threading.local()

    def _start(self) -> None:
        self._started.at = time.perf_counter()

    def _elapsed(self) -> str:
        at = getattr(self._started, "at", None)
        self._started.at = None
        return "" if at is None else f" ({(time.perf_counter() - at) * 1000:.0f} ms)"

    def filter(self, record: logging.LogRecord) -> bool:
        name, msg, args = record.name, str(record.msg), record.args
        if name.startswith("polaris_tui"):
            return True
        record.exc_info = record.exc_text = None  # tracebacks may quote request objects
        if name.startswith("cloudflare"):
            if msg.startswith("Sending HTTP Request"):
                self._start()
                return False
            if msg.startswith(("Request options", "HTTP Response", "request_id")):
                return False
            if msg.startswith("Retrying request to") and isinstance(args, tuple):
                record.msg = "retry %s in %.2f s"
            return msg.startswith(("Retrying", "Not retrying", "Encountered", "Raising")) or (
                "retr" in msg and "left" in msg
            )
        if name == "httpx" and msg.startswith("HTTP Request") and isinstance(args, tuple):
            method, url, _version, status, reason = args
            record.msg = "%s %s -> %s %s%s"
            record.args = (method, url, status, reason, self._elapsed())
            return True
        if name == "botocore.endpoint" and msg.startswith("Sending http request"):
            self._start()
            return False
        if name.startswith("botocore.retr"):
            return msg.startswith(("Retry needed", "Max attempts"))
        if name == "urllib3.connectionpool" and msg.startswith('%s://%s:%s "') and args:
            scheme, host, port, method, path, _version, status, _length = args  # type: ignore[misc]
            record.msg = "%s %s://%s:%s%s -> %s%s"
            record.args = (method, scheme, host, port, path, status, self._elapsed())
            return True
        return False


class _ScrubbingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


def wanted(verbose: bool) -> bool:
    """Whether this run logs: ``-v`` or ``POLARIS_TUI_LOG=debug``; a bad value is refused."""
    value = os.environ.get(LOG_ENV, "").strip().lower()
    if value not in ("", "debug"):
        raise ValueError(f"{LOG_ENV}={os.environ[LOG_ENV]!r}: set it to 'debug' or leave it unset")
    return verbose or value == "debug"


@contextlib.contextmanager
def enabled(stream: IO[str] | None = None, log_file: Path | None = None) -> Iterator[None]:
    """Send the debug log to ``log_file`` (appended, private to the user) or ``stream`` for
    the duration of the block, then detach it (the CLI also runs in-process in tests)."""
    handler: logging.Handler
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600))
        handler = logging.FileHandler(log_file, mode="a", encoding="utf-8")
    else:
        handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        _ScrubbingFormatter("%(asctime)s.%(msecs)03d %(name)s: %(message)s", "%H:%M:%S")
    )
    handler.addFilter(_RequestLines())
    loggers = [logging.getLogger(name) for name in LOGGERS]
    saved = [(logger.level, logger.propagate) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)
        logger.propagate = False
    try:
        yield
    finally:
        for logger, (level, propagate) in zip(loggers, saved, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)
            logger.propagate = propagate
        handler.close()
