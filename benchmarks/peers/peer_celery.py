"""Celery: ``Task.delay`` on a Redis broker, no result backend (``task_ignore_result``).

One process: ``celery worker --pool=solo`` (tasks run in the worker process itself); two
processes: two such workers side by side, each with its own node name. That beat
``--pool=prefork --concurrency=2`` here (about 2,300 against 1,300-1,800 tasks/s), whose parent
process hands every task to a child over a pipe; ``--pool=threads`` did worse than solo. All run
with ``--without-gossip --without-mingle --without-heartbeat`` and the default prefetch
multiplier (4; 32 and 128 changed nothing). Celery has no bulk enqueue (``group`` publishes one
message per task).
"""

from __future__ import annotations

import os
import platform
from importlib import metadata
from typing import Any

from benchcommon import SyncProbe, paced, redis_url, timed
from celery import Celery

app = Celery("bench", broker=redis_url())
app.conf.update(
    task_ignore_result=True,
    task_default_queue="default",
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)

_probe = SyncProbe()


@app.task(name="bench.noop")
def noop() -> None:
    _probe.done()


@app.task(name="bench.lat")
def lat(t: float, k: str) -> None:
    _probe.latency(t, k)


FLAGS = ["--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=WARNING"]


def info() -> dict[str, Any]:
    return {
        "versions": {
            "celery": metadata.version("celery"),
            "kombu": metadata.version("kombu"),
            "redis-py": metadata.version("redis"),
            "hiredis": metadata.version("hiredis"),
            "python": platform.python_version(),
        },
        "bulk": None,
        "multi": "spawn",
        "config": {
            "1": "celery worker --pool=solo " + " ".join(FLAGS[:3]) + ", task_ignore_result",
            "2": "2 such workers side by side (-n w<pid>@%h each)",
        },
    }


def enqueue(mode: str, n: int, interval: float, key: str) -> float:
    if mode == "single":

        def single() -> None:
            for _ in range(n):
                noop.delay()

        return timed(single)
    if mode == "bulk":
        raise ValueError("Celery has no bulk enqueue")
    return timed(lambda: paced(n, interval, lambda t: lat.delay(t, key)))


def worker(processes: int) -> None:
    if processes != 1:
        raise ValueError("run one solo worker per process")
    app.worker_main(["worker", "--pool=solo", f"--hostname=w{os.getpid()}@%h", *FLAGS])
