"""Process-level faults on a real Redis: crashes, signals, Redis restarts, supervisors, blocked loops.

Every worker is a separate process running ``worker_app.py`` (fast profile: lease 2 s, heartbeat
0.5 s, recoverer every 0.5 s with a 0.5 s cut-off, retry delay 0.2 s, forwarder every 0.5 s), and
records every handler start and end in a ledger file outside Redis (reliability spec §2.1). Each
worker is a chaos ``WorkerProc``: it runs in its own session and is killed with its process group
when the test ends; every wait polls against a deadline.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from chaos.harness import WorkerProc
from helpers import wait_for

from asynq_py.engine import (
    Client,
    Inspector,
    ServerInfo,
    Task,
    TaskInfo,
    TaskNotFoundError,
    TaskState,
    keys,
)

pytestmark = pytest.mark.real

WORKER_APP = Path(__file__).with_name("worker_app.py")
LEASE_S = 2.0
"""The fast profile's lease duration (worker_app.FAST_PROFILE)."""
RECOVERY_BOUND_S = LEASE_S + 0.5 + 0.5 + 0.2 + 0.5 + 2.0
"""L + C + R + retry delay + forwarder tick + 2 s of slack (reliability spec R1)."""
WORKER_LIFETIME_S = 50.0
"""A watchdog kills any worker still running after this long, whatever the test does."""
RETAIN = 120
"""Retention (s) given to test tasks, so that completed ones stay visible to the inspector."""


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    return tmp_path / "ledger.jsonl"


@pytest.fixture
def spawn(tmp_path: Path, queue: str, ledger: Path) -> Iterator[Callable[..., WorkerProc]]:
    """Start workers on ``queue`` writing to ``ledger``; every one is killed at the end of the test."""
    workers: list[WorkerProc] = []

    def start(
        url: str, concurrency: int = 2, processes: int = 1, shutdown_timeout: float = 2.0
    ) -> WorkerProc:
        args = ["--redis", url, "--queue", queue, "--ledger", str(ledger), "--concurrency", str(concurrency),
                "--processes", str(processes), "--shutdown-timeout", str(shutdown_timeout)]  # fmt: skip
        log_path = tmp_path / f"worker{len(workers)}.log"
        worker = WorkerProc(
            [sys.executable, str(WORKER_APP), *args], log_path, WORKER_LIFETIME_S, concurrency
        )
        workers.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in workers:
            worker.kill()


def servers_of(inspector: Inspector, queue: str) -> list[ServerInfo]:
    return [s for s in inspector.servers() if queue in s.queues]


def wait_server(inspector: Inspector, queue: str, worker: WorkerProc, timeout: float = 10.0) -> ServerInfo:
    """Wait for ``worker``'s heartbeat (its signal handlers are installed by then)."""

    def find() -> ServerInfo | None:
        assert worker.alive(), f"worker exited early:\n{worker.log()}"
        return next((s for s in servers_of(inspector, queue) if s.pid == worker.pid), None)

    found: ServerInfo = wait_for(find, timeout, f"server entry of pid {worker.pid}")
    return found


def read_ledger(path: Path) -> list[dict[str, Any]]:
    """Return the ledger's records (worker_app.py writes one JSON object per line)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def events(ledger: Path, event: str, task_id: str | None = None) -> list[dict[str, Any]]:
    return [r for r in read_ledger(ledger) if r["ev"] == event and task_id in (None, r["id"])]


def state_of(inspector: Inspector, queue: str, task_id: str) -> TaskState | None:
    try:
        return inspector.get_task_info(queue, task_id).state
    except TaskNotFoundError:
        return None


def wait_states(
    inspector: Inspector, queue: str, ids: list[str], state: TaskState, timeout: float
) -> list[TaskInfo]:
    """Wait until every task in ``ids`` is in ``state``; return their infos."""
    wait_for(
        lambda: all(state_of(inspector, queue, i) == state for i in ids),
        timeout,
        f"{len(ids)} task(s) to be {state.value}",
    )
    return [inspector.get_task_info(queue, i) for i in ids]


def proc_stat(pid: int) -> tuple[str, int] | None:
    """Return (state letter, parent pid) of ``pid`` from /proc, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    fields = text.rpartition(")")[2].split()
    return fields[0], int(fields[1])


@pytest.fixture
def client(real_redis_url: str) -> Iterator[Client]:
    c = Client(real_redis_url)
    yield c
    c.close()


