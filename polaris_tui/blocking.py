"""Running the async engine from synchronous code: one event loop per call, a wide pool.

The engine is async end to end and its adapters run the blocking SDK calls with
``asyncio.to_thread``, on the loop's default executor. asyncio's default pool has CPUs + 4
threads (6 on two cores), while one status or verify has a dozen or two such calls in flight:
they would queue behind one another, up to a whole round trip each. Every synchronous facade
(the runner's, destroy's, the CLI's and the TUI's thread workers) goes through ``run_blocking``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

IO_THREADS = 32
"""Threads for one run's blocking calls: they wait on the network, not on the CPU."""


async def _wide(main: Coroutine[Any, Any, T]) -> T:
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(IO_THREADS, thread_name_prefix="polaris-io")
    )
    return await main


def run_blocking(main: Coroutine[Any, Any, T]) -> T:
    """``main`` on a new event loop whose default executor is ``IO_THREADS`` wide.

    Not for code already on a loop (a coroutine awaits instead); ``asyncio.run`` shuts the
    pool down when ``main`` is done.
    """
    return asyncio.run(_wide(main))
