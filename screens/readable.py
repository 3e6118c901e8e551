"""Engine facts and API errors as an operator reads them: words and short lists, never a
Python repr or a JSON body (those stay one keypress away, behind "details")."""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from typing import Any

# "Error code: 403 - {'success': False, 'errors': [...]}" is how the SDK words an API error
SDK_ERROR = re.compile(r"^Error code: (?P<status>\d{3}) - (?P<body>\{.*\})(?P<tail>.*)$", re.S)
LIST_ITEM_WIDTH = 100


def _words(key: str) -> str:
    """A field name in words ("routing_enabled" → "Routing enabled"); names such as file
    names ("polaris-logo-160.png") are kept as they are."""
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", key):
        return key
    return key.replace("_", " ").capitalize()


def _scalar(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = " ".join(str(value).split())
    return text if len(text) <= LIST_ITEM_WIDTH else text[: LIST_ITEM_WIDTH - 1] + "…"


def _snake(key: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key).lower()


def _inline(mapping: Mapping[str, Any]) -> str:
    """A small mapping as "key value, key value", without empties or camelCase twins."""
    parts = []
    for key, value in mapping.items():
        if value in (None, "", [], {}) or (_snake(key) != key and _snake(key) in mapping):
            continue
        shown = _inline(value) if isinstance(value, Mapping) else _scalar(value)
        label = _words(key)
        parts.append(f"{label.lower() if label != key else key} {shown}")
    return ", ".join(parts) or "none"


def fact_lines(facts: Mapping[str, Any]) -> list[str]:
    """One line per fact ("Routing enabled: yes"); a list becomes indented bullets."""
    lines: list[str] = []
    for key, value in facts.items():
        label = _words(str(key))
        if isinstance(value, list | tuple):
            if not value:
                lines.append(f"{label}: none")
                continue
            lines.append(f"{label}:")
            for item in value:
                shown = _inline(item) if isinstance(item, Mapping) else _scalar(item)
                lines.append(f"  • {shown}")
        elif isinstance(value, Mapping):
            lines.append(f"{label}: {_inline(value)}")
        else:
            lines.append(f"{label}: {_scalar(value)}")
    return lines


def readable_error(message: str) -> tuple[str, str]:
    """An SDK error message as a sentence, and the raw body for "details" ("" when none)."""
    match = SDK_ERROR.match(message)
    if match is None:
        return message, ""
    try:
        body = ast.literal_eval(match["body"])
    except (ValueError, SyntaxError):
        return message, ""
    errors = body.get("errors") if isinstance(body, dict) else None
    said = "; ".join(
        f"{e.get('message', 'error')} (code {e['code']})" if "code" in e else str(e.get("message"))
        for e in errors or []
        if isinstance(e, dict)
    )
    sentence = f"Cloudflare answered HTTP {match['status']}" + (f": {said}" if said else "")
    return sentence + ("" if said else match["tail"]), match["body"]
