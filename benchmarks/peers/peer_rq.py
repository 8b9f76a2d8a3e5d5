"""RQ: ``Queue.enqueue`` / ``Queue.enqueue_many``; ``SimpleWorker`` processes (no fork per job).

RQ's default ``Worker`` forks a child for every job, which caps a no-op workload at a few hundred
jobs a second; ``SimpleWorker`` runs jobs in the worker process itself and is RQ's own advice for
short jobs. Results are not kept (``result_ttl=0``), as the tasks return nothing.
"""

from __future__ import annotations

import platform
from importlib import metadata
from typing import Any, Final

from benchcommon import SyncProbe, batches, paced, redis_url, timed
from redis import Redis
from rq import Queue, SimpleWorker

QUEUE: Final = "default"
NOOP: Final = "peer_rq.noop"
LAT: Final = "peer_rq.lat"

_probe = SyncProbe()


def noop() -> None:
    _probe.done()


def lat(t: float, k: str) -> None:
    _probe.latency(t, k)


def info() -> dict[str, Any]:
    return {
        "versions": {
            "rq": metadata.version("rq"),
            "redis-py": metadata.version("redis"),
            "hiredis": metadata.version("hiredis"),
            "python": platform.python_version(),
        },
        "bulk": "Queue.enqueue_many (one pipeline), 1000 jobs a call",
        "multi": "spawn",
        "config": {
            "1": "1 SimpleWorker process (runs jobs in-process, one at a time), result_ttl=0",
            "2": "2 SimpleWorker processes, result_ttl=0",
        },
    }


def enqueue(mode: str, n: int, interval: float, key: str) -> float:
    queue = Queue(QUEUE, connection=Redis.from_url(redis_url()))
    if mode == "single":

        def single() -> None:
            for _ in range(n):
                queue.enqueue(NOOP, result_ttl=0)

        return timed(single)
    if mode == "bulk":
        sizes = batches(n)

        def bulk() -> None:
            for size in sizes:
                queue.enqueue_many([Queue.prepare_data(NOOP, result_ttl=0) for _ in range(size)])

        return timed(bulk)
    return timed(lambda: paced(n, interval, lambda t: queue.enqueue(LAT, t, key, result_ttl=0)))


def worker(processes: int) -> None:
    connection = Redis.from_url(redis_url())
    SimpleWorker([Queue(QUEUE, connection=connection)], connection=connection).work(logging_level="WARNING")
