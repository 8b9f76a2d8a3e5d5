"""A small worker program for the fault tests (test_server_faults.py).

Run it as ``python tests/engine/worker_app.py --redis URL --queue Q --ledger PATH [--concurrency N]
[--processes N] [--shutdown-timeout S]``. It serves one queue with the fast test profile and appends
one JSON line per handler start and end to the ledger file, which lives outside the Redis under test.

Handlers (payloads are JSON objects):

- ``sleep`` (``def``): sleeps ``ms`` milliseconds (``first_ms`` instead on the first run, when
  ``retry_count`` is 0), waking early when ``ctx.cancelled`` is set;
- ``asleep`` (``async def``): the same with ``asyncio.sleep``;
- ``coop`` (``def``): like ``sleep`` but returns the instant ``ctx.cancelled`` is set, writing no end
  record then (nothing between the wake-up and the return);
- ``flaky`` / ``aflaky``: fail on their first run, then behave like ``sleep`` / ``asleep``;
- ``block`` (``async def``): calls ``time.sleep`` and so blocks the event loop for ``ms``;
- ``ticker`` (``async def``): until cancelled, blocks the event loop for ``ms`` on every turn of
  the loop (a busy loop with some blocking code in an async handler);
- ``ok``: returns at once;
- ``throttle`` (``def``) / ``athrottle`` (``async def``): raise ``RateLimited(retry_after=after)``
  while the ledger holds fewer than ``times`` earlier starts of the task, then return.

Ledger lines: ``{"ev": "start"|"end", "pid", "id", "type", "retry_count", "t", "outcome"?}``. Each line
is one ``write`` on an ``O_APPEND`` descriptor followed by ``fsync``, so it survives SIGKILL of the
writer and lines from several processes never interleave.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from typing import Any

from asynq_py.engine import RateLimited, ServeMux, Server, ServerConfig, Task, TaskContext

FAST_PROFILE: dict[str, Any] = {
    "heartbeat_interval_s": 0.5,
    "lease_duration_s": 2,
    "recoverer_interval_s": 0.5,
    "recoverer_cutoff_s": 0.5,
    "delayed_task_check_interval_s": 0.5,
    "task_check_interval_s": 0.2,
    "retry_delay_func": lambda n, exc, task: 0.2,
}
"""The fast test profile: lease 2 s, heartbeat 0.5 s, recovery within about 3.5 s of a crash."""


class Ledger:
    """Appends JSON lines to a file shared by every worker process of a test."""

    def __init__(self, path: str) -> None:
        self.path = path

    def append(self, event: str, ctx: TaskContext, task: Task, **extra: Any) -> None:
        """Record one event of the run of ``task`` by this process."""
        record = {
            "ev": event,
            "pid": os.getpid(),
            "id": ctx.task_id,
            "type": task.type,
            "retry_count": ctx.retry_count,
            "t": time.time(),
            **extra,
        }
        line = (json.dumps(record, sort_keys=True) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)


def read_ledger(path: str) -> list[dict[str, Any]]:
    """Return the records of a ledger file (none if it does not exist yet)."""
    try:
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def _sleep_ms(ctx: TaskContext, task: Task) -> float:
    spec = task.payload.json() if len(task.payload) else {}
    ms = spec.get("first_ms", spec.get("ms", 0)) if ctx.retry_count == 0 else spec.get("ms", 0)
    return float(ms) / 1000.0


def build_mux(ledger: Ledger) -> ServeMux:
    """Return the mux with the test handlers, each recording its start and end in ``ledger``."""
    mux = ServeMux()

    def sleep(ctx: TaskContext, task: Task) -> None:
        ledger.append("start", ctx, task)
        cancelled = ctx.cancelled.wait(_sleep_ms(ctx, task))
        ledger.append("end", ctx, task, outcome="cancelled" if cancelled else "ok")

    async def asleep(ctx: TaskContext, task: Task) -> None:
        ledger.append("start", ctx, task)
        try:
            await asyncio.sleep(_sleep_ms(ctx, task))
        except asyncio.CancelledError:
            ledger.append("end", ctx, task, outcome="cancelled")
            raise
        ledger.append("end", ctx, task, outcome="ok")

    def coop(ctx: TaskContext, task: Task) -> None:
        ledger.append("start", ctx, task)
        if ctx.cancelled.wait(_sleep_ms(ctx, task)):
            return  # the instant it is told to stop, as a def handler should (no end record then)
        ledger.append("end", ctx, task, outcome="ok")

    def flaky(ctx: TaskContext, task: Task) -> None:
        if ctx.retry_count == 0:
            ledger.append("start", ctx, task)
            ledger.append("end", ctx, task, outcome="error")
            raise RuntimeError("flaky: first run fails")
        sleep(ctx, task)

    async def aflaky(ctx: TaskContext, task: Task) -> None:
        if ctx.retry_count == 0:
            ledger.append("start", ctx, task)
            ledger.append("end", ctx, task, outcome="error")
            raise RuntimeError("flaky: first run fails")
        await asleep(ctx, task)

    async def block(ctx: TaskContext, task: Task) -> None:
        ledger.append("start", ctx, task)
        time.sleep(_sleep_ms(ctx, task))  # deliberately blocks the event loop
        ledger.append("end", ctx, task, outcome="ok")

    async def ticker(ctx: TaskContext, task: Task) -> None:
        ledger.append("start", ctx, task)
        try:
            while True:
                time.sleep(_sleep_ms(ctx, task))  # deliberately blocks the event loop, then yields
                await asyncio.sleep(0)
        except asyncio.CancelledError:
            ledger.append("end", ctx, task, outcome="cancelled")
            raise

    def ok(ctx: TaskContext, task: Task) -> None:
        ledger.append("start", ctx, task)
        ledger.append("end", ctx, task, outcome="ok")

    def throttle(ctx: TaskContext, task: Task) -> None:
        spec = task.payload.json()
        earlier = sum(1 for r in read_ledger(ledger.path) if r["id"] == ctx.task_id and r["ev"] == "start")
        ledger.append("start", ctx, task)
        if earlier < spec["times"]:
            ledger.append("end", ctx, task, outcome="throttled")
            raise RateLimited(retry_after=spec["after"])
        ledger.append("end", ctx, task, outcome="ok")

    async def athrottle(ctx: TaskContext, task: Task) -> None:
        throttle(ctx, task)

    mux.handle("sleep", sleep)
    mux.handle("asleep", asleep)
    mux.handle("coop", coop)
    mux.handle("flaky", flaky)
    mux.handle("aflaky", aflaky)
    mux.handle("block", block)
    mux.handle("ticker", ticker)
    mux.handle("ok", ok)
    mux.handle("throttle", throttle)
    mux.handle("athrottle", athrottle)
    return mux


def build_config(queue: str, concurrency: int, processes: int, shutdown_timeout_s: float) -> ServerConfig:
    """Return the fast-profile configuration serving ``queue`` alone."""
    return ServerConfig(
        concurrency=concurrency,
        queues={queue: 1},
        processes=processes,
        shutdown_timeout_s=shutdown_timeout_s,
        **FAST_PROFILE,
    )


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and serve until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", required=True, help="Redis URL")
    parser.add_argument("--queue", required=True, help="the one queue to serve")
    parser.add_argument("--ledger", required=True, help="file to append start/end records to")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--shutdown-timeout", type=float, default=2.0)
    args = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(process)d %(threadName)s %(levelname)s %(name)s: %(message)s",
    )
    config = build_config(args.queue, args.concurrency, args.processes, args.shutdown_timeout)
    Server(args.redis, config).run(build_mux(Ledger(args.ledger)))
    logging.getLogger("worker_app").info("worker_app %d exits", os.getpid())
    return 0


if __name__ == "__main__":
    sys.exit(main())
