"""Scale checks: a queue of many tasks (short tier 20,000; ``ASYNQ_CHAOS=full`` 1,000,000).

Enqueue in pipelined batches, then time the CLI a user reaches for first (``stats``, the first page of
``ls pending``), drain with two workers while sampling the drain rate at the start and once half the
queue is gone (and the workers' RSS), stop them, and time the ``--all`` operations on what is left
(``kill --all pending``, ``retry --all archived``, ``delete --all pending``). The longest Redis command
of each step comes from SLOWLOG (every command over 1 ms is kept). Counts are asserted; times are
figures (printed, and appended to ``ASYNQ_CHAOS_REPORT``), except that no Redis command may take a
second: an ``--all`` done in one script (3.9 s at 1M before it was chunked) fails that.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest
from chaos.harness import RedisProbe, report

from asynq_py.engine import Client, Inspector, Task
from asynq_py.engine.rdb import ARCHIVE_MAX_SIZE

pytestmark = [pytest.mark.real, pytest.mark.slow, pytest.mark.timeout(3600)]

BATCH = 1000
WORKERS = 2
CONCURRENCY = 20
LONGEST_COMMAND_LIMIT_US = 1_000_000
CLI = [sys.executable, "-m", "asynq_py.cli"]


def test_scale(tier, real_server_factory, make_fleet, queue) -> None:
    n = tier.scale_tasks
    window_s = 10.0 if tier.name == "full" else 1.0  # short: stop early enough to leave tasks behind
    server = real_server_factory(extra=RedisProbe.SLOWLOG_ARGS)
    probe = RedisProbe(server.url)
    figures: list[str] = []
    longest: dict[str, float] = {}

    def step(name: str, action: Callable[[], Any]) -> Any:
        probe.harvest()
        probe.reset()
        started = time.monotonic()
        result = action()
        took = time.monotonic() - started
        probe.harvest()
        longest[name] = probe.longest_us / 1000
        note(
            f"{name:<30} {took:8.2f} s   longest Redis command {probe.longest_us / 1000:7.1f} ms "
            f"({probe.longest_cmd or '-'})"
        )
        return result

    def note(line: str) -> None:
        figures.append(line)
        print(line, flush=True)  # shown as it comes, should a later step fail

    def cli(*args: str) -> str:
        done = subprocess.run(
            [*CLI, "--redis", server.url, *args], capture_output=True, text=True, timeout=600, check=False
        )
        assert done.returncode == 0, done.stderr
        return done.stdout + done.stderr  # the summary notes are on stderr

    def enqueue_all() -> None:
        with Client(server.url) as client:
            for start in range(0, n, BATCH):
                batch = [Task("ok", b'{"ms": 0}') for _ in range(min(BATCH, n - start))]
                errors = [r for r in client.enqueue_many(batch, queue=queue) if isinstance(r, Exception)]
                assert errors == []

    step(f"enqueue {n:,}", enqueue_all)
    note(f"enqueue rate {n / float(figures[-1].split()[2]):,.0f} tasks/s")
    memory_full = probe.used_memory()
    stats = step("stats", lambda: cli("--json", "stats"))
    assert f'"pending": {n}' in stats.replace('"pending":' + str(n), f'"pending": {n}'), stats[:500]
    page = step("ls pending (first page)", lambda: cli("ls", "pending", "-q", queue))
    assert len([line for line in page.splitlines() if line.strip()]) >= 30

    inspector = Inspector(server.url)
    fleet = make_fleet(server.url, [queue], lifetime_s=3000)
    rss: list[tuple[float, list[int]]] = []
    try:
        workers = [fleet.spawn(CONCURRENCY) for _ in range(WORKERS)]

        def pending() -> int:
            return inspector.get_queue_info(queue).pending

        def rate_over(window_s: float) -> float:
            before, t0 = pending(), time.monotonic()
            time.sleep(window_s)
            return (before - pending()) / (time.monotonic() - t0)

        drain_started = time.monotonic()
        while pending() == n:
            assert time.monotonic() - drain_started < 60, "the workers took nothing"
            time.sleep(0.1)
        first_rate = rate_over(window_s)
        rss.append((time.monotonic() - drain_started, [w.rss_kb() for w in workers]))
        while pending() > n // 2:
            assert all(w.alive() for w in workers), [w.log() for w in workers]
            time.sleep(1)
            if len(rss) < 2 or time.monotonic() - drain_started - rss[-1][0] >= 30:
                rss.append((time.monotonic() - drain_started, [w.rss_kb() for w in workers]))
        half_at = time.monotonic() - drain_started
        half_rate = rate_over(window_s)
        rss.append((time.monotonic() - drain_started, [w.rss_kb() for w in workers]))
        for worker in workers:
            worker.signal(signal.SIGTERM)
        for worker in workers:
            assert worker.wait(30) == 0, worker.log()
    finally:
        fleet.close()
    left = inspector.get_queue_info(queue)
    assert left.active == 0
    remaining = left.pending
    note(
        f"drain with {WORKERS} workers x {CONCURRENCY}: {first_rate:,.0f} tasks/s at the start, "
        f"{half_rate:,.0f} tasks/s after half ({half_at:.0f} s to drain half)"
    )
    note(
        "worker RSS MiB over the drain: "
        + ", ".join(f"{t:.0f}s {'/'.join(f'{kb / 1024:.0f}' for kb in kbs)}" for t, kbs in rss)
    )

    out = step(
        f"kill --all pending ({remaining:,})", lambda: cli("kill", "-q", queue, "--all", "pending", "-y")
    )
    info = inspector.get_queue_info(queue)
    # The archive keeps its newest ARCHIVE_MAX_SIZE - 1 tasks, as Go's trim does.
    assert (info.pending, info.archived) == (0, min(remaining, ARCHIVE_MAX_SIZE - 1)), out
    note("  kill says: " + out.strip().splitlines()[-1])
    archived = info.archived
    step(f"retry --all archived ({archived:,})", lambda: cli("retry", "-q", queue, "--all", "archived", "-y"))
    assert inspector.get_queue_info(queue).pending == archived
    step(f"delete --all pending ({archived:,})", lambda: cli("delete", "-q", queue, "--all", "pending", "-y"))
    info = inspector.get_queue_info(queue)
    assert (info.pending, info.archived) == (0, 0)
    inspector.close()
    note(f"Redis used memory with {n:,} pending: {memory_full / 2**20:.0f} MiB")
    note(f"longest Redis command over the run: {max(longest.values()):.1f} ms")
    report(f"Scale: {n:,} tasks (tier {tier.name}, load average {os.getloadavg()[0]:.1f})", figures)
    assert max(longest.values()) * 1000 < LONGEST_COMMAND_LIMIT_US, figures
