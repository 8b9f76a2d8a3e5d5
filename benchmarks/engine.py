"""asynq-py's own figures, with truly no-op handlers, and their ratios within the run.

    .venv/bin/python benchmarks/engine.py [--tasks N] [--rounds R] [--smoke] [--loop uvloop]

Enqueue, in R interleaved rounds of N tasks each (round 1 of every measurement, then round 2 …,
so that a busy spell of a shared machine is spread over all of them):

* the floor: a bare redis-py EVALSHA loop of a trivial one-key script, no queue logic (and the
  same loop on the engine's own connections: ``engine/resp.py``'s socket, and awaited one call at
  a time on ``engine/pipelined.py``'s asyncio connection, which shows what asyncio adds);
* ``Client.enqueue`` and ``AsyncClient.enqueue`` one by one;
* ``AsyncClient.enqueue`` from 1, 10 and 100 concurrent coroutines (auto-pipelined);
* ``Client.enqueue_many``, 1,000 tasks a call.

The asynchronous measurements run on asyncio's own event loop, or on uvloop with ``--loop uvloop``
(uvicorn's default loop).

Each figure is the median over the rounds; each ratio is the median of the ratios taken within
one round. Then drain throughput for N no-op ``async def`` and ``def`` tasks with one and two
worker processes, idle enqueue-to-start latency, and worker peak RSS. Completion is read from
the queue's processed counter (no probe call inside the handler; ``run.py`` compares with peers
using a Redis probe that every peer runs). Each worker is its own process, started and stopped
here; the server is a fresh valkey-server on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import redis
import redis.asyncio as aredis

from asynq_py.engine import AsyncClient, Client, Inspector, RedisConnOpt, ServeMux, Server, ServerConfig, Task
from asynq_py.engine.embedded import server_binary
from asynq_py.engine.pipelined import PipelinedConnection
from asynq_py.engine.resp import BlockingConnection

LAT_KEY = "bench:latency"

T = TypeVar("T")


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
    def __init__(self, workdir: Path, loop: str) -> None:
        self.loop = loop
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

    def run_async(self, main: Coroutine[Any, Any, T]) -> T:
        """Run ``main`` on a new event loop of the kind asked for."""
        if self.loop == "uvloop":
            import uvloop

            return uvloop.run(main)
        return asyncio.run(main)

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

    def floor(self, n: int) -> float:
        """EVALSHA of a trivial one-key script, one by one: what any Python client pays per call."""
        sha = self.raw.script_load("return redis.call('SET', KEYS[1], ARGV[1])")
        t0 = time.perf_counter()
        for _ in range(n):
            self.raw.evalsha(sha, 1, "bench:floor", "v")
        return n / (time.perf_counter() - t0)

    def floor_resp(self, n: int) -> float:
        """The same loop on ``engine/resp.py``'s socket, which ``Client`` uses: the transport's share."""
        sha = self.raw.script_load("return redis.call('SET', KEYS[1], ARGV[1])")
        conn = BlockingConnection(RedisConnOpt.from_url(self.url))
        try:
            conn.execute([("PING",)])
            t0 = time.perf_counter()
            for _ in range(n):
                conn.execute([("EVALSHA", sha, 1, "bench:floor", "v")])
            return n / (time.perf_counter() - t0)
        finally:
            conn.close()

    def floor_pipelined(self, n: int) -> float:
        """The same loop awaited on ``engine/pipelined.py``'s connection, which ``AsyncClient``
        uses, one call at a time: what asyncio adds to a round trip."""
        sha = self.raw.script_load("return redis.call('SET', KEYS[1], ARGV[1])")

        async def run() -> float:
            conn = PipelinedConnection(RedisConnOpt.from_url(self.url))
            try:
                await conn.execute([("PING",)])
                t0 = time.perf_counter()
                for _ in range(n):
                    await conn.execute([("EVALSHA", sha, 1, "bench:floor", "v")])
                return n / (time.perf_counter() - t0)
            finally:
                conn.close()

        return self.run_async(run())

    def sync_one_by_one(self, n: int) -> float:
        with Client(self.url) as client:
            task = Task("noop")
            client.enqueue(task)  # connects and registers the queue
            t0 = time.perf_counter()
            for _ in range(n):
                client.enqueue(task)
            return n / (time.perf_counter() - t0)

    def async_enqueue(self, n: int, enqueuers: int) -> float:
        """``enqueuers`` coroutines share one ``AsyncClient`` and enqueue ``n`` tasks in all."""

        async def run() -> float:
            async with AsyncClient(self.url) as client:
                task = Task("noop")
                await client.enqueue(task)
                each = n // enqueuers

                async def enqueuer() -> None:
                    for _ in range(each):
                        await client.enqueue(task)

                t0 = time.perf_counter()
                await asyncio.gather(*(enqueuer() for _ in range(enqueuers)))
                return each * enqueuers / (time.perf_counter() - t0)

        return self.run_async(run())

    def bulk(self, n: int) -> float:
        with Client(self.url) as client:
            client.enqueue(Task("noop"))
            t0 = time.perf_counter()
            for start in range(0, n, 1000):
                client.enqueue_many([Task("noop") for _ in range(min(1000, n - start))])
            return n / (time.perf_counter() - t0)

    def enqueue_rounds(self, n: int, rounds: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
        """Every enqueue measurement once per round, rounds interleaved; rates and this process's
        CPU µs per call (set-up included, kernel time too), per round."""
        steps: dict[str, tuple[int, Callable[[], float]]] = {
            "floor": (n, lambda: self.floor(n)),
            "floor on engine/resp.py": (n, lambda: self.floor_resp(n)),
            "floor on engine/pipelined.py": (n, lambda: self.floor_pipelined(n)),
            "sync": (n, lambda: self.sync_one_by_one(n)),
            "async (= auto-pipelined x1)": (n, lambda: self.async_enqueue(n, 1)),
            "auto-pipelined x10": (n, lambda: self.async_enqueue(n, 10)),
            "auto-pipelined x100": (n, lambda: self.async_enqueue(n, 100)),
            "bulk": (n * 4, lambda: self.bulk(n * 4)),
        }
        rates: dict[str, list[float]] = {name: [] for name in steps}
        cpu: dict[str, list[float]] = {name: [] for name in steps}
        for _ in range(rounds):
            for name, (count, step) in steps.items():
                self.raw.flushall()
                started = time.process_time()
                rates[name].append(step())
                cpu[name].append((time.process_time() - started) / count * 1e6)
        return rates, cpu

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


def _ratio(rates: dict[str, list[float]], num: str, den: str) -> float:
    return statistics.median(a / b for a, b in zip(rates[num], rates[den], strict=True))


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} CPUs"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", type=int, default=10_000)
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds of the enqueue figures")
    p.add_argument("--concurrency", type=int, default=10)
    p.add_argument("--smoke", action="store_true", help="tiny sizes, to check that the script runs")
    p.add_argument("--enqueue-only", action="store_true", help="only the enqueue figures and their ratios")
    p.add_argument(
        "--loop", choices=("asyncio", "uvloop"), default="asyncio", help="event loop of the async client"
    )
    p.add_argument("--worker", choices=("async", "def"))
    p.add_argument("--url")
    p.add_argument("--processes", type=int, default=1)
    args = p.parse_args()
    if args.worker:
        worker(args.url, args.worker, args.processes, args.concurrency)
        return 0
    n = 300 if args.smoke else args.tasks
    rounds = 1 if args.smoke else args.rounds
    load_before = _load()
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(Path(tmp), args.loop)
        try:
            rates, cpu = bench.enqueue_rounds(n, rounds)
            rows = [
                (
                    f"enqueue: {name}",
                    f"{statistics.median(r):,.0f}/s (client CPU {statistics.median(cpu[name]):.0f} µs)",
                )
                for name, r in rates.items()
            ]
            rows += [
                ("ratio: sync / floor", f"{_ratio(rates, 'sync', 'floor'):.2f}x"),
                (
                    "ratio: floor on pipelined.py / on resp.py",
                    f"{_ratio(rates, 'floor on engine/pipelined.py', 'floor on engine/resp.py'):.2f}x",
                ),
                ("ratio: async / sync", f"{_ratio(rates, 'async (= auto-pipelined x1)', 'sync'):.2f}x"),
                ("ratio: auto-pipelined x10 / sync", f"{_ratio(rates, 'auto-pipelined x10', 'sync'):.2f}x"),
                ("ratio: auto-pipelined x100 / sync", f"{_ratio(rates, 'auto-pipelined x100', 'sync'):.2f}x"),
                ("ratio: bulk / sync", f"{_ratio(rates, 'bulk', 'sync'):.2f}x"),
            ]
            drains: dict[tuple[str, int], float] = {}
            for kind in () if args.enqueue_only else ("async", "def"):
                for processes in (1, 2):
                    rate, rss = bench.drain(kind, processes, n, args.concurrency)
                    drains[kind, processes] = rate
                    plural = "es" if processes > 1 else ""
                    label = f"drain {n:,} no-op {kind} tasks, {processes} process{plural}"
                    rows.append((label, f"{rate:,.0f}/s (peak RSS {rss:.1f} MiB)"))
            if not args.enqueue_only:
                two_to_one = drains["async", 2] / drains["async", 1]
                rows.append(("ratio: drain async, 2 / 1 processes", f"{two_to_one:.2f}x"))
                p50, p95, p99 = bench.latency(30 if args.smoke else 300)
                figures = f"p50 {p50:.2f} ms, p95 {p95:.2f} ms, p99 {p99:.2f} ms"
                rows.append(("idle enqueue-to-start latency", figures))
        finally:
            bench.close()
    width = max(len(label) for label, _ in rows)
    print(f"asynq-py engine benchmark: N {n:,}, {rounds} enqueue rounds, concurrency {args.concurrency}, "
          f"{args.loop} loop, Python {sys.version.split()[0]}")  # fmt: skip
    print(f"  before: {load_before}; after: {_load()}")
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
