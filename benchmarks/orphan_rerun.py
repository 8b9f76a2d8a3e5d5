"""Kill-to-rerun of a task orphaned by a crashed worker while a backlog waits (issue 11, defect 8).

    .venv/bin/python benchmarks/orphan_rerun.py [--backlog N] [--task-ms MS] [--concurrency C]
        [--runs R] [--profile fast|go]

Each run: a fresh valkey-server; a "victim" task enqueued first, then N backlog tasks of MS ms
each; a worker process (concurrency C) takes the victim, which hangs, and is SIGKILLed; a
replacement worker starts at once (as a supervisor would restart it). The figure is the time from
the SIGKILL to the victim's second start. As in Go, the recoverer sends the orphan to retry and the
forwarder puts it at the back of the pending list, so it waits for the whole backlog ahead of it.
Profiles: ``go`` is Go's defaults (lease 30 s, recoverer every 60 s with a 30 s cut-off, Go's
retry delay of 15 s or more); ``fast`` shortens them (lease 6 s, heartbeat 1 s, recoverer every
2 s with a 2 s cut-off, retry delay 0) so the backlog's share shows.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

from asynq_py.engine import Client, ServeMux, Server, ServerConfig, Task
from asynq_py.engine.embedded import server_binary

QUEUE = "orphans"
STARTS = "bench:victim:starts"
PROFILES: dict[str, dict[str, Any]] = {
    "go": {},
    "fast": {
        "lease_duration_s": 6,
        "heartbeat_interval_s": 1.0,
        "recoverer_interval_s": 2.0,
        "recoverer_cutoff_s": 2.0,
        "delayed_task_check_interval_s": 1.0,
        "retry_delay_func": lambda n, exc, task: 0.0,
    },
}


def worker(url: str, profile: str, concurrency: int, task_ms: int) -> None:
    """Serve ``QUEUE``: the victim hangs on its first run; backlog tasks sleep ``task_ms``."""
    probe = redis.Redis.from_url(url)
    mux = ServeMux()

    async def victim(ctx: Any, task: Task) -> None:
        probe.rpush(STARTS, time.time())
        if ctx.retry_count == 0:
            await asyncio.sleep(3600)

    async def work(ctx: Any, task: Task) -> None:
        await asyncio.sleep(task_ms / 1000)

    mux.handle_func("victim", victim)
    mux.handle_func("work", work)
    config = ServerConfig(queues={QUEUE: 1}, concurrency=concurrency, **PROFILES[profile])
    Server(url, config).run(mux)


def _spawn(url: str, args: argparse.Namespace) -> subprocess.Popen[bytes]:
    command = [sys.executable, __file__, "--worker", url, "--profile", args.profile,
               "--concurrency", str(args.concurrency), "--task-ms", str(args.task_ms)]  # fmt: skip
    return subprocess.Popen(command, start_new_session=True, stderr=subprocess.DEVNULL)


def _wait(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise SystemExit(f"timed out waiting for {what}")


def one_run(args: argparse.Namespace, workdir: Path) -> tuple[float, int]:
    """Return (seconds from SIGKILL to the victim's rerun, backlog left at the kill)."""
    port = 20000 + os.getpid() % 20000
    server = subprocess.Popen(
        [str(server_binary()), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir),
         "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    r = redis.Redis.from_url(url, socket_timeout=30)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        _wait(lambda: _pings(r), 10, "valkey")
        with Client(url) as client:
            client.enqueue(Task("victim"), queue=QUEUE, max_retry=5)
            for start in range(0, args.backlog, 1000):
                n = min(1000, args.backlog - start)
                client.enqueue_many([Task("work")] * n, queue=QUEUE)
        workers.append(_spawn(url, args))
        _wait(lambda: r.llen(STARTS) >= 1, 60, "the victim to start")
        os.killpg(workers[0].pid, signal.SIGKILL)
        killed = time.time()
        left = int(r.llen(f"asynq:{{{QUEUE}}}:pending"))
        workers.append(_spawn(url, args))
        _wait(lambda: r.llen(STARTS) >= 2, args.timeout, "the victim's rerun")
        return float(r.lindex(STARTS, 1) or 0) - killed, left
    finally:
        for proc in workers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        r.close()
        server.terminate()
        server.wait(10)


def _pings(r: redis.Redis) -> bool:
    try:
        return bool(r.ping())
    except redis.ConnectionError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--backlog", type=int, default=20_000)
    parser.add_argument("--task-ms", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="fast")
    parser.add_argument("--timeout", type=float, default=600.0, help="longest wait for one rerun (s)")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.profile, args.concurrency, args.task_ms)
        return
    figures = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as workdir:
            took, left = one_run(args, Path(workdir))
        figures.append(took)
        print(f"run {run + 1}: kill-to-rerun {took:.1f}s, {left} tasks pending at the kill", flush=True)
    shape = f"backlog {args.backlog} x {args.task_ms} ms, concurrency {args.concurrency}"
    p50, worst = statistics.median(figures), max(figures)
    print(
        f"profile {args.profile}, {shape}: kill-to-rerun p50 {p50:.1f}s, worst {worst:.1f}s, {args.runs} runs"
    )


if __name__ == "__main__":
    main()
