"""SAQ: ``Queue.enqueue``; ``saq`` workers (the settings below, run as ``saq --workers P`` does).

The worker keeps SAQ's default ``concurrency=10``; an idle worker blocks on the queue (BLMOVE),
so it does not poll. Jobs are enqueued with ``ttl=-1``, SAQ's way to delete a job when it
finishes, as the tasks return nothing. SAQ has no bulk enqueue (``Queue.map`` waits for results).
"""

from __future__ import annotations

import asyncio
import platform
from importlib import metadata
from typing import Any, Final

from benchcommon import AsyncProbe, apaced, atimed, redis_url, slots
from saq import Queue
from saq.runner import run

CONCURRENCY: Final = slots(10)

_probe = AsyncProbe()


async def noop(ctx: Any) -> None:
    await _probe.done()


async def lat(ctx: Any, *, t: float, k: str) -> None:
    await _probe.latency(t, k)


settings: dict[str, Any] = {
    "queue": Queue.from_url(redis_url()),
    "functions": [noop, lat],
    "concurrency": CONCURRENCY,
}
"""What ``saq peer_saq.settings`` would load."""


def info() -> dict[str, Any]:
    return {
        "versions": {
            "saq": metadata.version("saq"),
            "redis-py": metadata.version("redis"),
            "hiredis": metadata.version("hiredis"),
            "python": platform.python_version(),
        },
        "bulk": None,
        "multi": "native",
        "config": {
            "1": f"saq --workers 1, concurrency={CONCURRENCY}, jobs ttl=-1",
            "2": f"saq --workers 2 (multiprocessing), concurrency={CONCURRENCY} each, jobs ttl=-1",
        },
    }


async def _enqueue(mode: str, n: int, interval: float, key: str) -> float:
    queue = Queue.from_url(redis_url())
    await queue.connect()
    try:
        if mode == "single":

            async def single() -> None:
                for _ in range(n):
                    await queue.enqueue("noop", ttl=-1)

            return await atimed(single)
        if mode == "bulk":
            raise ValueError("SAQ has no bulk enqueue")

        async def send(t: float) -> None:
            await queue.enqueue("lat", t=t, k=key, ttl=-1)

        return await atimed(lambda: apaced(n, interval, send))
    finally:
        await queue.disconnect()


def enqueue(mode: str, n: int, interval: float, key: str) -> float:
    return asyncio.run(_enqueue(mode, n, interval, key))


def worker(processes: int) -> None:
    run("peer_saq.settings", workers=processes)
