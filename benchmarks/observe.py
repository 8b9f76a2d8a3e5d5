"""What metrics and tracing cost per task, as ratios within one run.

    .venv/bin/python benchmarks/observe.py [--tasks N] [--rounds R] [--smoke]

Drain: a server in this process runs N no-op ``async def`` tasks (concurrency 10) with
``observer=None`` (the default), with an observer whose methods do nothing (an upper bound of
what the ``is None`` tests can cost: a call is dearer than a test), and with ``WorkerMetrics``.
Enqueue: ``Client.enqueue`` one by one with no hook and with the OpenTelemetry hook (SDK tracer
provider, no exporter). R interleaved rounds; each figure is the median, each ratio the median of
the ratios taken within one round. The server is a fresh valkey-server on loopback.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from typing import Any

import redis
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry

from asynq_py.engine import Client, Inspector, ServeMux, Server, ServerConfig, Task
from asynq_py.engine.embedded import server_binary
from asynq_py.engine.x.tracing import enqueue_hook
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


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", type=int, default=5000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--smoke", action="store_true", help="tiny sizes, to check that the script runs")
    args = p.parse_args()
    n, rounds = (200, 1) if args.smoke else (args.tasks, args.rounds)
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
