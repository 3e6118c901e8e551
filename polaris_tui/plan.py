"""A step's plan: the changes one observation calls for, the state they imply, and a
fingerprint of what was observed.

The state is derived from the changes, never decided beside them, so a step with a pending
change cannot read "done". The fingerprint hashes what the changes were computed from (the
observed before-values), not the time: applying a plan first observes again and refuses
when the fingerprint differs, so nothing is applied that the operator did not see.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum, StrEnum
from typing import Any


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    NOOP = "noop"


class StepState(StrEnum):
    DONE = "done"
    PENDING = "pending"
    DRIFT = "drift"
    FAILED = "failed"
    BLOCKED = "blocked"


HIDDEN_KEYS = ("id",)  # API ids mean nothing to the operator in a diff


def render_value(value: Any, *, other: Any = None, shown: str = "") -> str:
    """A before/after value as one readable line for the CLI and the TUI's plan table.

    Mappings read ``key=value``; when the other side is a mapping too only the keys that differ
    are shown, so an update says what changes (``proxied=False`` → ``proxied=True``); text
    values already in ``shown`` (the change's target line) are not repeated.
    """
    if value is None:
        return ""
    if isinstance(value, dict):
        keys = [k for k in value if k not in HIDDEN_KEYS]
        if isinstance(other, dict):
            keys = [k for k in keys if other.get(k) != value[k]] or keys
        keys = [k for k in keys if not (isinstance(value[k], str) and value[k] in shown)] or keys
        return ", ".join(f"{k}={render_value(value[k])}" for k in keys)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(render_value(v) for v in value) + "]"
    return " ".join(str(value).split())


@dataclass(frozen=True)
class Change:
    """One planned change; ``owned`` is False for things the tool did not create."""

    action: Action
    kind: str
    target: str
    before: Any = None
    after: Any = None
    note: str = ""
    owned: bool = True

    def before_text(self) -> str:
        return render_value(self.before, other=self.after, shown=self.target)

    def after_text(self) -> str:
        return render_value(self.after, other=self.before, shown=self.target)

    @property
    def needs_delete_permission(self) -> bool:
        """Deleting or replacing what the tool did not create needs --allow-delete."""
        return self.action is Action.DELETE and not self.owned

    def to_json(self) -> dict[str, Any]:
        return {
            "action": str(self.action),
            "kind": self.kind,
            "target": self.target,
            "before": self.before,
            "after": self.after,
            "note": self.note,
            "owned": self.owned,
        }


HOLDS = frozenset({StepState.PENDING, StepState.DRIFT, StepState.BLOCKED})
"""States a step may report with nothing left to change: waiting on Cloudflare (pending), a
disagreement no change of this step repairs (drift), a refusal to act (blocked)."""


def pending(changes: Sequence[Change]) -> list[Change]:
    """The changes that do something (not the plan's informational no-op lines)."""
    return [c for c in changes if c.action is not Action.NOOP]


def _plain(value: Any) -> Any:
    """JSON for what ``json`` cannot write itself: dataclasses, sets, enums, datetimes."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, set | frozenset):
        return sorted(map(str, value))
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def fingerprint_of(observed: Any) -> str:
    """A stable hash of observed values (canonical JSON: key order and spacing do not count)."""
    blob = json.dumps(observed, sort_keys=True, default=_plain, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Plan:
    """What one step would change, made from one observation.

    ``hold`` is the state a step reports when nothing is left to change and it is still not
    done (see ``HOLDS``); with changes pending it only matters when it is ``blocked``.
    """

    step: str
    changes: tuple[Change, ...]
    summary: str
    fingerprint: str
    facts: Mapping[str, Any] = field(default_factory=dict)
    hold: StepState | None = None

    def __post_init__(self) -> None:
        if self.hold is not None and self.hold not in HOLDS:
            raise ValueError(f"a plan cannot hold {self.hold}: only {sorted(HOLDS)}")

    @property
    def pending(self) -> list[Change]:
        return pending(self.changes)

    @property
    def state(self) -> StepState:
        """Blocked when the step refuses; drift when a pending change updates or deletes what
        exists; pending when it only creates; otherwise the hold, or done."""
        if self.hold is StepState.BLOCKED:
            return StepState.BLOCKED
        todo = self.pending
        altering = any(c.action in (Action.UPDATE, Action.DELETE) for c in todo)
        if altering or (todo and self.hold is StepState.DRIFT):
            return StepState.DRIFT
        if todo:
            return StepState.PENDING
        return self.hold or StepState.DONE

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "state": str(self.state),
            "summary": self.summary,
            "fingerprint": self.fingerprint,
            "changes": [c.to_json() for c in self.changes],
        }


def make_plan(
    step: str,
    changes: Sequence[Change],
    summary: str,
    *,
    observed: Any = None,
    facts: Mapping[str, Any] | None = None,
    hold: StepState | None = None,
) -> Plan:
    """A Plan whose fingerprint hashes ``observed``; without it, what the changes say was
    observed: each change's kind, target and before-value (an absent thing is observed too)."""
    if observed is None:
        observed = [(str(c.action), c.kind, c.target, c.before) for c in changes]
    return Plan(step, tuple(changes), summary, fingerprint_of(observed), dict(facts or {}), hold)
