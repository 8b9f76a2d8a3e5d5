"""What metrics and tracing cost per task, as ratios within one run.

    .venv/bin/python benchmarks/observe.py [--tasks N] [--rounds R] [--smoke]

Drain: a server in this process runs N no-op ``async def`` tasks (concurrency 10) with
``observer=None`` (the default), with an observer whose methods do nothing (an upper bound of
what the ``is None`` tests can cost: a call is dearer than a test), and with ``WorkerMetrics``.
Enqueue: ``Client.enqueue`` one by one with no hook and with the OpenTelemetry hook (SDK tracer
provider, no exporter). R interleaved rounds; each figure is the median, each ratio the median of
the ratios taken within one round. The server is a fresh valkey-server on loopback.

First, without Redis, the CPU time per task of each piece alone (median of R runs): the two
observer calls a run makes (no-op and ``WorkerMetrics``), the client hook, and the middleware
around a no-op handler; these hold on a busy machine better than the rates do.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import redis
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry

from asynq_py.engine import Client, Inspector, ServeMux, Server, ServerConfig, Task, TaskContext
from asynq_py.engine.embedded import server_binary
from asynq_py.engine.x.tracing import enqueue_hook, tracing_middleware
from asynq_py.engine.x.worker_metrics import WorkerMetrics


class NoopObserver:
    def serving(self, concurrency: int) -> None: ...
    def started(self, queue: str, task_type: str, waited_s: float | None) -> None: ...
    def finished(self, queue: str, task_type: str, outcome: Any, duration_s: float) -> None: ...
    def lease_extensions_failed(self, queue: str, count: int) -> None: ...
    def redis_error(self, kind: str) -> None: ...


def drain(url: str, n: int, observer: Any) -> float:
    redis.Redis.from_url(url).flushall()
    mux = ServeMux()

    async def noop(ctx: object, task: Task) -> None:
        return None

    mux.handle_func("noop", noop)
    with Client(url) as client, Inspector(url) as inspector:
        client.enqueue(Task("noop"))
        inspector.pause_queue("default")
        for start in range(0, n - 1, 1000):
            client.enqueue_many([Task("noop") for _ in range(min(1000, n - 1 - start))])
        server = Server(url, ServerConfig(concurrency=10, observer=observer))
        server.start(mux)
        try:
            t0 = time.perf_counter()
            inspector.unpause_queue("default")
            deadline = time.monotonic() + 300
            while inspector.get_queue_info("default").processed < n:
                if time.monotonic() > deadline:
                    raise TimeoutError("drain did not finish")
                time.sleep(0.005)
            return n / (time.perf_counter() - t0)
        finally:
            server.shutdown()


def enqueue(url: str, n: int, hook: Any) -> float:
    with Client(url, enqueue_hook=hook) as client:
        t0 = time.perf_counter()
        for _ in range(n):
            client.enqueue(Task("noop"), queue="enq")
        return n / (time.perf_counter() - t0)


def per_task_us(n: int, rounds: int) -> dict[str, float]:
    """Median CPU microseconds per task of each piece, without Redis."""
    metrics = WorkerMetrics(CollectorRegistry())
    noop = NoopObserver()
    hook = enqueue_hook(TracerProvider())
    traced = tracing_middleware(TracerProvider())(lambda ctx, task: None)
    ctx = TaskContext("id", "q", 0, 25, datetime.now(UTC))
    task = Task("t", headers=hook("t", "q", "id"))

    def observe(obs: Any) -> None:
        obs.started("q", "t", 0.01)
        obs.finished("q", "t", "succeeded", 0.02)

    pieces: dict[str, Callable[[], object]] = {
        "observer calls, no-op": lambda: observe(noop),
        "observer calls, WorkerMetrics": lambda: observe(metrics),
        "client hook, OpenTelemetry": lambda: hook("t", "q", "id"),
        "middleware, OpenTelemetry": lambda: traced(ctx, task),
    }
    out = {}
    for name, piece in pieces.items():
        runs = []
        for _ in range(rounds):
            t0 = time.process_time()
            for _ in range(n):
                piece()
            runs.append((time.process_time() - t0) / n * 1e6)
        out[name] = statistics.median(runs)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", type=int, default=5000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--smoke", action="store_true", help="tiny sizes, to check that the script runs")
    args = p.parse_args()
    n, rounds = (200, 1) if args.smoke else (args.tasks, args.rounds)
    print("CPU time per task, without Redis (median µs):")
    for name, us in per_task_us(n, rounds).items():
        print(f"  {name:<30} {us:>7.1f} µs")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            [str(server_binary()), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
             "no", "--dir", tmp], stdout=subprocess.DEVNULL,
        )  # fmt: skip
        url = f"redis://127.0.0.1:{port}/0"
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    redis.Redis(port=port).ping()
                    break
                except redis.ConnectionError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.02)
            runs: dict[str, Callable[[], float]] = {
                "drain, observer=None": lambda: drain(url, n, None),
                "drain, no-op observer": lambda: drain(url, n, NoopObserver()),
                "drain, WorkerMetrics": lambda: drain(url, n, WorkerMetrics(CollectorRegistry())),
                "enqueue, no hook": lambda: enqueue(url, n, None),
                "enqueue, OpenTelemetry hook": lambda: enqueue(url, n, enqueue_hook(TracerProvider())),
            }
            rates: dict[str, list[float]] = {name: [] for name in runs}
            for _ in range(rounds):
                for name, run in runs.items():
                    rates[name].append(run())
        finally:
            proc.terminate()
            proc.wait(10)
    print(f"{n} tasks, {rounds} rounds (median tasks/s; ratio to the first of its group, per round)")
    for name, values in rates.items():
        base = "drain, observer=None" if name.startswith("drain") else "enqueue, no hook"
        ratio = statistics.median(v / b for v, b in zip(values, rates[base], strict=True))
        print(f"  {name:<30} {statistics.median(values):>9,.0f}/s   x{ratio:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
