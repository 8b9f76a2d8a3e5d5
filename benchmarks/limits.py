"""Flow control's cost and accuracy (issue 17), measured in one run on a fresh valkey-server.

    .venv/bin/python benchmarks/limits.py [--tasks N] [--rounds R] [--smoke]

1. Overhead on a queue without limits: the drain rate of N no-op ``async def`` tasks by one worker
   process (concurrency 10) of this tree, with the dequeue script from before flow control (Go's
   path: ``BASELINE``'s ``dequeue.lua``, read with ``git show``, and a plan that parses its reply)
   and with the current one, in R interleaved rounds (every other one in the other order); the
   ratio is the median of the ratios within each round. Everything else in the two workers is the
   same code. Reported are the rate and the worker's CPU time per task (from ``/proc``).
2. Redis work per dequeue call taking one task: the commands the script runs and the Redis time it
   takes (``INFO commandstats``), for the baseline script and for this one without limits and with
   each kind of limit (set high enough never to bind, so every call takes a task).
3. The rate limiter's accuracy: 3 worker processes of concurrency 10 draining no-op tasks under a
   rate with burst 1; the handlers record their start times; reported are the mean rate and the
   smallest and largest count of a full 1 s window after the first.
"""

from __future__ import annotations

import argparse
import hashlib
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
import redis.asyncio as aredis

from asynq_py.engine import (
    Client,
    Inspector,
    Limit,
    QueueLimits,
    Rate,
    ServeMux,
    Server,
    ServerConfig,
    Task,
    keys,
    rdb,
)
from asynq_py.engine.broker import Broker
from asynq_py.engine.calls import Command, Plan
from asynq_py.engine.embedded import server_binary

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import ValkeyServer

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "c729205"
"""The last commit before the dequeue script learnt flow control (it added only the key helpers)."""
STARTS_KEY = "bench:starts"
QUEUE = "default"


def baseline_script() -> str:
    """The dequeue script from before flow control."""
    found = subprocess.run(
        ["git", "show", f"{BASELINE}:engine/scripts/dequeue.lua"], cwd=ROOT, capture_output=True, check=True
    )
    return found.stdout.decode()


def use_baseline_dequeue() -> None:
    """Make this process dequeue with the baseline script (Go's path, no limits, no hold).

    The script is sent as a plain ``EVALSHA`` (the parent loaded it into the server): the same
    bytes on the wire as the engine's script calls.
    """
    sha = hashlib.sha1(baseline_script().encode(), usedforsecurity=False).hexdigest()

    def dequeue(
        queues: list[str], *, now: float, count: int, lease_s: int = rdb.LEASE_DURATION_S, relay: bool = False
    ) -> Plan[rdb.Fetched]:
        # (relay is ignored: Go's path passes no wake-up on, docs/wire.md §2.4)
        expiry = int(now) + lease_s
        for q in queues:
            names = (keys.pending_key(q), keys.paused_key(q), keys.active_key(q), keys.lease_key(q))
            reply = yield Command(
                ("EVALSHA", sha, len(names), *names, expiry, keys.task_key_prefix(q), count)
            )
            if reply:
                tasks = [
                    rdb.Dequeued(reply[i].decode(), reply[i + 1], q, expiry, int(reply[i + 2] or 0))
                    for i in range(0, len(reply), 3)
                ]
                return rdb.Fetched(tasks, {})
        return rdb.Fetched([], {})

    rdb.dequeue = dequeue  # type: ignore[assignment]


def worker(url: str, concurrency: int, record: bool, baseline: bool) -> None:
    """Serve ``default`` with no-op handlers; with ``record`` each start's time goes to Redis."""
    if baseline:
        use_baseline_dequeue()
    mux = ServeMux()
    probe = aredis.Redis.from_url(url)

    async def noop(ctx: object, task: Task) -> None:
        if record:
            await probe.rpush(STARTS_KEY, repr(time.time()))

    mux.handle_func("noop", noop)
    Server(url, ServerConfig(concurrency=concurrency, queues={QUEUE: 1})).run(mux)


