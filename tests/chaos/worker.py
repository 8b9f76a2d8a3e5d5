"""The worker program of the chaos scenarios: the fast server profile and handlers that keep a ledger.

Run it as ``python -m chaos.worker --redis URL --queues a,b --ledger-dir DIR [--concurrency N]
[--processes N] [--shutdown-timeout S]`` with ``tests`` on ``PYTHONPATH`` (``harness.worker_command``
builds that line). Each handler writes ``start`` and ``end`` records to ``DIR/handler-<pid>.log``
(``ledger.HandlerLedger``). Payloads are JSON objects; ``ms`` is how long a run takes (``first_ms`` on
the first run instead, when given).

Task types:

- ``ok`` (``def``) and ``aok`` (``async def``): sleep, then succeed;
- ``fail_once`` (``def``): raise on the first run, then behave like ``ok``;
- ``always_fail`` (``async def``): raise on every run;
- ``timeout`` (``async def``): on the first run sleep past the task's timeout (the deadline cancels it,
  end outcome ``cancelled``), then behave like ``aok``.

A ``def`` handler told to stop (``ctx.cancelled``) ends with outcome ``cancelled``; an ``async def``
one records ``cancelled`` when it gets ``CancelledError``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from asynq_py.engine import ServeMux, Server, ServerConfig, Task, TaskContext

from .ledger import HandlerLedger

FAST_PROFILE: dict[str, Any] = {
    "lease_duration_s": 6,
    "heartbeat_interval_s": 1.0,
    "recoverer_interval_s": 2.0,
    "recoverer_cutoff_s": 2.0,
    "delayed_task_check_interval_s": 1.0,
    "task_check_interval_s": 0.2,
    "retry_delay_func": lambda n, exc, task: random.uniform(0.0, 1.0),
}
"""Lease 6 s, heartbeat 1 s, recoverer every 2 s with a 2 s cut-off, retry delay 0-1 s, forwarder 1 s."""
RECOVERY_BOUND_S = 6 + 2 + 2 + 1 + 1 + 2
"""L + C + R + retry delay + forwarder interval + 2 s: an orphan reruns within this (reliability R1)."""


def _run_s(ctx: TaskContext, task: Task) -> float:
    spec = task.payload.json() if len(task.payload) else {}
    ms = spec.get("first_ms", spec.get("ms", 0)) if ctx.retry_count == 0 else spec.get("ms", 0)
    return float(ms) / 1000.0


def build_mux(ledger: HandlerLedger) -> ServeMux:
    """Return the mux of the chaos task types, each recording its runs in ``ledger``."""
    mux = ServeMux()

    def ok(ctx: TaskContext, task: Task) -> None:
        ledger.start(ctx.task_id, ctx.retry_count)
        stopped = ctx.cancelled.wait(_run_s(ctx, task))
        ledger.end(ctx.task_id, ctx.retry_count, "cancelled" if stopped else "ok")

    async def aok(ctx: TaskContext, task: Task) -> None:
        ledger.start(ctx.task_id, ctx.retry_count)
        try:
            await asyncio.sleep(_run_s(ctx, task))
        except asyncio.CancelledError:
            ledger.end(ctx.task_id, ctx.retry_count, "cancelled")
            raise
        ledger.end(ctx.task_id, ctx.retry_count, "ok")

    def fail_once(ctx: TaskContext, task: Task) -> None:
        if ctx.retry_count == 0:
            ledger.start(ctx.task_id, ctx.retry_count)
            ledger.end(ctx.task_id, ctx.retry_count, "error")
            raise RuntimeError("fail_once: the first run fails")
        ok(ctx, task)

    async def always_fail(ctx: TaskContext, task: Task) -> None:
        ledger.start(ctx.task_id, ctx.retry_count)
        ledger.end(ctx.task_id, ctx.retry_count, "error")
        raise RuntimeError("always_fail: every run fails")

    mux.handle("ok", ok)
    mux.handle("aok", aok)
    mux.handle("fail_once", fail_once)
    mux.handle("always_fail", always_fail)
    mux.handle("timeout", aok)  # payload first_ms > timeout: the first run is cut by its deadline
    return mux


def build_config(
    queues: list[str], concurrency: int, processes: int, shutdown_timeout_s: float
) -> ServerConfig:
    """Return the fast-profile configuration serving ``queues`` with equal weights."""
    return ServerConfig(
        concurrency=concurrency,
        queues=dict.fromkeys(queues, 1),
        processes=processes,
        shutdown_timeout_s=shutdown_timeout_s,
        **FAST_PROFILE,
    )


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and serve until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(description="chaos scenario worker (fast profile, ledgered handlers)")
    parser.add_argument("--redis", required=True, help="Redis URL")
    parser.add_argument("--queues", required=True, help="comma-separated queues to serve")
    parser.add_argument("--ledger-dir", required=True, type=Path, help="directory of the ledgers")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--shutdown-timeout", type=float, default=8.0)
    parser.add_argument("--lease", type=int, default=FAST_PROFILE["lease_duration_s"], help="lease seconds")
    args = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s",
    )
    config = build_config(args.queues.split(","), args.concurrency, args.processes, args.shutdown_timeout)
    config = replace(config, lease_duration_s=args.lease)
    Server(args.redis, config).run(build_mux(HandlerLedger(args.ledger_dir)))
    logging.getLogger("chaos.worker").info("worker %d exits", os.getpid())
    return 0


if __name__ == "__main__":
    sys.exit(main())
