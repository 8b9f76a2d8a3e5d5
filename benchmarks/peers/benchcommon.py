"""What every Python peer driver shares: the probe the benchmark tasks run, and the enqueue loops.

A benchmark task is one of two kinds, the same for every peer (Go asynq's included):

* ``noop``: does INCR ``bench:done``; the task that reads 1 stores its start time in
  ``bench:t_first``, the one that reads ``BENCH_EXPECT`` stores its end time in ``bench:t_last``.
  The drain throughput is ``(N - 1) / (t_last - t_first)``: worker start-up is not counted.
* ``lat(t, k)``: RPUSHes ``time.time() - t`` onto the list ``k``, ``t`` being the enqueue time
  the enqueuer put in the payload just before the enqueue call.

This module needs only the standard library and redis-py, which both the project's venv and the
peers' venv have.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

import redis
import redis.asyncio as aredis

DONE_KEY: Final = "bench:done"
FIRST_KEY: Final = "bench:t_first"
LAST_KEY: Final = "bench:t_last"

BULK_BATCH: Final = 1000
"""Tasks per bulk call, for every peer that has a bulk enqueue."""


class Unavailable(RuntimeError):
    """The peer cannot do this here (e.g. asynq-py before its Server exists); the message says why."""


def redis_url() -> str:
    """The Redis URL the orchestrator gave this process (``BENCH_REDIS_URL``)."""
    return os.environ["BENCH_REDIS_URL"]


def expect() -> int:
    """How many noop tasks the drain run has (``BENCH_EXPECT``), or -1 outside a drain run."""
    try:
        return int(os.environ.get("BENCH_EXPECT", "-1"))
    except ValueError:
        return -1


def slots(default: int) -> int:
    """Concurrent task slots per worker process: ``BENCH_CONCURRENCY`` if set (run.py's
    ``--concurrency``, for tuning), else the peer's chosen ``default``."""
    try:
        value = int(os.environ.get("BENCH_CONCURRENCY", ""))
    except ValueError:
        return default
    return value if value > 0 else default


def _stamp(t: float) -> str:
    return f"{t:.6f}"


class SyncProbe:
    """The noop and lat task bodies for peers that run plain functions (thread-safe, fork-safe)."""

    def __init__(self) -> None:
        self._client: redis.Redis | None = None
        self._pid = -1
        self._expect = expect()

    def _redis(self) -> redis.Redis:
        if self._client is None or self._pid != os.getpid():
            self._client = redis.Redis.from_url(redis_url())
            self._pid = os.getpid()
        return self._client

    def done(self) -> None:
        started = time.time()
        r = self._redis()
        # redis-py's sync/async union types differ between versions: Any keeps both venvs happy.
        count: Any = r.incr(DONE_KEY)
        n = int(count)
        if n == 1:
            r.set(FIRST_KEY, _stamp(started))
        if n == self._expect:
            r.set(LAST_KEY, _stamp(time.time()))

    def latency(self, enqueued_at: float, key: str) -> None:
        started = time.time()
        self._redis().rpush(key, _stamp(started - enqueued_at))


class AsyncProbe:
    """The noop and lat task bodies for asyncio peers; one client per event loop."""

    def __init__(self) -> None:
        self._client: aredis.Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._expect = expect()

    def _redis(self) -> aredis.Redis:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = aredis.Redis.from_url(redis_url())
            self._loop = loop
        return self._client

    async def done(self) -> None:
        started = time.time()
        r = self._redis()
        n = int(await r.incr(DONE_KEY))
        if n == 1:
            await r.set(FIRST_KEY, _stamp(started))
        if n == self._expect:
            await r.set(LAST_KEY, _stamp(time.time()))

    async def latency(self, enqueued_at: float, key: str) -> None:
        started = time.time()
        pushed: Any = self._redis().rpush(key, _stamp(started - enqueued_at))
        await pushed


def timed(loop: Callable[[], None]) -> float:
    """Run ``loop`` once and return the seconds it took."""
    start = time.perf_counter()
    loop()
    return time.perf_counter() - start


async def atimed(loop: Callable[[], Awaitable[None]]) -> float:
    start = time.perf_counter()
    await loop()
    return time.perf_counter() - start


def paced(n: int, interval: float, send: Callable[[float], object]) -> None:
    """Call ``send(time.time())`` ``n`` times, the i-th at ``start + i * interval``."""
    start = time.monotonic()
    for i in range(n):
        delay = start + i * interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        send(time.time())


async def apaced(n: int, interval: float, send: Callable[[float], Awaitable[object]]) -> None:
    start = time.monotonic()
    for i in range(n):
        delay = start + i * interval - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await send(time.time())


def batches(n: int, size: int = BULK_BATCH) -> list[int]:
    """Split ``n`` into batch sizes of at most ``size``."""
    return [min(size, n - i) for i in range(0, n, size)]