class Bench:
    """A valkey-server and the worker processes started against it."""

    def __init__(self, workdir: Path) -> None:
        self.server = ValkeyServer(server_binary(), workdir)
        self.url = self.server.url
        self.raw = redis.Redis(port=self.server.port)
        self.raw.script_load(baseline_script())  # for the baseline workers (FLUSHALL keeps scripts)

    def close(self) -> None:
        self.raw.close()
        self.server.stop()

    def start_workers(self, count: int, concurrency: int, *, baseline: bool, record: bool) -> list[Any]:
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--worker",
                    "--url",
                    self.url,
                    "--concurrency",
                    str(concurrency),
                    *(["--record"] if record else []),
                    *(["--baseline"] if baseline else []),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            for _ in range(count)
        ]
        with Inspector(self.url) as inspector:
            deadline = time.monotonic() + 30
            while len(inspector.servers()) < count:
                if time.monotonic() > deadline:
                    raise TimeoutError("the workers did not start")
                time.sleep(0.05)
        return procs

    @staticmethod
    def stop_workers(procs: list[Any]) -> None:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)

    def fill(self, n: int, limits: QueueLimits | None = None) -> None:
        """An empty database with ``n`` no-op tasks pending in the paused queue."""
        self.raw.flushall()
        with Client(self.url) as client, Inspector(self.url) as inspector:
            client.enqueue(Task("noop"))  # registers the queue
            inspector.pause_queue(QUEUE)
            for start in range(0, n - 1, 1000):
                client.enqueue_many([Task("noop") for _ in range(min(1000, n - 1 - start))])
        if limits is not None:
            self.raw.hset(keys.limits_key(QUEUE), mapping=limits.to_fields())  # type: ignore[arg-type]

    def drain(self, n: int, *, baseline: bool) -> tuple[float, float]:
        """(tasks per second, worker CPU µs per task) of one worker process draining a queue without
        limits. CPU time depends far less than the rate on what else the machine runs."""
        self.fill(n)
        procs = self.start_workers(1, 10, baseline=baseline, record=False)
        try:
            with Inspector(self.url) as inspector:
                cpu = _cpu_s(procs[0].pid)
                t0 = time.perf_counter()
                inspector.unpause_queue(QUEUE)
                deadline = time.monotonic() + 300
                while inspector.get_queue_info(QUEUE).processed < n:
                    if time.monotonic() > deadline or procs[0].poll() is not None:
                        raise TimeoutError("drain did not finish (or its worker died)")
                    time.sleep(0.005)
                rate = n / (time.perf_counter() - t0)
                return rate, (_cpu_s(procs[0].pid) - cpu) / n * 1e6
        finally:
            self.stop_workers(procs)

    def redis_work(self, n: int, limits: QueueLimits | None, *, baseline: bool) -> tuple[float, float]:
        """(commands run inside the script, Redis µs) per dequeue call taking one task."""
        self.fill(n, limits)
        self.raw.delete(keys.paused_key(QUEUE))
        broker = Broker(self.raw)
        old_sha = self.raw.script_load(baseline_script())
        expiry = int(time.time()) + 3600
        old_keys = [
            keys.pending_key(QUEUE),
            keys.paused_key(QUEUE),
            keys.active_key(QUEUE),
            keys.lease_key(QUEUE),
        ]
        self.raw.config_resetstat()
        for _ in range(n):
            if baseline:
                (task_id, *_) = self.raw.evalsha(
                    old_sha, 4, *old_keys, expiry, keys.task_key_prefix(QUEUE), 1
                )
            else:
                (item,) = broker.run(rdb.dequeue([QUEUE], now=time.time(), count=1)).tasks
                task_id = item.task_id
            # What an outcome does to the task's slot, so that the type slot zsets stay small.
            self.raw.lrem(keys.active_key(QUEUE), 0, task_id)
            self.raw.zrem(keys.lease_key(QUEUE), task_id)
        stats = self.raw.info("commandstats")
        calls = {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}
        script_usec = sum(
            int(v["usec"]) for name, v in stats.items() if name in ("cmdstat_evalsha", "cmdstat_eval")
        )
        outside = {"evalsha", "eval", "lrem", "zrem", "config|resetstat", "config", "script|load"}
        inside = sum(c for name, c in calls.items() if name not in outside)
        # LREM and ZREM also run inside the script (type-slot cleanup) only when a limit is set:
        inside += max(0, calls.get("zrem", 0) - n) + max(0, calls.get("lrem", 0) - n)
        broker.close()
        return inside / n, script_usec / n

    def accuracy(self, n: int, rate: int) -> tuple[float, int, int, list[int]]:
        """(mean starts/s, fewest and most starts in a full 1 s window after the first, all windows)."""
        self.fill(n, QueueLimits(rate=Rate(rate, 1000, 1)))
        procs = self.start_workers(3, 10, baseline=False, record=True)
        try:
            with Inspector(self.url) as inspector:
                inspector.unpause_queue(QUEUE)
                deadline = time.monotonic() + 60 + 2 * n / rate
                while self.raw.llen(STARTS_KEY) < n:
                    if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                        raise TimeoutError("the rate-limited drain did not finish")
                    time.sleep(0.05)
        finally:
            self.stop_workers(procs)
        starts = sorted(float(t) for t in self.raw.lrange(STARTS_KEY, 0, -1))
        full = int(starts[-1] - starts[0])
        windows = [sum(1 for t in starts if starts[0] + i <= t < starts[0] + i + 1) for i in range(full)]
        later = windows[1:] or windows or [len(starts)]
        mean = (len(starts) - 1) / (starts[-1] - starts[0])
        return mean, min(later), max(later), windows


