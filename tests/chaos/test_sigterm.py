"""R2: a worker stopped with SIGTERM (or SIGINT twice) under load finishes what it can, requeues the rest.

Two workers share a queue of tasks lasting 0.5-5 s; one is signalled while it runs a full set. It
must start nothing more than 1 s after the signal, finish the runs that end within its shutdown
timeout, hand the others back with their retry count unchanged (the other worker reruns them), exit
0 within the shutdown timeout + 2 s, and leave no server entry behind.
"""

from __future__ import annotations

import signal
import time

import pytest
from chaos.harness import Kind, Workload, report, wait_drained
from chaos.ledger import ProducerLedger, check, read_ledgers
from helpers import wait_for

from asynq_py.engine import Client, Inspector, Task

pytestmark = [pytest.mark.real, pytest.mark.slow, pytest.mark.timeout(1200)]

CONCURRENCY = 16
SHUTDOWN_S = 3.0
HOLD = Kind(
    "hold", lambda rng, tid: Task("ok", {"ms": rng.randint(500, 10_000)}, task_id=tid), 1, "completed"
)


@pytest.mark.parametrize(
    "signals", [(signal.SIGTERM,), (signal.SIGINT, signal.SIGINT)], ids=["term", "int-twice"]
)
def test_graceful_stop_requeues_unfinished_runs(
    tier, aof_redis, make_fleet, ledger_dir, queue, signals
) -> None:
    fleet = make_fleet(aof_redis.url, [queue])
    victim = fleet.spawn(CONCURRENCY, SHUTDOWN_S)
    other = fleet.spawn(CONCURRENCY, SHUTDOWN_S)
    inspector = Inspector(aof_redis.url)
    try:
        with Client(aof_redis.url) as client:
            workload = Workload(client, ProducerLedger(ledger_dir, "p"), queue)
            for _ in range(tier.sigterm_tasks):
                workload.enqueue(HOLD)

        def victim_busy() -> bool:
            ledgers = read_ledgers(ledger_dir)
            running = [
                r for runs in ledgers.runs.values() for r in runs if r.pid == victim.pid and not r.outcome
            ]
            return len(running) == CONCURRENCY

        wait_for(victim_busy, 30, "the victim to run a full set of tasks")
        fleet.faults.record("graceful-stop", inflight=CONCURRENCY)  # each cut run reruns once
        signalled = time.time()
        for signum in signals:
            victim.signal(signum)
            time.sleep(0.1)
        assert victim.wait(SHUTDOWN_S + 2) == 0, victim.log()
        assert time.time() - signalled <= SHUTDOWN_S + 2
        wait_for(
            lambda: all(s.pid != victim.pid for s in inspector.servers()),
            2.0,
            "the victim's server entry to go",
        )
        # Up to 5 s a task on the other worker's slots, and some slack.
        wait_drained(inspector, [queue], timeout=60 + tier.sigterm_tasks * 5 / CONCURRENCY)
    finally:
        inspector.close()

    ledgers = read_ledgers(ledger_dir)
    victim_runs = [r for runs in ledgers.runs.values() for r in runs if r.pid == victim.pid]
    assert [r for r in victim_runs if r.started > signalled + 1.0] == []
    cut = [r for r in victim_runs if r.outcome == "cancelled"]
    finished = [r for r in victim_runs if r.outcome == "ok"]
    assert cut, "no run was long enough to be cut: the scenario proves nothing"
    assert finished, "no run finished during the shutdown"
    for run in cut:
        reruns = [r for r in ledgers.runs[run.task_id] if r.started > run.started]
        assert [(r.pid, r.retry_count, r.outcome) for r in reruns] == [(other.pid, run.retry_count, "ok")]
    verdict = check(aof_redis.url, ledger_dir, [queue])
    report(
        f"Graceful stop by {'+'.join(signal.Signals(s).name for s in signals)}: {tier.sigterm_tasks:,} tasks",
        [verdict.render(), f"the stopped worker finished {len(finished)} runs and handed back {len(cut)}"],
    )
    assert verdict.ok, verdict.render()
    assert verdict.extra_starts == len(cut)
    assert verdict.duplicated == 0
    assert other.alive(), other.log()
