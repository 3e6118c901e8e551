"""DMARC records as data: recognise, parse, merge with the planned tags, compare policies.

Pure functions (no I/O). The auth step owns ``p``, ``rua``, ``fo``, ``aspf``, ``adkim`` and
``pct``; any other tag the operator added (``sp``, ``ruf``, ``ri`` ...) is kept as it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from polaris_tui.errors import PolarisError

POLICY_STRENGTH = {"none": 0, "quarantine": 1, "reject": 2}
MANAGED = ("v", "p", "rua", "fo", "aspf", "adkim", "pct")


class DmarcError(PolarisError, ValueError):
    """The text is not a DMARC record."""

    title = "Invalid DMARC record"


def is_dmarc(text: str) -> bool:
    head = text.strip().split(";", 1)[0].replace(" ", "")
    return head.lower() == "v=dmarc1"


def parse(text: str) -> list[tuple[str, str]]:
    """The record's tags in order, names lowercased; raises DmarcError when not DMARC."""
    if not is_dmarc(text):
        raise DmarcError(f"not a DMARC record (must start with v=DMARC1): {text!r}")
    tags: list[tuple[str, str]] = []
    for part in text.split(";"):
        if "=" not in part:
            continue
        name, value = part.split("=", 1)
        tags.append((name.strip().lower(), value.strip()))
    return tags


def policy(text: str) -> str:
    """The ``p`` tag (``none`` when absent or unknown, as receivers treat it)."""
    value = dict(parse(text)).get("p", "none").lower()
    return value if value in POLICY_STRENGTH else "none"


def strongest(records: Iterable[str]) -> str:
    return max((policy(r) for r in records), key=POLICY_STRENGTH.__getitem__, default="none")


def weakens(before: str, after: str) -> bool:
    """True when ``after`` is a less strict policy than ``before``."""
    return POLICY_STRENGTH[after] < POLICY_STRENGTH[before]


@dataclass(frozen=True)
class Planned:
    policy: str
    rua: str  # an email address


def _rua_list(value: str) -> list[str]:
    return [u.strip() for u in value.split(",") if u.strip()]


def merge(records: Iterable[str], planned: Planned) -> str:
    """One record from the existing ones (first wins per tag) and the planned tags.

    Ours come first in a fixed order (``v`` must be first); the operator's other tags follow
    in the order found. Extra ``rua`` destinations the operator listed are kept after ours.
    """
    theirs: dict[str, str] = {}
    rua: list[str] = [f"mailto:{planned.rua}"]
    for text in records:
        for name, value in parse(text):
            if name == "rua":
                rua += [u for u in _rua_list(value) if u.lower() not in map(str.lower, rua)]
            elif name not in MANAGED:
                theirs.setdefault(name, value)
    ours = [
        ("v", "DMARC1"),
        ("p", planned.policy),
        ("rua", ",".join(rua)),
        ("fo", "1"),
        ("aspf", "r"),
        ("adkim", "r"),
        ("pct", "100"),
    ]
    return "; ".join(f"{k}={v}" for k, v in [*ours, *theirs.items()])


def same(a: str, b: str) -> bool:
    """Equal as DMARC: same tags and values, ignoring spacing and tag-name case."""
    return parse(a) == parse(b)
