"""The troubleshooting catalog: guidance matched to a failure, kept as data in TOML."""

from __future__ import annotations

import fnmatch
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from polaris_tui.errors import ApiError


@dataclass(frozen=True)
class Entry:
    id: str
    step: str
    title: str
    meaning: str
    fix: str
    compare: str = ""
    codes: tuple[int, ...] = ()
    statuses: tuple[int, ...] = ()
    exceptions: tuple[str, ...] = ()
    checks: tuple[str, ...] = ()
    messages: tuple[str, ...] = ()
    cause: str = ""  # "unavailable", "rate-limited" or "permission": see ``classify``

    def render(self, values: Mapping[str, str]) -> Entry:
        """The entry with {domain}-style placeholders filled in."""

        def fill(text: str) -> str:
            for key, value in values.items():
                text = text.replace("{" + key + "}", value)
            return text

        return Entry(
            self.id,
            self.step,
            fill(self.title),
            fill(self.meaning),
            fill(self.fix),
            fill(self.compare),
            self.codes,
            self.statuses,
            self.exceptions,
            self.checks,
            self.messages,
            self.cause,
        )

    def text(self) -> str:
        """One block of plain text: title, what it means, the fix, what to compare."""
        lines = [self.title, f"What it means: {self.meaning}", f"Fix: {self.fix}"]
        if self.compare:
            lines.append(f"Compare: {self.compare}")
        return "\n".join(lines)


@cache
def entries() -> tuple[Entry, ...]:
    raw = tomllib.loads(
        resources.files("polaris_tui.data").joinpath("troubleshooting.toml").read_text("utf-8")
    )
    out = []
    for item in raw["entry"]:
        item = dict(item)
        for key in ("codes", "statuses", "exceptions", "checks", "messages"):
            item[key] = tuple(item.get(key, ()))
        out.append(Entry(**item))
    return tuple(out)


def error_codes(exc: BaseException) -> list[int]:
    """Cloudflare error codes carried by a port error (adapters keep them in ``codes``)."""
    return list(exc.codes) if isinstance(exc, ApiError) else []


def error_status(exc: BaseException) -> int | None:
    """The HTTP status a port error carries, if any."""
    return exc.status if isinstance(exc, ApiError) else None


# What happened to an API call, by the port error class (what adapters raise) or, until every
# adapter raises those, by the Cloudflare SDK's class; the HTTP status decides otherwise.
CAUSE_CLASSES: Mapping[str, tuple[str, ...]] = {
    "unavailable": (
        "Unavailable",
        "InternalServerError",
        "APIConnectionError",
        "APITimeoutError",
        "ConnectError",
        "ConnectTimeout",
        "ReadTimeout",
    ),
    "rate-limited": ("RateLimited", "RateLimitError"),
    "permission": ("PermissionDenied", "PermissionDeniedError", "AuthenticationError"),
}


def classify(exc: BaseException | None, status: int | None = None) -> str | None:
    """The cause of an API failure: Cloudflare-side, rate limited, or a missing permission.

    The cause outranks Cloudflare's error codes: a 500 that carries code 10001 is still a
    failure on Cloudflare's side, never a token problem.
    """
    names = {c.__name__ for c in type(exc).__mro__} if exc is not None else set()
    for cause, classes in CAUSE_CLASSES.items():
        if names & set(classes):
            return cause
    if status is not None and status >= 500:
        return "unavailable"
    if status == 429:
        return "rate-limited"
    if status in (401, 403):
        return "permission"
    return None


