"""huey: ``RedisHuey`` task calls; a thread consumer that blocks on ``BRPOP`` for work.

huey has no bulk enqueue. Results are not stored (``results=False``); the periodic scheduler is
off (no periodic tasks here).
"""

from __future__ import annotations

import platform
from importlib import metadata
from typing import Any, Final

from benchcommon import SyncProbe, paced, redis_url, timed
from huey import RedisHuey

THREADS: Final = 8
"""Worker threads per consumer process (each blocks on BRPOP and runs one task at a time)."""

huey = RedisHuey("bench", url=redis_url(), results=False)
_probe = SyncProbe()


@huey.task()
def noop() -> None:
    _probe.done()


@huey.task()
def lat(t: float, k: str) -> None:
    _probe.latency(t, k)


def info() -> dict[str, Any]:
    return {
        "versions": {
            "huey": metadata.version("huey"),
            "redis-py": metadata.version("redis"),
            "hiredis": metadata.version("hiredis"),
            "python": platform.python_version(),
        },
        "bulk": None,
        "multi": "spawn",
        "config": {
            "1": f"1 consumer process, {THREADS} worker threads (BRPOP, read_timeout 1 s), results=False",
            "2": f"2 consumer processes, {THREADS} threads each",
        },
    }


def enqueue(mode: str, n: int, interval: float, key: str) -> float:
    if mode == "single":

        def single() -> None:
            for _ in range(n):
                noop()

        return timed(single)
    if mode == "bulk":
        raise ValueError("huey has no bulk enqueue")
    return timed(lambda: paced(n, interval, lambda t: lat(t, key)))


def worker(processes: int) -> None:
    huey.create_consumer(workers=THREADS, worker_type="thread", periodic=False).run()
