"""Flow-control scenarios of issue 17 on any Redis topology, with real worker processes.

Each scenario starts worker processes running ``tests/engine/worker_app.py`` (fast profile) that
record every handler start and end in one ledger file; the checks read the handlers' own
timestamps from it. tests/engine/test_flow_control.py runs them on the standalone server,
tests/chaos/test_flow_topologies.py on the Cluster and Sentinel fixtures.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

from chaos.harness import WorkerProc
from helpers import unique_queue, wait_for

from asynq_py.engine import (
    Client,
    Inspector,
    Limit,
    QueueLimits,
    Rate,
    Server,
    ServerConfig,
    Task,
    TaskState,
    keys,
    rdb,
)
from asynq_py.engine.broker import Broker
from asynq_py.engine.calls import Command, Script
from asynq_py.engine.holds import MAX_HOLD_S
from asynq_py.engine.wire import TaskMessage, encode_task_message

WORKER_APP = Path(__file__).parents[1] / "engine" / "worker_app.py"
WORKER_LIFETIME_S = 120.0
"""A watchdog kills any worker still running after this long, whatever the test does."""
RETAIN = 300
"""Retention (s) of test tasks, so that finished ones stay visible as completed."""


@dataclass
class Fleet:
    """Worker processes serving one queue on one Redis, and the ledger they write."""

    url: str
    queue: str
    workdir: Path
    workers: list[WorkerProc] = field(default_factory=list)

    @property
    def ledger(self) -> Path:
        return self.workdir / "ledger.jsonl"

    def start(self, count: int = 3, concurrency: int = 10) -> list[WorkerProc]:
        """Start ``count`` worker processes and wait until each one's server is up."""
        started = []
        for _ in range(count):
            command = [sys.executable, str(WORKER_APP), "--redis", self.url, "--queue", self.queue,
                       "--ledger", str(self.ledger), "--concurrency", str(concurrency)]  # fmt: skip
            log = self.workdir / f"worker{len(self.workers)}.log"
            worker = WorkerProc(command, log, WORKER_LIFETIME_S, concurrency)
            self.workers.append(worker)
            started.append(worker)
        with Inspector(self.url) as inspector:

            def up() -> bool:
                for w in started:
                    assert w.alive(), f"worker exited early:\n{w.log()}"
                pids = {s.pid for s in inspector.servers() if self.queue in s.queues}
                return all(w.pid in pids for w in started)

            wait_for(up, 30, "the workers' heartbeats")
        return started

    def stop(self) -> None:
        """SIGKILL every worker (idempotent)."""
        for worker in self.workers:
            worker.kill()

    def set_limits(self, limits: QueueLimits) -> None:
        """Replace the queue's limits hash (what the Inspector's limits API writes)."""
        key = keys.limits_key(self.queue)
        fields = [x for pair in limits.to_fields().items() for x in pair]
        broker = Broker(self.url)
        try:
            broker.execute(Command(("DEL", key)))
            if fields:
                broker.execute(Command(("HSET", key, *fields)))
        finally:
            broker.close()

    def records(self) -> list[dict[str, Any]]:
        """The ledger's records so far."""
        if not self.ledger.exists():
            return []
        return [json.loads(line) for line in self.ledger.read_text().splitlines() if line.strip()]

    def wait_ended(self, count: int, timeout: float, task_type: str | None = None) -> list[dict[str, Any]]:
        """Wait until ``count`` runs (of ``task_type``) ended; return the ledger's records."""

        def ended() -> list[dict[str, Any]] | None:
            records = self.records()
            done = [r for r in records if r["ev"] == "end" and task_type in (None, r["type"])]
            return records if len(done) >= count else None

        found: list[dict[str, Any]] = wait_for(ended, timeout, f"{count} ended runs")
        return found


