"""Fault injection rules: ``METHOD:PATH_GLOB:ACTION[:COUNT]`` separated by ``;``.

ACTION is an HTTP status (``500``, ``429`` ...), ``reset`` (drop the connection) or
``delay=MS``. COUNT limits how many matching requests a rule hits (default: all).
"""

from __future__ import annotations

import fnmatch
import threading
from dataclasses import dataclass


class FaultSpecError(ValueError):
    """A rule in POLARIS_SANDBOX_FAULTS could not be parsed."""


@dataclass
class Rule:
    method: str
    path_glob: str
    action: str  # "status", "reset" or "delay"
    value: int  # the status code or the delay in ms
    remaining: int | None

    def matches(self, method: str, path: str) -> bool:
        return (self.method in ("*", method.upper())) and fnmatch.fnmatchcase(path, self.path_glob)


@dataclass(frozen=True)
class Decision:
    """What the server does with one request."""

    delay_ms: int = 0
    status: int | None = None
    reset: bool = False


def parse(spec: str) -> list[Rule]:
    rules: list[Rule] = []
    for raw in (part.strip() for part in (spec or "").split(";")):
        if not raw:
            continue
        parts = raw.split(":")
        if len(parts) not in (3, 4):
            raise FaultSpecError(
                f"fault rule {raw!r}: expected METHOD:PATH_GLOB:ACTION[:COUNT], "
                "e.g. POST:/zones/*/dns_records:500:2"
            )
        method, glob, action = parts[0].strip().upper(), parts[1].strip(), parts[2].strip()
        remaining: int | None = None
        if len(parts) == 4:
            try:
                remaining = int(parts[3])
            except ValueError:
                raise FaultSpecError(f"fault rule {raw!r}: COUNT must be an integer") from None
        if action == "reset":
            rules.append(Rule(method, glob, "reset", 0, remaining))
        elif action.startswith("delay="):
            try:
                rules.append(Rule(method, glob, "delay", int(action[6:]), remaining))
            except ValueError:
                raise FaultSpecError(f"fault rule {raw!r}: delay=MS needs an integer") from None
        elif action.isdigit() and 100 <= int(action) <= 599:
            rules.append(Rule(method, glob, "status", int(action), remaining))
        else:
            raise FaultSpecError(
                f"fault rule {raw!r}: ACTION must be an HTTP status, 'reset' or 'delay=MS'"
            )
    return rules


class FaultPlan:
    """Thread-safe rule set that counts down each rule's hits."""

    def __init__(self, spec: str = "") -> None:
        self._lock = threading.Lock()
        self._rules = parse(spec)

    def replace(self, spec: str) -> None:
        rules = parse(spec)
        with self._lock:
            self._rules = rules

    def decide(self, method: str, path: str) -> Decision:
        delay, status, reset = 0, None, False
        with self._lock:
            for rule in self._rules:
                if rule.remaining == 0 or not rule.matches(method, path):
                    continue
                if rule.action == "delay":
                    delay += rule.value
                elif status is not None or reset:
                    continue  # one failure per request; later rules keep their count
                elif rule.action == "reset":
                    reset = True
                else:
                    status = rule.value
                if rule.remaining is not None:
                    rule.remaining -= 1
        return Decision(delay, status, reset)
