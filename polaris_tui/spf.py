"""SPF records as data: recognise, parse, merge into one record, count DNS lookups.

Pure functions (no I/O): a domain must publish exactly one SPF record, so the auth step merges
every SPF record it finds into one that keeps the operator's mechanisms, adds the includes
Cloudflare needs and ends with the configured ``all`` qualifier.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from polaris_tui.errors import PolarisError

CLOUDFLARE_INCLUDE = "include:_spf.mx.cloudflare.net"
LOOKUP_LIMIT = 10  # RFC 7208 section 4.6.4
_LOOKUP_MECHANISMS = frozenset({"include", "a", "mx", "ptr", "exists"})
_QUALIFIERS = "+-~?"


class SpfError(PolarisError, ValueError):
    """The text is not an SPF record."""

    title = "Invalid SPF record"


def is_spf(text: str) -> bool:
    """True for a TXT value that is an SPF record (version section exactly ``v=spf1``)."""
    head = text.strip().split(" ", 1)[0]
    return head.lower() == "v=spf1"


@dataclass(frozen=True)
class Spf:
    """An SPF record split into its terms (without ``v=spf1``) and its final ``all``."""

    terms: tuple[str, ...]
    all: str | None = None

    def text(self) -> str:
        return " ".join(("v=spf1", *self.terms, *([self.all] if self.all else [])))


def _name(term: str) -> str:
    """A term's mechanism or modifier name, lowercased (``~include:x`` -> ``include``)."""
    body = term.lstrip(_QUALIFIERS) if term[:1] in _QUALIFIERS else term
    for sep in (":", "=", "/"):
        body = body.split(sep, 1)[0]
    return body.lower()


def _value(term: str) -> str:
    body = term[1:] if term[:1] in _QUALIFIERS else term
    for sep in (":", "="):
        if sep in body:
            return body.split(sep, 1)[1]
    return ""


def parse(text: str) -> Spf:
    """Split an SPF record; raises SpfError when it is not one."""
    if not is_spf(text):
        raise SpfError(f"not an SPF record (must start with v=spf1): {text!r}")
    terms: list[str] = []
    final: str | None = None
    for term in text.split()[1:]:
        if _name(term) == "all":
            final = term if term[:1] in _QUALIFIERS else "+all"
            break  # terms after "all" are never evaluated
        terms.append(term)
    return Spf(tuple(terms), final)


@dataclass(frozen=True)
class Merge:
    """The one SPF record to publish, and what the merge did (for the plan's note)."""

    record: str
    notes: tuple[str, ...] = ()


def merge(
    records: Iterable[str],
    *,
    qualifier: str = "-all",
    required: Iterable[str] = (CLOUDFLARE_INCLUDE,),
) -> Merge:
    """One record from many: every distinct mechanism in first-seen order, ``required``
    includes added, one ``exp=`` at most, and ``qualifier`` as the last term.

    A ``redirect=`` is ignored by receivers once a record has ``all``, so it becomes an
    ``include:`` to keep authorizing the same senders.
    """
    if qualifier not in ("-all", "~all", "?all", "+all"):
        raise SpfError(f"qualifier must be -all or ~all, not {qualifier!r}")
    terms: list[str] = []
    seen: set[str] = set()
    exp: str | None = None
    notes: list[str] = []

    def add(term: str) -> None:
        key = term.lower().removeprefix("+")
        if key not in seen:
            seen.add(key)
            terms.append(term)

    for text in records:
        spf = parse(text)
        for term in spf.terms:
            name = _name(term)
            if name == "redirect":
                add(f"include:{_value(term)}")
                notes.append(f"redirect={_value(term)} kept as include:{_value(term)}")
            elif name == "exp":
                exp = exp or term
            else:
                add(term)
    for term in required:
        add(term)
    if exp:
        terms.append(exp)
    return Merge(Spf(tuple(terms), qualifier).text(), tuple(notes))


@dataclass(frozen=True)
class LookupCount:
    """DNS lookups a receiver makes to evaluate a record; ``unresolved`` targets were
    counted as one lookup each because their own records could not be read."""

    total: int
    unresolved: tuple[str, ...] = ()

    @property
    def over_limit(self) -> bool:
        return self.total > LOOKUP_LIMIT


def nested_targets(record: str) -> list[str]:
    """The ``include``/``redirect`` targets of ``record``, whose own records add lookups."""
    return [
        _value(term).lower()
        for term in record.split()[1:]
        if _name(term) in ("include", "redirect")
    ]


def count_lookups(
    record: str,
    resolve: Callable[[str], str | None] | None = None,
    *,
    _stack: tuple[str, ...] = (),
) -> LookupCount:
    """Count the terms that cost a DNS lookup (include, a, mx, ptr, exists, redirect),
    following ``include``/``redirect`` targets through ``resolve`` (target -> its SPF
    record or None when unknown)."""
    total = 0
    unresolved: list[str] = []
    for term in record.split()[1:]:
        name = _name(term)
        if name not in _LOOKUP_MECHANISMS and name != "redirect":
            continue
        total += 1
        if name not in ("include", "redirect"):
            continue
        target = _value(term).lower()
        nested = resolve(target) if resolve is not None and target not in _stack else None
        if nested is None or not is_spf(nested):
            unresolved.append(target)
            continue
        inner = count_lookups(nested, resolve, _stack=(*_stack, target))
        total += inner.total
        unresolved.extend(inner.unresolved)
    return LookupCount(total, tuple(unresolved))


def lookup_note(count: LookupCount) -> str:
    """The plan's wording: the count, and a warning when a receiver would give up."""
    approx = f" (at least; unresolved: {', '.join(count.unresolved)})" if count.unresolved else ""
    if count.over_limit:
        return (
            f"WARNING: {count.total} DNS lookups{approx} exceed SPF's limit of {LOOKUP_LIMIT}: "
            "receivers will fail SPF (permerror); replace some include: with ip4:/ip6: ranges"
        )
    return f"{count.total}/{LOOKUP_LIMIT} DNS lookups{approx}"
