"""asynq-py's own figures (issue 3's list), with truly no-op handlers.

    .venv/bin/python benchmarks/engine.py [--tasks N] [--smoke]

Prints enqueue rates (one by one and ``enqueue_many``), drain throughput for N no-op ``async def``
and ``def`` tasks with one and two worker processes, idle enqueue-to-start latency, and worker
peak RSS. Completion is read from the queue's processed counter (no probe call inside the
handler; ``run.py`` compares with peers using a Redis probe that every peer runs). Each worker is
its own process, started and stopped here; the server is a fresh valkey-server on loopback.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis
import redis.asyncio as aredis

from asynq_py.engine import Client, Inspector, ServeMux, Server, ServerConfig, Task
from asynq_py.engine.embedded import server_binary

LAT_KEY = "bench:latency"


def worker(url: str, kind: str, processes: int, concurrency: int) -> None:
    """Run a server whose handlers do nothing (``lat`` records its start delay)."""
    mux = ServeMux()
    probe = aredis.Redis.from_url(url)
    if kind == "async":

        async def noop(ctx: object, task: Task) -> None:
            return None

        mux.handle_func("noop", noop)
    else:

        def noop_sync(ctx: object, task: Task) -> None:
            return None

        mux.handle_func("noop", noop_sync)

    async def lat(ctx: object, task: Task) -> None:
        await probe.rpush(LAT_KEY, time.time() - task.payload.get_float("t"))

    mux.handle_func("lat", lat)
    Server(url, ServerConfig(concurrency=concurrency, processes=processes)).run(mux)


def _peak_rss_mib(pid: int) -> float:
    """Sum VmHWM over the process and its children."""
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    total = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


class Bench:
    def __init__(self, workdir: Path) -> None:
        self.port = _free_port()
        self.proc = subprocess.Popen(
            [str(server_binary()), "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(workdir)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.raw = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.raw.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)

    def start_worker(self, kind: str, processes: int, concurrency: int) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", kind, "--url", self.url, "--processes", str(processes),
             "--concurrency", str(concurrency)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        with Inspector(self.url) as inspector:
            deadline = time.monotonic() + 20
            while len(inspector.servers()) < processes:
                if time.monotonic() > deadline:
                    raise TimeoutError("worker did not start")
                time.sleep(0.05)
        return proc

    @staticmethod
    def stop_worker(proc: subprocess.Popen[bytes]) -> None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def enqueue_rates(self, n: int) -> tuple[float, float]:
        self.raw.flushall()
        with Client(self.url) as client:
            task = Task("noop")
            t0 = time.perf_counter()
            for _ in range(n // 4):
                client.enqueue(task)
            one = (n // 4) / (time.perf_counter() - t0)
            self.raw.flushall()
            t0 = time.perf_counter()
            for start in range(0, n, 1000):
                client.enqueue_many([Task("noop") for _ in range(min(1000, n - start))])
            many = n / (time.perf_counter() - t0)
        return one, many

    def drain(self, kind: str, processes: int, n: int, concurrency: int) -> tuple[float, float]:
        self.raw.flushall()
        with Client(self.url) as client, Inspector(self.url) as inspector:
            client.enqueue(Task("noop"))  # registers the queue
            inspector.pause_queue("default")
            for start in range(0, n - 1, 1000):
                client.enqueue_many([Task("noop") for _ in range(min(1000, n - 1 - start))])
            proc = self.start_worker(kind, processes, concurrency)
            try:
                t0 = time.perf_counter()
                inspector.unpause_queue("default")
                deadline = time.monotonic() + 300
                while inspector.get_queue_info("default").processed < n:
                    if time.monotonic() > deadline:
                        raise TimeoutError("drain did not finish")
                    time.sleep(0.005)
                rate = n / (time.perf_counter() - t0)
                rss = _peak_rss_mib(proc.pid)
            finally:
                self.stop_worker(proc)
        return rate, rss

    def latency(self, count: int) -> tuple[float, float, float]:
        self.raw.flushall()
        proc = self.start_worker("async", 1, 10)
        try:
            with Client(self.url) as client:
                time.sleep(0.5)
                for _ in range(count):
                    client.enqueue(Task("lat", {"t": time.time()}))
                    time.sleep(0.02)
            deadline = time.monotonic() + 30
            while self.raw.llen(LAT_KEY) < count and time.monotonic() < deadline:
                time.sleep(0.05)
            values = sorted(float(v) * 1000 for v in self.raw.lrange(LAT_KEY, 0, -1))
        finally:
            self.stop_worker(proc)
        q = statistics.quantiles(values, n=100, method="inclusive")
        return q[49], q[94], q[98]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", type=int, default=10_000)
    p.add_argument("--concurrency", type=int, default=10)
    p.add_argument("--smoke", action="store_true", help="tiny sizes, to check that the script runs")
    p.add_argument("--worker", choices=("async", "def"))
    p.add_argument("--url")
    p.add_argument("--processes", type=int, default=1)
    args = p.parse_args()
    if args.worker:
        worker(args.url, args.worker, args.processes, args.concurrency)
        return 0
    n = 300 if args.smoke else args.tasks
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(Path(tmp))
        try:
            one, many = bench.enqueue_rates(n * 2)
            rows = [("enqueue one by one", f"{one:,.0f}/s"), ("enqueue_many (1000 a call)", f"{many:,.0f}/s")]
            for kind in ("async", "def"):
                for processes in (1, 2):
                    rate, rss = bench.drain(kind, processes, n, args.concurrency)
                    plural = "es" if processes > 1 else ""
                    label = f"drain {n:,} no-op {kind} tasks, {processes} process{plural}"
                    rows.append((label, f"{rate:,.0f}/s (peak RSS {rss:.1f} MiB)"))
            p50, p95, p99 = bench.latency(30 if args.smoke else 300)
            figures = f"p50 {p50:.2f} ms, p95 {p95:.2f} ms, p99 {p99:.2f} ms"
            rows.append(("idle enqueue-to-start latency", figures))
        finally:
            bench.close()
    width = max(len(label) for label, _ in rows)
    print(f"asynq-py engine benchmark: concurrency {args.concurrency}, Python {sys.version.split()[0]}")
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