@pytest.fixture
def inspector(real_redis_url: str) -> Iterator[Inspector]:
    i = Inspector(real_redis_url)
    yield i
    i.close()


def test_sigkilled_worker_task_reruns_in_another_worker(
    real_redis_url, spawn, client, inspector, queue, ledger
) -> None:
    a = spawn(real_redis_url, concurrency=2)
    wait_server(inspector, queue, a)
    victims = [
        client.enqueue(Task("sleep", {"first_ms": 30000, "ms": 100}), queue=queue, retention=RETAIN).id
        for _ in range(2)
    ]
    wait_for(lambda: len(events(ledger, "start")) == 2, 10, "both long tasks to start in worker A")
    # Worker A is full: these wait in pending while it dies and must not be lost either.
    bystanders = [client.enqueue(Task("ok"), queue=queue, retention=RETAIN).id for _ in range(3)]
    b = spawn(real_redis_url, concurrency=2)
    wait_server(inspector, queue, b)

    a.signal(signal.SIGKILL)
    killed_at = time.time()
    assert a.wait(5) == -signal.SIGKILL
    infos = wait_states(inspector, queue, victims + bystanders, TaskState.COMPLETED, 20)

    for info in infos[:2]:
        starts = events(ledger, "start", info.id)
        assert [(s["pid"], s["retry_count"]) for s in starts] == [(a.pid, 0), (b.pid, 1)], starts
        ends = events(ledger, "end", info.id)
        assert [(e["pid"], e["outcome"]) for e in ends] == [(b.pid, "ok")], ends
        # Not before the crash (A's heartbeat kept the lease), and within the recovery bound after it.
        assert 0 < starts[1]["t"] - killed_at <= RECOVERY_BOUND_S, (starts, killed_at)
        # Go semantics: a crash counts as a retry and leaves ErrLeaseExpired as the last error.
        assert info.retried == 1
        assert "lease expired" in info.last_error
    for info in infos[2:]:
        assert [s["pid"] for s in events(ledger, "start", info.id)] == [b.pid]
        assert info.retried == 0
    assert b.alive()


def test_sigterm_finishes_short_tasks_and_requeues_the_rest_unchanged(
    real_redis_url, spawn, client, inspector, queue, ledger
) -> None:
    shutdown_timeout = 1.5
    w = spawn(real_redis_url, concurrency=6, shutdown_timeout=shutdown_timeout)
    wait_server(inspector, queue, w)
    # A task already retried once: requeueing must keep retried == 1, not reset or bump it.
    flaky = client.enqueue(Task("aflaky", {"ms": 30000}), queue=queue, retention=RETAIN, max_retry=5).id
    wait_for(
        lambda: any(s["retry_count"] == 1 for s in events(ledger, "start", flaky)), 10, "flaky's second run"
    )
    short = [
        client.enqueue(Task(kind, {"ms": 500}), queue=queue, retention=RETAIN).id
        for kind in ("sleep", "asleep")
    ]
    # Long-running def handlers that stop on ctx.cancelled are covered by the next test.
    long = [client.enqueue(Task("asleep", {"ms": 30000}), queue=queue, retention=RETAIN).id for _ in range(2)]
    wait_for(lambda: len(events(ledger, "start")) == 6, 10, "five running tasks (aflaky started twice)")

    w.signal(signal.SIGTERM)
    sent = time.monotonic()
    assert w.wait(shutdown_timeout + 3) == 0, w.log()
    took = time.monotonic() - sent
    assert took <= shutdown_timeout + 2, f"shutdown took {took:.2f}s"
    # The heartbeat entry is cleared on the way out, not left to expire.
    assert [s for s in servers_of(inspector, queue) if s.pid == w.pid] == []

    for task_id in short:
        info = inspector.get_task_info(queue, task_id)
        assert (info.state, info.retried) == (TaskState.COMPLETED, 0)
        assert [e["outcome"] for e in events(ledger, "end", task_id)] == ["ok"]
    requeued = {i: inspector.get_task_info(queue, i) for i in [*long, flaky]}
    for task_id, info in requeued.items():
        assert info.state == TaskState.PENDING, task_id
        # The handler was cancelled, after its start and not before.
        assert [e["outcome"] for e in events(ledger, "end", task_id)][-1] == "cancelled"
    assert [requeued[i].retried for i in long] == [0, 0]
    assert [requeued[i].last_error for i in long] == ["", ""]
    assert requeued[flaky].retried == 1
    assert requeued[flaky].last_error == "flaky: first run fails"
    assert {t.id for t in inspector.list_pending_tasks(queue)} == {*long, flaky}
    assert inspector.get_queue_info(queue).active == 0


