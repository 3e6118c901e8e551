"""One observation of the world, shared by every read made while it lasts.

``status``, ``plan all`` and a TUI panel load ask several steps (or one step several times)
about the same things: the zone's records, the Worker's secrets, the KV namespaces. Inside an
observation each distinct read goes to the API once and its answer (or its error) is shared:
concurrent awaits of one read share one task, so a read two steps start at the same moment is
still made once; the zone's records are listed once and filtered here, instead of one request
per name. Any write ends the sharing (the cache is dropped), so nothing is ever decided on an
answer older than the tool's own change. Outside an observation every call goes straight to
the adapter. The ports' methods are coroutines; a port's plain (synchronous) methods, which
make no request (``validate_metadata``), pass through untouched.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar, cast

from polaris_tui.ports import Record

T = TypeVar("T")

READS = frozenset(
    {
        "list",
        "settings",
        "rules",
        "addresses",
        "domains",
        "get",
        "required_records",
        "content",
        "secret_names",
        "routes",
        "titles",
        "bucket_exists",
        "object_etags",
        "custom_domains",
        "custom_domain",
    }
)
"""Port methods that only read; every other coroutine method is a write and ends the sharing."""


class Observation:
    """The answers shared while an observation lasts (first reader asks, on one event loop)."""

    def __init__(self) -> None:
        self._answers: dict[tuple[Any, ...], asyncio.Future[Any]] = {}

    async def read(self, key: tuple[Any, ...], ask: Callable[[], Awaitable[Any]]) -> Any:
        known = self._answers.get(key)
        if known is None:
            known = self._answers[key] = asyncio.ensure_future(ask())
        # shielded: one reader's timeout or cancel must not cancel the read for the others
        answer = await asyncio.shield(known)
        return copy.copy(answer) if isinstance(answer, list | dict | set) else answer

    def forget(self) -> None:
        self._answers.clear()


_active: ContextVar[Observation | None] = ContextVar("polaris_observation", default=None)
"""The observation of the current context: tasks started inside it (``asyncio.gather``) and
threads started with ``asyncio.to_thread`` share it; another worker of the TUI, e.g. an
apply polling for DKIM, does not, so its polls always reach the API."""


@contextmanager
def observing(*, new: bool = False) -> Iterator[Observation]:
    """Share reads in this context until the outermost ``observing`` ends; ``new`` starts a
    fresh observation even inside another (a check that the world still looks as planned
    must not be answered from the plan's own reads)."""
    current = _active.get()
    if current is not None and not new:
        yield current
        return
    token = _active.set(Observation())
    try:
        yield _active.get()  # type: ignore[misc]
    finally:
        _active.reset(token)


class Observed:
    """A port whose reads are shared through the active observation, if there is one."""

    def __init__(self, family: str, port: Any) -> None:
        self._family, self._port = family, port

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._port, name)
        if not inspect.iscoroutinefunction(attr):
            return attr  # a value, or a local check that makes no request
        if name not in READS:

            async def write(*args: Any, **kwargs: Any) -> Any:
                try:
                    return await attr(*args, **kwargs)
                finally:
                    if (observation := _active.get()) is not None:
                        observation.forget()

            return write
        if self._family == "dns_records" and name == "list":
            return self._zone_list

        async def read(*args: Any, **kwargs: Any) -> Any:
            observation = _active.get()
            if observation is None:
                return await attr(*args, **kwargs)
            key = (self._family, name, args, tuple(sorted(kwargs.items())))
            return await observation.read(key, lambda: attr(*args, **kwargs))

        return read

    async def _zone_list(self, *, name: str | None = None, type: str | None = None) -> list[Record]:
        """Inside an observation: the whole zone once, filtered as the API filters."""
        observation = _active.get()
        if observation is None:
            return await self._port.list(name=name, type=type)
        zone = await observation.read(("dns_records", "zone"), lambda: self._port.list())
        return [
            r
            for r in zone
            if (name is None or r.name.lower() == name.lower()) and (type is None or r.type == type)
        ]


def observed(family: str, port: T) -> T:
    """``port`` with its reads shared inside an observation (typed as the port itself)."""
    return cast(T, Observed(family, port))