def failure_values(exc: BaseException | None) -> dict[str, str]:
    """What the failed call itself tells: its status, the attempts made, Retry-After."""
    if exc is None:
        return {}
    values: dict[str, str] = {}
    status = getattr(exc, "status", None) or getattr(exc, "status_code", None)
    values["status"] = f"HTTP {status}" if status else "no answer"
    attempts = getattr(exc, "attempts", None)
    # a port error keeps the SDK's exception as its cause: the request and response are there
    sdk = exc if getattr(exc, "request", None) is not None else exc.__cause__
    request_headers = getattr(getattr(sdk, "request", None), "headers", None)
    if attempts is None and request_headers is not None:  # the SDK numbers its retries
        retries = request_headers.get("x-stainless-retry-count")
        attempts = int(retries) + 1 if retries and retries.isdigit() else None
    values["attempts"] = f"{attempts} attempt(s)" if attempts else "the client's retries"
    retry_after = getattr(exc, "retry_after", None)
    response_headers = getattr(getattr(sdk, "response", None), "headers", None)
    if retry_after is None and response_headers is not None:  # botocore's response is a dict
        header = response_headers.get("retry-after")
        retry_after = float(header) if header and header.replace(".", "", 1).isdigit() else None
    values["retry_after"] = (
        f"Cloudflare asked to wait {retry_after:g}s (Retry-After)"
        if retry_after is not None
        else "Cloudflare sent no Retry-After: wait about a minute"
    )
    permission = getattr(exc, "permission", "")
    if permission:
        values["permission"] = permission
    return values


def lookup(
    step: str,
    *,
    values: Mapping[str, str] | None = None,
    exc: BaseException | None = None,
    check_id: str | None = None,
    status: int | None = None,
    message: str | None = None,
) -> Entry | None:
    """The most specific entry for a failure; step-specific entries win over generic ones."""
    codes = error_codes(exc) if exc is not None else []
    if status is None and exc is not None:
        status = error_status(exc)
    text = " ".join(filter(None, [message, str(exc) if exc is not None else None]))
    exc_names = {c.__name__ for c in type(exc).__mro__} if exc is not None else set()
    # only a failed call has a cause; a bare status (a probe's answer, a relay's reply) is
    # matched by the entries that name it
    cause = classify(exc, status) if exc is not None else None

    def score(e: Entry) -> int:
        if e.step not in ("*", step):
            return 0
        if cause in ("unavailable", "rate-limited"):  # Cloudflare's side: nothing else applies
            return (60 + (5 if e.step == step else 0)) if e.cause == cause else 0
        s = 0
        if cause and e.cause == cause:
            s = 45 if not (codes and set(codes) & set(e.codes)) else 50
        elif codes and set(codes) & set(e.codes):
            s = 50
        elif check_id and any(fnmatch.fnmatchcase(check_id, g) for g in e.checks):
            s = 40 if status is None or not e.statuses or status in e.statuses else 0
            if s and e.messages:  # the check's detail tells two entries for one check apart
                s += 3 if any(m.lower() in text.lower() for m in e.messages) else -1
        elif text and any(m.lower() in text.lower() for m in e.messages):
            # the failure's own words name a case more precisely than its class does: R2's
            # SignatureDoesNotMatch is a 403 too, but the fix is the R2 key pair, not the token
            s = 47 if cause else 32
        elif exc_names & set(e.exceptions):
            s = 30
        elif status is not None and status in e.statuses and not e.checks:
            s = 20
        return s + (5 if s and e.step == step else 0)

    best = max(entries(), key=score)
    if score(best) == 0:
        return None
    filled = {**failure_values(exc), **(values or {})}
    # the caller names the step's permission (runner.guidance_values, from the step catalog)
    filled.setdefault("permission", "the permission for this step")
    return best.render(filled)


def config_values(config: Any) -> dict[str, str]:
    """Placeholder values for a Config (kept loose to avoid an import cycle)."""
    return {
        "domain": config.domain,
        "mail_host": config.mail_host,
        "assets_host": config.assets_host,
        "bucket": config.r2_bucket,
        "worker": config.worker_name,
        "propagation_timeout": f"{config.propagation_timeout_seconds}s",
    }


def as_json(entry: Entry | None) -> dict[str, Any] | None:
    if entry is None:
        return None
    return {
        "id": entry.id,
        "title": entry.title,
        "meaning": entry.meaning,
        "fix": entry.fix,
        "compare": entry.compare,
    }