def test_sigterm_requeues_cooperative_def_handlers(
    real_redis_url, spawn, client, inspector, queue, ledger
) -> None:
    """A def handler that returns because it saw ctx.cancelled has not done its work: requeue it."""
    n = 8
    w = spawn(real_redis_url, concurrency=n + 1, shutdown_timeout=0.5)
    wait_server(inspector, queue, w)
    ids = [client.enqueue(Task("coop", {"ms": 30000}), queue=queue, retention=RETAIN).id for _ in range(n)]
    wait_for(lambda: len(events(ledger, "start")) == n, 10, f"{n} def tasks to be running")
    # An async handler blocking the loop 50 ms per turn lets the def handlers return before the
    # processor looks at their runs, so "returned after the stop" is hit every time, not by chance.
    ticker = client.enqueue(Task("ticker", {"ms": 50}), queue=queue, retention=RETAIN).id
    wait_for(lambda: events(ledger, "start", ticker), 10, "the ticker to start")

    w.signal(signal.SIGTERM)
    assert w.wait(0.5 + 2) == 0, w.log()
    states = Counter(state_of(inspector, queue, i) for i in ids)
    assert states == {TaskState.PENDING: n}, f"tasks aborted by the shutdown ended as {dict(states)}"
    assert all(inspector.get_task_info(queue, i).retried == 0 for i in ids)
    assert [e["id"] for e in events(ledger, "end")] == [ticker]


def test_redis_restart_under_running_server(real_server_factory, spawn, queue, ledger) -> None:
    srv = real_server_factory(extra=("--appendonly", "yes", "--appendfsync", "always"))
    client = Client(srv.url)
    inspector = Inspector(srv.url)
    try:
        w = spawn(srv.url, concurrency=2)
        wait_server(inspector, queue, w)
        # Two tasks are running when Redis goes away (they finish during the outage); six wait.
        before = [
            client.enqueue(Task("sleep", {"ms": 1500}), queue=queue, retention=RETAIN).id for _ in range(2)
        ]
        wait_for(lambda: len(events(ledger, "start")) == 2, 10, "the two running tasks")
        before += [client.enqueue(Task("ok"), queue=queue, retention=RETAIN).id for _ in range(6)]

        srv.stop()
        time.sleep(3.0)  # longer than the lease: the running tasks' leases lapse during the outage
        assert w.alive(), w.log()
        srv.start()
        assert w.alive(), w.log()

        after = [client.enqueue(Task("ok"), queue=queue, retention=RETAIN).id for _ in range(3)]
        wait_states(inspector, queue, after, TaskState.COMPLETED, 5)  # resumes within a few seconds
        wait_states(inspector, queue, before, TaskState.COMPLETED, 15)
        assert w.alive(), w.log()
        for task_id in before + after:
            ends = [e for e in events(ledger, "end", task_id) if e["outcome"] == "ok"]
            assert ends, f"task {task_id} never ran to its end"
            # At-least-once: a run whose outcome could not be written may run once more, no more.
            assert len(events(ledger, "start", task_id)) <= 2
        info = inspector.get_queue_info(queue)
        assert (info.pending, info.active, info.retry, info.scheduled, info.archived) == (0, 0, 0, 0, 0)
        assert info.completed == len(before) + len(after)
        w.signal(signal.SIGTERM)
        assert w.wait(5) == 0, w.log()
    finally:
        client.close()
        inspector.close()


def test_sigtstp_stops_fetching_then_sigterm_exits(
    real_redis_url, spawn, client, inspector, queue, ledger
) -> None:
    w = spawn(real_redis_url, concurrency=2)
    wait_server(inspector, queue, w)
    first = client.enqueue(Task("ok"), queue=queue, retention=RETAIN).id
    wait_states(inspector, queue, [first], TaskState.COMPLETED, 10)

    w.signal(signal.SIGTSTP)
    wait_for(
        lambda: [s.status for s in servers_of(inspector, queue) if s.pid == w.pid] == ["stopped"],
        5,
        'status "stopped" in servers()',
    )
    stat = proc_stat(w.pid)
    assert stat is not None, f"the worker was stopped by the kernel: {stat}"
    assert stat[0] != "T", f"the worker was stopped by the kernel: {stat}"
    held = [client.enqueue(Task("ok"), queue=queue, retention=RETAIN).id for _ in range(3)]
    time.sleep(2.0)  # ten task-check intervals, and each enqueue also publishes a wake-up
    assert w.alive()
    assert [s["id"] for s in events(ledger, "start")] == [first]
    assert all(state_of(inspector, queue, i) == TaskState.PENDING for i in held)

    w.signal(signal.SIGTERM)
    assert w.wait(4) == 0, w.log()
    assert all(state_of(inspector, queue, i) == TaskState.PENDING for i in held)
    assert [s for s in servers_of(inspector, queue) if s.pid == w.pid] == []


