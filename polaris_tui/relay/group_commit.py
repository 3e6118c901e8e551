"""Group commit: requests in flight together share one fsync instead of paying one each.

A caller awaits ``durable()`` after its writes; it returns once a round that *began after
the call* has made everything written so far durable. While one round's fsync runs, new
callers gather for the next, so the number of fsyncs follows the disk, not the request rate.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

# On the event loop: close the round (take what was written) and return the blocking work
# that makes it durable, run in a worker thread.
Cut = Callable[[], Callable[[], None]]


class GroupCommit:
    """One round at a time; each round cuts every store, then runs their syncs in one thread.

    Stores that answer together (the spool and the relay state) share the rounds, so a
    request waits for one thread hop, not one per store.
    """

    def __init__(self, *cuts: Cut) -> None:
        self._cuts = list(cuts)
        self._next: asyncio.Future[None] | None = None  # settled by the next round to start
        self._running: asyncio.Task[None] | None = None

    def add(self, cut: Cut) -> None:
        """Make every later round cover ``cut``'s store as well."""
        self._cuts.append(cut)

    async def durable(self) -> None:
        """Return once a round that began after this call has finished (or raise its error)."""
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
        next_round = self._next
        if self._running is None:
            self._running = asyncio.create_task(self._rounds())
        await asyncio.shield(next_round)

    async def _rounds(self) -> None:
        round_: asyncio.Future[None] | None = None
        try:
            while self._next is not None:
                round_, self._next = self._next, None
                try:
                    syncs = [cut() for cut in self._cuts]
                    await asyncio.to_thread(_run_all, syncs)
                except Exception as error:  # every waiter gets it: none may answer 2xx
                    round_.set_exception(error)
                else:
                    round_.set_result(None)
        finally:  # cancelled (loop shutting down): nobody may wait on a round that never runs
            for waiting in (round_, self._next):
                if waiting is not None and not waiting.done():
                    waiting.cancel()
            self._running = self._next = None


def _run_all(syncs: list[Callable[[], None]]) -> None:
    for sync in syncs:
        sync()
