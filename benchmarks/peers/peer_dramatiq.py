"""Dramatiq: ``Actor.send`` on a ``RedisBroker``; the ``dramatiq`` command runs the workers.

Default middleware, ``max_retries=0``; each worker process runs 8 threads (the default) and the
command's supervisor process stays beside them. The prefetch (messages a worker process takes
from Redis ahead of its threads, default threads x 2 = 16) is raised to 128 through Dramatiq's
``dramatiq_queue_prefetch`` setting: with no-op tasks a worker is otherwise bound by its fetch
round trips (measured here: about 2,100 tasks/s at 16, 6,700 at 128, one process). Dramatiq
has no bulk enqueue (``group`` sends its messages one by one).
"""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from typing import Any, Final

import dramatiq
from benchcommon import SyncProbe, paced, redis_url, slots, timed
from dramatiq.brokers.redis import RedisBroker

THREADS: Final = slots(8)
PREFETCH: Final = 128
PREFETCH_ENV: Final = "dramatiq_queue_prefetch"  # Dramatiq reads this lower-case name

broker = RedisBroker(url=redis_url())
dramatiq.set_broker(broker)

_probe = SyncProbe()


@dramatiq.actor(queue_name="default", max_retries=0)
def noop() -> None:
    _probe.done()


@dramatiq.actor(queue_name="default", max_retries=0)
def lat(t: float, k: str) -> None:
    _probe.latency(t, k)


def _prefetch() -> str:
    return os.environ.get(PREFETCH_ENV, str(PREFETCH))


def info() -> dict[str, Any]:
    return {
        "versions": {
            "dramatiq": metadata.version("dramatiq"),
            "redis-py": metadata.version("redis"),
            "hiredis": metadata.version("hiredis"),
            "python": platform.python_version(),
        },
        "bulk": None,
        "multi": "native",
        "config": {
            "1": f"dramatiq --processes 1 --threads {THREADS}, dramatiq_queue_prefetch={_prefetch()} "
            "(plus the supervisor process)",
            "2": f"dramatiq --processes 2 --threads {THREADS}, dramatiq_queue_prefetch={_prefetch()}",
        },
    }


def enqueue(mode: str, n: int, interval: float, key: str) -> float:
    if mode == "single":

        def single() -> None:
            for _ in range(n):
                noop.send()

        return timed(single)
    if mode == "bulk":
        raise ValueError("Dramatiq has no bulk enqueue")
    return timed(lambda: paced(n, interval, lambda t: lat.send(t, key)))


def worker(processes: int) -> None:
    argv = [
        sys.executable,
        "-m",
        "dramatiq",
        "peer_dramatiq",
        "--processes",
        str(processes),
        "--threads",
        str(THREADS),
    ]
    env = dict(os.environ)
    here = os.path.dirname(os.path.abspath(__file__))
    env[PREFETCH_ENV] = _prefetch()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH", "")) if p)
    os.execve(sys.executable, argv, env)