def test_supervisor_restarts_a_killed_child(real_redis_url, spawn, client, inspector, queue, ledger) -> None:
    parent = spawn(real_redis_url, concurrency=2, processes=2)

    def children() -> set[int]:
        assert parent.alive(), parent.log()
        pids = {s.pid for s in servers_of(inspector, queue)}
        return {p for p in pids if (st := proc_stat(p)) is not None and st[1] == parent.pid}

    def pair(exclude: int = 0) -> set[int] | None:
        found = children()
        return found if len(found) == 2 and exclude not in found else None

    first = wait_for(pair, 10, "two children in servers()")
    assert parent.pid not in first
    victim, survivor = sorted(first)
    os.kill(victim, signal.SIGKILL)
    current = wait_for(lambda: pair(exclude=victim), 10, "a restarted child in servers()")
    assert survivor in current
    (replacement,) = current - first
    tasks = [client.enqueue(Task("ok"), queue=queue, retention=RETAIN).id for _ in range(6)]
    wait_states(inspector, queue, tasks, TaskState.COMPLETED, 10)

    parent.signal(signal.SIGTERM)
    assert parent.wait(2.0 + 5) == 0, parent.log()
    for pid in (survivor, replacement):
        wait_for(lambda pid=pid: proc_stat(pid) is None or proc_stat(pid)[1] != parent.pid, 5, f"{pid} exit")
    log = parent.log_path.read_text(errors="replace")
    assert "Traceback" not in log, log
    for pid in (survivor, replacement):
        assert any(f" {pid} " in line and line.endswith("shut down") for line in log.splitlines()), log
    assert all(s.pid not in (survivor, replacement) for s in servers_of(inspector, queue))


def test_blocked_event_loop_does_not_lose_leases(
    real_redis_url, spawn, client, inspector, queue, ledger
) -> None:
    block_s = 3 * LEASE_S
    a = spawn(real_redis_url, concurrency=2)
    wait_server(inspector, queue, a)
    threaded = client.enqueue(Task("sleep", {"ms": 5000}), queue=queue, retention=RETAIN).id
    wait_for(lambda: events(ledger, "start", threaded), 10, "the def task to start")
    blocker = client.enqueue(Task("block", {"ms": int(block_s * 1000)}), queue=queue, retention=RETAIN).id
    wait_for(lambda: events(ledger, "start", blocker), 10, "the blocking task to start")
    blocked_at = time.monotonic()
    # A second worker's recoverer would take any lease that lapses while A's loop is blocked.
    rescuer = spawn(real_redis_url, concurrency=1)
    wait_server(inspector, queue, rescuer)

    raw = redis.Redis.from_url(real_redis_url)
    try:
        lease_key = keys.lease_key(queue)
        lowest_margin = float("inf")
        while time.monotonic() - blocked_at < block_s - 0.5:
            now = time.time()
            for task_id in (threaded, blocker):
                score = raw.zscore(lease_key, task_id)
                if score is not None:
                    lowest_margin = min(lowest_margin, score - now)
            time.sleep(0.1)
    finally:
        raw.close()
    assert lowest_margin > 0, f"a lease lapsed while the loop was blocked (margin {lowest_margin:.2f}s)"

    infos = wait_states(inspector, queue, [threaded, blocker], TaskState.COMPLETED, 15)
    assert rescuer.alive(), rescuer.log()
    for info in infos:
        assert [(s["pid"], s["retry_count"]) for s in events(ledger, "start", info.id)] == [(a.pid, 0)]
        assert [(e["pid"], e["outcome"]) for e in events(ledger, "end", info.id)] == [(a.pid, "ok")]
        assert info.retried == 0
        assert info.last_error == ""
