"""arq: ``ArqRedis.enqueue_job``; one asyncio ``Worker`` per process.

arq reads at most ``queue_read_limit`` job ids (``max(5 * max_jobs, 100)``) per poll, and polls
every ``poll_delay`` (0.5 s), so with its defaults (``max_jobs=10``) a worker drains about 200
jobs a second however short they are. ``max_jobs=500`` lifts that cap (measured here: about 200,
1,000, 2,100 and 2,700 jobs/s at 10, 100, 200 and 500). ``poll_delay`` stays at its default, so
an idle worker looks for jobs twice a second (as Go asynq's default 1 s ``TaskCheckInterval``
stays). ``keep_result=0``: the tasks return nothing, so no result is stored. arq has no bulk
enqueue and no multi-process mode: two processes are two worker commands.
"""

from __future__ import annotations

import asyncio
import platform
from importlib import metadata
from typing import Any, Final

from arq import create_pool
from arq.connections import RedisSettings
from arq.worker import Worker
from benchcommon import AsyncProbe, apaced, atimed, redis_url, slots

MAX_JOBS: Final = slots(500)

_probe = AsyncProbe()


async def noop(ctx: dict[str, Any]) -> None:
    await _probe.done()


async def lat(ctx: dict[str, Any], t: float, k: str) -> None:
    await _probe.latency(t, k)


def info() -> dict[str, Any]:
    return {
        "versions": {
            "arq": metadata.version("arq"),
            "redis-py": metadata.version("redis"),
            "hiredis": metadata.version("hiredis"),
            "python": platform.python_version(),
        },
        "bulk": None,
        "multi": "spawn",
        "config": {
            "1": f"1 Worker process, max_jobs={MAX_JOBS}, poll_delay=0.5 s (default), keep_result=0",
            "2": f"2 Worker processes, max_jobs={MAX_JOBS} each, keep_result=0",
        },
    }


async def _enqueue(mode: str, n: int, interval: float, key: str) -> float:
    pool = await create_pool(RedisSettings.from_dsn(redis_url()))
    try:
        if mode == "single":

            async def single() -> None:
                for _ in range(n):
                    await pool.enqueue_job("noop")

            return await atimed(single)
        if mode == "bulk":
            raise ValueError("arq has no bulk enqueue")

        async def send(t: float) -> None:
            await pool.enqueue_job("lat", t, key)

        return await atimed(lambda: apaced(n, interval, send))
    finally:
        await pool.aclose()


def enqueue(mode: str, n: int, interval: float, key: str) -> float:
    return asyncio.run(_enqueue(mode, n, interval, key))


def worker(processes: int) -> None:
    asyncio.set_event_loop(asyncio.new_event_loop())
    Worker(
        functions=[noop, lat],
        redis_settings=RedisSettings.from_dsn(redis_url()),
        max_jobs=MAX_JOBS,
        keep_result=0,
        handle_signals=True,
    ).run()
