"""In-memory port implementations for pure tests (the sandbox stays for real protocols).

Each fake keeps what a real account would hold and counts the calls made to it, so a test
can tell how many times the world was asked.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from polaris_tui.errors import ApiError, NotFound
from polaris_tui.ports import Record


@dataclass
class FakeDnsRecords:
    """A zone's records; ``list`` filters as the API does (exact name, type)."""

    records: list[Record] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    _next: int = 0

    def list(self, *, name: str | None = None, type: str | None = None) -> list[Record]:
        self.calls["list"] += 1
        return [
            r
            for r in self.records
            if (name is None or r.name == name) and (type is None or r.type == type)
        ]

    def batch(
        self, *, deletes: Sequence[str], patches: Sequence[Record], posts: Sequence[Record]
    ) -> None:
        self.calls["batch"] += 1
        by_id = {r.id: r for r in patches}
        self.records = [by_id.get(r.id, r) for r in self.records if r.id not in deletes]
        for rec in posts:
            self._next += 1
            self.records.append(replace(rec, id=f"r{self._next}"))


@dataclass
class FakeKv:
    namespaces: dict[str, str] = field(default_factory=dict)  # title -> id
    values: dict[tuple[str, str], str] = field(default_factory=dict)  # (id, key) -> value
    calls: Counter[str] = field(default_factory=Counter)

    def titles(self) -> dict[str, str]:
        self.calls["titles"] += 1
        return dict(self.namespaces)

    def create(self, title: str) -> str:
        self.calls["create"] += 1
        if title in self.namespaces:
            raise ApiError("a namespace with this title already exists", status=400, codes=[10014])
        self.namespaces[title] = f"ns-{len(self.namespaces) + 1}"
        return self.namespaces[title]

    def delete(self, namespace_id: str) -> None:
        self.calls["delete"] += 1
        for title, ident in list(self.namespaces.items()):
            if ident == namespace_id:
                del self.namespaces[title]
                return
        raise NotFound(f"no namespace {namespace_id}", status=404, codes=[10013])

    def value(self, namespace_id: str, key: str) -> str | None:
        self.calls["value"] += 1
        return self.values.get((namespace_id, key))