def intervals(records: list[dict[str, Any]], task_type: str | None = None) -> list[tuple[float, float]]:
    """(start, end) of every run of ``task_type`` that ended, from the handlers' own timestamps."""
    starts: dict[tuple[str, int], float] = {}
    out = []
    seen: dict[str, int] = {}
    for r in sorted(records, key=lambda r: r["t"]):
        if task_type is not None and r["type"] != task_type:
            continue
        if r["ev"] == "start":
            n = seen.get(r["id"], 0)
            seen[r["id"]] = n + 1
            starts[(r["id"], n)] = r["t"]
        else:
            n = seen.get(r["id"], 1) - 1
            out.append((starts.pop((r["id"], n)), r["t"]))
    return out


def max_overlap(runs: list[tuple[float, float]], since: float = float("-inf")) -> int:
    """The largest number of runs executing at once at any instant at or after ``since``."""
    clipped = [(max(s, since), e) for s, e in runs if e >= since]
    # An end and a start at the same instant do not overlap: ends (-1) sort first.
    events = sorted([(s, 1) for s, _ in clipped] + [(e, -1) for _, e in clipped])
    live = best = 0
    for _, step in events:
        live += step
        best = max(best, live)
    return best


def starts_per_window(starts: list[float], width_s: float = 1.0) -> list[int]:
    """Counts of ``starts`` in consecutive windows from the first start; the last partial one dropped."""
    first, last = min(starts), max(starts)
    full = int((last - first) // width_s)
    counts = [0] * full
    for t in starts:
        i = int((t - first) // width_s)
        if i < full:
            counts[i] += 1
    return counts


def enqueue(url: str, queue: str, tasks: list[Task]) -> list[str]:
    """Enqueue ``tasks`` (retained, so finished ones stay visible); return their ids in order."""
    with Client(url) as client:
        return [client.enqueue(t, queue=queue, retention=RETAIN).id for t in tasks]


def drained(fleet: Fleet, ids: list[str], timeout: float) -> None:
    """Wait until every task in ``ids`` is completed."""
    with Inspector(fleet.url) as inspector:

        def done() -> bool:
            info = inspector.get_queue_info(fleet.queue)
            return info.completed >= len(ids)

        wait_for(done, timeout, f"{len(ids)} completed tasks")
        for task_id in ids:
            assert inspector.get_task_info(fleet.queue, task_id).state == TaskState.COMPLETED


# The scenarios. Each returns its figures (printed by the tests, quoted in docs/benchmarks.md).


def queue_concurrency(fleet: Fleet, tasks: int = 40, ms: int = 200) -> dict[str, float]:
    """(a) Queue limit 2: at most 2 runs overlap, exactly 2 at the peak, and the run takes long enough."""
    fleet.set_limits(QueueLimits(concurrency=2))
    ids = enqueue(fleet.url, fleet.queue, [Task("asleep", {"ms": ms}) for _ in range(tasks)])
    fleet.start()
    records = fleet.wait_ended(tasks, 30 + tasks * ms / 1000)
    runs = intervals(records)
    span = max(e for _, e in runs) - min(s for s, _ in runs)
    assert max_overlap(runs) == 2
    assert span >= tasks * ms / 1000 / 2 * 0.95, span
    drained(fleet, ids, 10)
    return {"max_overlap": max_overlap(runs), "span_s": span}


def queue_rate(fleet: Fleet, tasks: int = 500, rate: int = 50) -> dict[str, Any]:
    """(b) Rate N/s, burst 1: every full 1 s window after the first holds N +- 10 % starts.

    The first window holds the start-up of three processes racing for the first slots; every later
    full window is the limiter's steady state. The limiter alone bounds a window from above, so
    every window is checked against N + 10 %. Its lower bound also needs the servers to run: a gap
    of more than 3 intervals between two starts is the whole fleet stalled (a loaded machine, which
    no limiter makes up for), and a window may fall short of N - 10 % by the slots that came due
    while the fleet stalled in it, and no more.
    """
    fleet.set_limits(QueueLimits(rate=Rate(rate, 1000, 1)))
    enqueue(fleet.url, fleet.queue, [Task("ok") for _ in range(tasks)])
    fleet.start()
    records = fleet.wait_ended(tasks, 30 + 2 * tasks / rate)
    starts = sorted(r["t"] for r in records if r["ev"] == "start")
    windows = starts_per_window(starts)
    assert windows[1:], windows
    assert all(n <= rate + rate // 10 for n in windows[1:]), windows
    interval = 1 / rate
    stalls = [(a + interval, b) for a, b in pairwise(starts) if b - a > 3 * interval]
    stalled_s = [stalled_in(stalls, starts[0] + i, starts[0] + i + 1) for i in range(len(windows))]
    floors = [rate - rate // 10 - math.ceil(rate * s) for s in stalled_s]
    assert all(n >= floor for n, floor in zip(windows[1:], floors[1:], strict=True)), (windows, floors)
    mean = (len(starts) - 1) / (starts[-1] - starts[0])
    return {"windows": windows, "stalled_s": [round(s, 3) for s in stalled_s], "mean_rate": mean}


def stalled_in(stalls: list[tuple[float, float]], start: float, end: float) -> float:
    """Seconds of ``stalls`` (intervals) that fall inside the window [start, end)."""
    return sum(max(0.0, min(b, end) - max(a, start)) for a, b in stalls)


def type_limit(fleet: Fleet, limited: int = 20, others: int = 300, ms: int = 200) -> dict[str, float]:
    """(c) A type limited to 1 in a mixed queue: one at a time, and the other types do not wait."""
    fleet.set_limits(QueueLimits(types={"sleep": Limit(concurrency=1)}))
    # The limited type spread evenly through the queue, so that every fetch meets it.
    step = (limited + others) // limited
    tasks = [Task("sleep", {"ms": ms}) if i % step == 0 else Task("ok") for i in range(limited * step)]
    ids = enqueue(fleet.url, fleet.queue, tasks)
    fleet.start()
    records = fleet.wait_ended(len(tasks), 30 + limited * ms / 1000)
    slow_runs = intervals(records, "sleep")
    fast_runs = intervals(records, "ok")
    assert max_overlap(slow_runs) == 1
    first = min(s for s, _ in slow_runs + fast_runs)
    fast_done = max(e for _, e in fast_runs) - first
    slow_done = max(e for _, e in slow_runs) - first
    # The other type finished while the limited one had most of its serial run still ahead.
    assert fast_done < slow_done / 2, (fast_done, slow_done)
    drained(fleet, ids, 10)
    return {"others_done_s": fast_done, "limited_done_s": slow_done}


def limit_change(fleet: Fleet, ms: int = 300) -> dict[str, float]:
    """(d) A limit changed while tasks run takes effect within 1 s, raised and lowered."""
    fleet.set_limits(QueueLimits(concurrency=2))
    enqueue(fleet.url, fleet.queue, [Task("asleep", {"ms": ms}) for _ in range(80)])
    fleet.start()
    fleet.wait_ended(4, 20)
    raised_at = time.time()
    fleet.set_limits(QueueLimits(concurrency=6))

    def overlap_above_2() -> float | None:
        records = fleet.records()
        runs = intervals(records) + [(s, float("inf")) for s in _open_starts(records)]
        return _first_time_overlap_exceeds(runs, 2, raised_at)

    raise_s = wait_for(overlap_above_2, 10, "overlap above the old limit") - raised_at
    lowered_at = time.time()
    fleet.set_limits(QueueLimits(concurrency=1))
    time.sleep(1.0 + ms / 1000 + 1.0)
    records = fleet.records()
    runs = intervals(records) + [(s, float("inf")) for s in _open_starts(records)]
    # Runs started before the change may still be finishing for one task length after it.
    settled = lowered_at + 1.0 + ms / 1000
    assert max_overlap(runs, since=settled) <= 1
    late = [s for s, _ in runs if lowered_at + 1.0 <= s]
    assert late, "no task started after the limit was lowered"
    assert raise_s <= 1.0, raise_s
    return {"raise_s": raise_s}


def _open_starts(records: list[dict[str, Any]]) -> list[float]:
    """Start times of runs that have not ended yet."""
    count: dict[str, list[float]] = {}
    for r in sorted(records, key=lambda r: r["t"]):
        if r["ev"] == "start":
            count.setdefault(r["id"], []).append(r["t"])
        elif count.get(r["id"]):
            count[r["id"]].pop(0)
    return [t for ts in count.values() for t in ts]


def _first_time_overlap_exceeds(runs: list[tuple[float, float]], limit: int, since: float) -> float | None:
    events = sorted([(s, 1) for s, _ in runs] + [(e, -1) for _, e in runs if e != float("inf")])
    live = 0
    for t, step in events:
        live += step
        if t >= since and live > limit:
            return t
    return None


def throttle(fleet: Fleet, handler: str = "throttle") -> dict[str, float]:
    """(e) A handler raising RateLimited 3 times then succeeding: completed, retry count 0."""
    (task_id,) = enqueue(fleet.url, fleet.queue, [Task(handler, {"times": 3, "after": 0.2})])
    fleet.start(count=1)
    fleet.wait_ended(4, 30)
    drained(fleet, [task_id], 10)
    with Inspector(fleet.url) as inspector:
        info = inspector.get_task_info(fleet.queue, task_id)
        queue = inspector.get_queue_info(fleet.queue)
    assert info.retried == 0
    assert (info.last_error, info.last_failed_at) == ("", None)
    assert (queue.failed, queue.failed_total) == (0, 0)
    broker = Broker(fleet.url)
    try:
        total = broker.execute(Command(("GET", keys.throttled_total_key(fleet.queue))))
        today = broker.execute(Command(("GET", keys.throttled_key(fleet.queue, datetime.now(UTC)))))
    finally:
        broker.close()
    assert (int(total), int(today)) == (3, 3)
    starts = [r["t"] for r in fleet.records() if r["ev"] == "start"]
    gaps = [b - a for a, b in pairwise(starts)]
    assert all(g >= 0.2 - 0.05 for g in gaps), gaps  # rescheduled at least retry_after later
    return {"runs": len(starts)}


def crash_frees_slots(fleet: Fleet) -> dict[str, float]:
    """(f) A worker SIGKILLed while holding slots: they free when its tasks are recovered."""
    fleet.set_limits(QueueLimits(concurrency=2, types={"sleep": Limit(concurrency=1)}))
    first = fleet.start(count=1)[0]
    # The first run of the first task hangs until the kill; the second task waits for its type's slot.
    long_ids = enqueue(
        fleet.url, fleet.queue, [Task("sleep", {"first_ms": 60_000, "ms": 100}), Task("sleep", {"ms": 100})]
    )
    wait_for(lambda: len([r for r in fleet.records() if r["ev"] == "start"]) >= 1, 20, "the first start")
    short_ids = enqueue(fleet.url, fleet.queue, [Task("asleep", {"first_ms": 60_000, "ms": 100})])
    wait_for(lambda: len([r for r in fleet.records() if r["ev"] == "start"]) >= 2, 20, "both slots taken")
    killed_at = time.time()
    first.kill()
    rest = enqueue(fleet.url, fleet.queue, [Task("asleep", {"ms": 100}) for _ in range(20)])
    fleet.start(count=2)
    ids = long_ids + short_ids + rest
    drained(fleet, ids, 60)
    records = [r for r in fleet.records() if r["pid"] != first.pid]
    runs = intervals(records)
    assert max_overlap(runs) == 2  # the full capacity came back
    assert max_overlap(intervals(records, "sleep")) == 1
    return {"recovered_s": min(s for s, _ in runs) - killed_at}


FREEING: dict[str, Callable[[TaskMessage, float], Script]] = {
    "done": lambda msg, now: rdb.done_call(msg, now=now),
    "mark_complete": lambda msg, now: rdb.mark_complete_call(msg, now=now),
    "retry": lambda msg, now: rdb.retry_call(msg, now=now, retry_at=now + 60, is_failure=True),
    "archive": lambda msg, now: rdb.archive_call(msg, now=now),
    "requeue": lambda msg, now: rdb.requeue_call(msg),
}
"""Every script with which a task's end frees its slot, with the arguments a server gives it (a
requeued task is pending again, and may be the next one to start)."""

WOKEN_WITHIN_S = 0.35
"""A waiting server starts the next task this soon after a slot frees on another server. Without a
wake-up it would notice only at its next re-check, MAX_HOLD_S after its last one: here about 0.7 s."""


def take_slot(broker: Broker, queue: str, name: str) -> TaskMessage:
    """Make a task of type ``held`` active as another server's dequeue leaves it (hash, lease and the
    type's slot, then the active list)."""
    msg = TaskMessage(type="held", id=f"{name}-{time.monotonic_ns()}", queue=queue, retention=60)
    broker.execute(Command(("HSET", keys.task_key(queue, msg.id), "msg", encode_task_message(msg),
                            "state", "active")))  # fmt: skip
    broker.execute(Command(("ZADD", keys.lease_key(queue), int(time.time()) + 60, msg.id)))
    broker.execute(Command(("ZADD", keys.type_active_key(queue, msg.type), int(time.time()) + 60, msg.id)))
    broker.execute(Command(("LPUSH", keys.active_key(queue), msg.id)))
    return msg


def slot_wakeups(url: str, waiting: Callable[[str], bool], *, per_type: bool = False) -> dict[str, float]:
    """Seconds from a slot freed elsewhere (by each freeing script) to the next task's start on a
    server waiting on the queue's full concurrency limit (``per_type``: its task type's, the next task
    parked meanwhile); ``waiting(queue)``: the server is ready to hear of it (how depends on the
    topology, docs/wire.md §2.4)."""
    queue = unique_queue("freed")
    starts: list[float] = []

    async def handler(ctx: Any, task: Task) -> None:
        starts.append(time.monotonic())

    # A long idle poll: the server re-checks the held queue exactly every MAX_HOLD_S.
    server = Server(url, ServerConfig(queues={queue: 1}, concurrency=2, task_check_interval_s=5.0))
    broker = Broker(url)
    latencies = {}
    try:
        field = "type:held:concurrency" if per_type else "concurrency"
        broker.execute(Command(("HSET", keys.limits_key(queue), field, 1)))
        server.start(handler)
        wait_for(lambda: waiting(queue), 10, "the server to wait on the queue")
        with Client(url) as client:
            for name, freeing in FREEING.items():
                held, before = take_slot(broker, queue, name), len(starts)
                client.enqueue(Task("held" if per_type else "next"), queue=queue)
                time.sleep(MAX_HOLD_S * 0.3)  # the server finds the queue full and holds it
                assert len(starts) == before, f"{name}: a task started while the slot was taken"
                msg = TaskMessage(type=held.type, id=held.id, queue=queue, retention=60,
                                  completed_at=int(time.time()), error_msg="x")  # fmt: skip
                broker.execute(freeing(msg, time.time()))
                freed = time.monotonic()
                wait_for(lambda n=before: len(starts) > n, 5, f"a task to start in the slot {name} freed")
                latencies[name] = starts[before] - freed

                def idle() -> bool:
                    lengths = [
                        broker.execute(Command(("LLEN", k)))
                        for k in (keys.active_key(queue), keys.pending_key(queue))
                    ]
                    return lengths == [0, 0]

                wait_for(idle, 5, "the queue's tasks to end")
    finally:
        server.shutdown()
        broker.close()
    assert all(s < WOKEN_WITHIN_S for s in latencies.values()), latencies
    return latencies