def _cpu_s(pid: int) -> float:
    """User plus system CPU seconds of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min), {os.cpu_count()} CPUs"


def report_overhead(bench: Bench, n: int, rounds: int) -> None:
    runs: dict[str, list[tuple[float, float]]] = {"before": [], "after": []}
    for i in range(rounds):
        # Every other round runs flow control first, so that an order effect cancels out.
        for key in ("before", "after") if i % 2 == 0 else ("after", "before"):
            runs[key].append(bench.drain(n, baseline=key == "before"))
    print("\n1. Drain of a queue without limits, 1 process, concurrency 10 (medians of the rounds)")
    print(f"   {'':20} {'tasks/s':>9} {'CPU µs/task':>12}")
    for name, key in ((f"Go's path ({BASELINE})", "before"), ("flow control", "after")):
        rate = statistics.median(r for r, _ in runs[key])
        cpu = statistics.median(c for _, c in runs[key])
        print(
            f"   {name:20} {rate:9,.0f} {cpu:12.1f}   rates: {', '.join(f'{r:,.0f}' for r, _ in runs[key])}"
        )
    pairs = list(zip(runs["after"], runs["before"], strict=True))
    rate_ratio = statistics.median(a[0] / b[0] for a, b in pairs)
    cpu_ratio = statistics.median(a[1] / b[1] for a, b in pairs)
    print(f"   {'after / before':20} {rate_ratio:9.3f} {cpu_ratio:12.3f}   (target: rate >= 0.97)")


def report_redis_work(bench: Bench, calls: int) -> None:
    never = 1_000_000
    rate = Rate(never, 1000, never)
    typed = {"noop": Limit(concurrency=never)}
    scenarios: list[tuple[str, QueueLimits | None, bool]] = [
        (f"before ({BASELINE}), no limits", None, True),
        ("after, no limits", None, False),
        ("after, queue concurrency", QueueLimits(concurrency=never), False),
        ("after, queue rate", QueueLimits(rate=rate), False),
        ("after, type concurrency", QueueLimits(types=typed), False),
        ("after, all three", QueueLimits(concurrency=never, rate=rate, types=typed), False),
    ]
    print(f"\n2. Redis work per dequeue call taking one task ({calls:,} calls each)")
    print(f"   {'':32} {'commands':>9} {'Redis µs':>9}")
    base_usec = 0.0
    for name, limits, baseline in scenarios:
        commands, usec = bench.redis_work(calls, limits, baseline=baseline)
        base_usec = base_usec or usec
        print(f"   {name:32} {commands:9.1f} {usec:9.1f}   ({usec / base_usec:.2f}x)")


def report_accuracy(bench: Bench, plans: list[tuple[int, int]]) -> None:
    print("\n3. Rate limiter accuracy, burst 1, 3 processes of concurrency 10")
    for rate, count in plans:
        mean, low, high, windows = bench.accuracy(count, rate)
        error = (mean - rate) / rate
        print(
            f"   {rate}/s: mean {mean:.1f}/s ({error:+.1%}); full 1 s windows after the first: {low}-{high}"
        )
        print(f"      windows: {windows}")


def main() -> int:
    """Run the measurements (or, with ``--worker``, one worker process)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", type=int, default=20_000, help="tasks per drain (default 20,000)")
    p.add_argument("--rounds", type=int, default=5, help="interleaved drain rounds (default 5)")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, to check that the script runs")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--concurrency", type=int, default=10, help=argparse.SUPPRESS)
    p.add_argument("--record", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--baseline", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args.url, args.concurrency, args.record, args.baseline)
        return 0
    n = 300 if args.smoke else args.tasks
    rounds = 1 if args.smoke else args.rounds
    print(f"benchmarks/limits.py: {n} tasks per drain, {rounds} rounds; {_load()}")
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(Path(tmp))
        try:
            report_overhead(bench, n, rounds)
            report_redis_work(bench, 200 if args.smoke else 5_000)
            report_accuracy(bench, [(50, 60), (200, 240)] if args.smoke else [(50, 500), (200, 2_000)])
        finally:
            bench.close()
    print(f"\n{_load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
