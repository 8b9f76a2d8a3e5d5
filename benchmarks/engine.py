"""asynq-py's own figures, with truly no-op handlers, and their ratios within the run.

    .venv/bin/python benchmarks/engine.py [--tasks N] [--rounds R] [--drain-rounds R] [--no-go] [--smoke]
        [--loop uvloop]

Enqueue, in R interleaved rounds of N tasks each (round 1 of every measurement, then round 2 …,
so that a busy spell of a shared machine is spread over all of them):

* the floor: a bare redis-py EVALSHA loop of a trivial one-key script, no queue logic (and the
  same loop on the engine's own connections: ``engine/resp.py``'s socket, and awaited one call at
  a time on ``engine/pipelined.py``'s asyncio connection, which shows what asyncio adds; and on a
  bare asyncio ``Protocol``, the least any asyncio client pays);
* ``Client.enqueue`` and ``AsyncClient.enqueue`` one by one;
* ``AsyncClient.enqueue`` from 1, 10 and 100 concurrent coroutines (auto-pipelined);
* ``Client.enqueue_many``, 1,000 tasks a call.

The asynchronous measurements run on asyncio's own event loop, or on uvloop with ``--loop uvloop``
(uvicorn's default loop).

Each figure is the median over the rounds; each ratio is the median of the ratios taken within
one round. Then drain throughput, in interleaved rounds too (``--drain-rounds``, 3), for N no-op
``async def`` and ``def`` tasks with one and two worker processes, and for Go asynq v0.26.0
(``benchmarks/go``, built as ``run.py`` builds it) with an empty handler on the same N tasks: the
queue's own work per process, asynq-py's against Go's, with no probe in either handler.
Completion is read from the queue's processed counter, the same key for both, and the rate runs
from the first task done to the last (so Go's idle poll before its first dequeue is not counted);
the worker's CPU per task (user and system, every process of the worker) is given too. Then idle
enqueue-to-start latency, and worker peak RSS. ``run.py`` compares with every peer using a Redis
probe in each handler. Each worker is its own process, started and stopped here; the server is a
fresh valkey-server on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import hiredis
import redis
import redis.asyncio as aredis

from asynq_py.engine import (
    AsyncClient,
    Client,
    Inspector,
    RedisConnOpt,
    ServeMux,
    Server,
    ServerConfig,
    Task,
    keys,
)
from asynq_py.engine.embedded import server_binary
from asynq_py.engine.pipelined import PipelinedConnection
from asynq_py.engine.resp import BlockingConnection

LAT_KEY = "bench:latency"
PROCESSED_KEY = keys.processed_total_key("default")
"""Tasks processed in the queue, ever: Go's done script counts here as asynq-py's does."""

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


def _family(pid: int) -> list[int]:
    """The process and its children."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [pid, *(int(p) for p in children.read_text().split())] if children.exists() else [pid]


