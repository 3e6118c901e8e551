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

    def score(e: Entry) -> int:
        if e.step not in ("*", step):
            return 0
        s = 0
        if codes and set(codes) & set(e.codes):
            s = 50
        elif check_id and any(fnmatch.fnmatchcase(check_id, g) for g in e.checks):
            s = 40 if status is None or not e.statuses or status in e.statuses else 0
            if s and e.messages:  # the check's detail tells two entries for one check apart
                s += 3 if any(m.lower() in text.lower() for m in e.messages) else -1
        elif text and any(m.lower() in text.lower() for m in e.messages):
            s = 32  # words of the failure itself say more than its exception class
        elif exc_names & set(e.exceptions):
            s = 30
        elif status is not None and status in e.statuses and not e.checks:
            s = 20
        return s + (5 if s and e.step == step else 0)

    best = max(entries(), key=score)
    if score(best) == 0:
        return None
    filled = dict(values or {})
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