def _peak_rss_mib(pid: int) -> float:
    """Sum VmHWM over the process and its children."""
    total = 0
    for p in _family(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def _cpu_s(pid: int) -> float:
    """User and system CPU seconds of the process and its children so far."""
    total = 0
    for p in _family(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


@dataclass
class Drained:
    """One drain: tasks per second from the first task done to the last, the worker's CPU µs per
    task, and its peak RSS."""

    rate: float
    cpu_us: float
    rss_mib: float


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

    def start_worker(
        self, kind: str, processes: int, concurrency: int, go: Path | None = None
    ) -> subprocess.Popen[bytes]:
        """Start a worker: asynq-py's (``kind`` async or def), or Go asynq's with an empty handler."""
        if kind == "go":
            assert go is not None
            cmd = [str(go), "worker", "-url", self.url, "-concurrency", str(concurrency), "-empty", "noop"]
        else:
            cmd = [sys.executable, __file__, "--worker", kind, "--url", self.url,
                   "--processes", str(processes), "--concurrency", str(concurrency)]  # fmt: skip
        proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
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

    def floor_bare_asyncio(self, n: int) -> float:
        """The same loop on the least an asyncio client can be (a bare ``Protocol`` that writes each
        command and hands the reply to a future): the event loop's own share, whoever the client."""
        sha = self.raw.script_load("return redis.call('SET', KEYS[1], ARGV[1])")

        class Bare(asyncio.Protocol):
            def __init__(self) -> None:
                self.reader = hiredis.Reader()
                self.waiting: deque[asyncio.Future[Any]] = deque()
                self.transport: Any = None

            def connection_made(self, transport: Any) -> None:
                self.transport = transport
                transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def data_received(self, data: bytes) -> None:
                self.reader.feed(data)
                while (reply := self.reader.gets()) is not False:
                    self.waiting.popleft().set_result(reply)

            def send(self, *command: Any) -> asyncio.Future[Any]:
                future = asyncio.get_running_loop().create_future()
                self.waiting.append(future)
                self.transport.write(hiredis.pack_command(command))
                return future

        async def run() -> float:
            _, bare = await asyncio.get_running_loop().create_connection(Bare, "127.0.0.1", self.port)
            try:
                await bare.send("PING")
                t0 = time.perf_counter()
                for _ in range(n):
                    await bare.send("EVALSHA", sha, 1, "bench:floor", "v")
                return n / (time.perf_counter() - t0)
            finally:
                bare.transport.close()

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
            "floor on a bare asyncio Protocol": (n, lambda: self.floor_bare_asyncio(n)),
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

    def drain(self, kind: str, processes: int, n: int, concurrency: int, go: Path | None = None) -> Drained:
        """Drain ``n`` no-op tasks enqueued while the queue was paused."""
        self.raw.flushall()
        with Client(self.url) as client, Inspector(self.url) as inspector:
            client.enqueue(Task("noop"))  # registers the queue
            inspector.pause_queue("default")
            for start in range(0, n - 1, 1000):
                client.enqueue_many([Task("noop") for _ in range(min(1000, n - 1 - start))])
            proc = self.start_worker(kind, processes, concurrency, go)
            try:
                cpu = _cpu_s(proc.pid)
                inspector.unpause_queue("default")
                first: tuple[float, int] | None = None
                deadline = time.monotonic() + 300
                while (done := int(self.raw.get(PROCESSED_KEY) or 0)) < n:
                    if first is None and done > 0:
                        first = (time.perf_counter(), done)
                    if time.monotonic() > deadline:
                        raise TimeoutError("drain did not finish")
                    time.sleep(0.002)
                end = time.perf_counter()
                cpu = _cpu_s(proc.pid) - cpu
                rss = _peak_rss_mib(proc.pid)
            finally:
                self.stop_worker(proc)
        t0, done = first if first is not None else (end, 0)
        rate = (n - done) / (end - t0) if end > t0 else float("nan")
        return Drained(rate, cpu / n * 1e6, rss)

    def drain_rounds(
        self, n: int, concurrency: int, rounds: int, go: Path | None
    ) -> dict[tuple[str, int], list[Drained]]:
        """Every drain once per round, rounds interleaved (Go's only when ``go`` is given)."""
        cases = [("async", 1), ("async", 2), ("def", 1), ("def", 2)] + ([("go", 1)] if go else [])
        out: dict[tuple[str, int], list[Drained]] = {case: [] for case in cases}
        for _ in range(rounds):
            for kind, processes in cases:
                out[kind, processes].append(self.drain(kind, processes, n, concurrency, go))
        return out

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


def _drain_rows(drains: dict[tuple[str, int], list[Drained]], n: int) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for (kind, processes), runs in drains.items():
        what = "Go asynq v0.26.0, empty handler" if kind == "go" else f"no-op {kind} tasks"
        label = f"drain {n:,} {what}, {processes} process{'es' if processes > 1 else ''}"
        rate = statistics.median(d.rate for d in runs)
        cpu_us = statistics.median(d.cpu_us for d in runs)
        rss = max(d.rss_mib for d in runs)
        rows.append((label, f"{rate:,.0f}/s (worker CPU {cpu_us:.0f} µs a task, peak RSS {rss:.1f} MiB)"))
    rates = {f"{kind} {processes}": [d.rate for d in runs] for (kind, processes), runs in drains.items()}
    rows.append(("ratio: drain async, 2 / 1 processes", f"{_ratio(rates, 'async 2', 'async 1'):.2f}x"))
    for processes in (1, 2):
        label = f"ratio: drain async, {processes} process{'es' if processes > 1 else ''} / Go asynq"
        if "go 1" in rates:
            rows.append((label, f"{_ratio(rates, f'async {processes}', 'go 1'):.2f}x"))
        else:
            rows.append((label, "n/a (--smoke, --no-go or no Go toolchain)"))
    return rows


def _go_driver() -> Path | None:
    """The Go driver, built by ``run.py``'s rule; None without a Go toolchain."""
    if shutil.which("go") is None:
        return None
    from run import build_go_driver  # benchmarks/ is this script's folder, first on sys.path

    return build_go_driver()


def _free_port() -> int:
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
    p.add_argument("--drain-rounds", type=int, default=3, help="interleaved rounds of the drain figures")
    p.add_argument("--no-go", action="store_true", help="leave Go asynq out of the drain figures")
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
                    "ratio: floor on a bare asyncio Protocol / on resp.py",
                    f"{_ratio(rates, 'floor on a bare asyncio Protocol', 'floor on engine/resp.py'):.2f}x",
                ),
                (
                    "ratio: floor on pipelined.py / on resp.py",
                    f"{_ratio(rates, 'floor on engine/pipelined.py', 'floor on engine/resp.py'):.2f}x",
                ),
                ("ratio: async / sync", f"{_ratio(rates, 'async (= auto-pipelined x1)', 'sync'):.2f}x"),
                (
                    "ratio: async / floor on pipelined.py",
                    f"{_ratio(rates, 'async (= auto-pipelined x1)', 'floor on engine/pipelined.py'):.2f}x",
                ),
                (
                    "ratio: sync / floor on resp.py",
                    f"{_ratio(rates, 'sync', 'floor on engine/resp.py'):.2f}x",
                ),
                ("ratio: auto-pipelined x10 / sync", f"{_ratio(rates, 'auto-pipelined x10', 'sync'):.2f}x"),
                ("ratio: auto-pipelined x100 / sync", f"{_ratio(rates, 'auto-pipelined x100', 'sync'):.2f}x"),
                ("ratio: bulk / sync", f"{_ratio(rates, 'bulk', 'sync'):.2f}x"),
            ]
            if not args.enqueue_only:
                go = _go_driver() if not (args.smoke or args.no_go) else None
                drain_rounds = 1 if args.smoke else args.drain_rounds
                rows += _drain_rows(bench.drain_rounds(n, args.concurrency, drain_rounds, go), n)
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
