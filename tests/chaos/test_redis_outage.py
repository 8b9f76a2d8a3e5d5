"""R4/R5: Redis stopped (or SIGKILLed) under load and restarted from its AOF; nothing acked is lost.

Workers run a backlog while a producer keeps enqueueing; Redis goes away for a while (a clean
shutdown, or SIGKILL with ``appendfsync everysec`` or ``always``) and comes back on the same port.
Every worker must stay up, log at most one error line per component per 3 s (as Go asynq),
and resume within 5 s;
enqueues during the outage fail fast (never hang); every acknowledged enqueue runs to completion,
with re-runs bounded by the tasks in flight at the outage.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from chaos.harness import RedisProbe, Tier, Workload, background, crash_redis, report, wait_drained
from chaos.ledger import ProducerLedger, check, read_ledgers
from helpers import wait_for

from asynq_py.engine import Client, Inspector

pytestmark = [pytest.mark.real, pytest.mark.slow, pytest.mark.timeout(600)]

WORKERS = 2
CONCURRENCY = 8
RATE = 50.0
RESUME_S = 5.0
CONNECT_TIMEOUT_S = 2.0
"""The engine's default connect timeout: a failed enqueue may take two of them, never more."""
LOG_EVERY_S = 3.0


OUTAGES = [("stop", "everysec"), ("sigkill", "always")]
if Tier.from_env().name == "full":
    # The short tier's soak SIGKILLs Redis with AOF everysec already; the full tier runs it here too.
    OUTAGES.insert(1, ("sigkill", "everysec"))


@pytest.mark.parametrize(("how", "fsync"), OUTAGES)
def test_redis_outage_loses_no_acked_enqueue(
    tier, real_server_factory, make_fleet, ledger_dir, queue, how, fsync
) -> None:
    server = real_server_factory(
        extra=("--appendonly", "yes", "--appendfsync", fsync, *RedisProbe.SLOWLOG_ARGS)
    )
    fleet = make_fleet(server.url, [queue])
    workers = [fleet.spawn(CONCURRENCY) for _ in range(WORKERS)]
    failed_calls: list[float] = []

    def produce(stop: threading.Event) -> None:
        with Client(server.url) as client:
            workload = Workload(client, ProducerLedger(ledger_dir, "p"), queue)
            while not stop.is_set():
                before, t0 = workload.failed, time.monotonic()
                workload.enqueue(workload.pick({"ok": 3, "aok": 3, "fail_once": 1, "scheduled": 1}))
                if workload.failed > before:
                    failed_calls.append(time.monotonic() - t0)
                stop.wait(1.0 / RATE)

    inspector = Inspector(server.url)
    try:
        with background(produce):
            wait_for(lambda: len(read_ledgers(ledger_dir).runs) > 50, 30, "the workers to be busy")
            fleet.faults.record(f"redis-{how}", inflight=WORKERS * CONCURRENCY)
            down_at = time.time()
            if how == "stop":
                server.stop()
                time.sleep(tier.outage_s)
                server.start()
            else:
                crash_redis(server, down_s=tier.outage_s)
            back_at = time.time()
            time.sleep(RESUME_S + 2)
        wait_drained(inspector, [queue], timeout=120)
    finally:
        inspector.close()

    verdict = check(server.url, ledger_dir, [queue])
    runs = [r for task_runs in read_ledgers(ledger_dir).runs.values() for r in task_runs]
    resumed = min((r.started for r in runs if r.started >= back_at), default=float("inf")) - back_at
    log_lines = Counter[str]()
    for worker in workers:
        log_lines |= _error_lines(
            worker.log(tail=None), down_at, back_at
        )  # the busiest worker's count per component
    report(
        f"Redis {how} ({fsync}) for {tier.outage_s:g} s under load",
        [
            verdict.render(),
            f"first start {resumed:.1f}s after Redis was back; {len(failed_calls)} enqueues failed during "
            f"the outage, the slowest in {max(failed_calls, default=0):.2f}s",
            f"error lines per worker component during the outage, at most: {dict(log_lines)}",
        ],
    )
    assert fleet.exited() == [], [w.log() for w in fleet.exited()]
    assert verdict.ok, verdict.render()
    assert failed_calls, "no enqueue was attempted during the outage"
    assert max(failed_calls) <= 2 * CONNECT_TIMEOUT_S + 1.0
    assert resumed <= RESUME_S
    # Each component logs at most one line per LOG_EVERY_S (Go asynq: one per 3 s).
    assert max(log_lines.values()) <= tier.outage_s / LOG_EVERY_S + 2, log_lines


def _error_lines(log: str, start: float, end: float) -> Counter[str]:
    """ERROR and WARNING lines per component (the message up to its first colon) logged between
    ``start`` and ``end``, leaving out lines about one task (its failure, its lost lease, its
    recovery by another worker first)."""
    counts: Counter[str] = Counter()
    for line in log.splitlines():
        stamp, _, rest = line.partition(",")
        words = rest.split(" ", 4)  # msec pid level logger message
        if len(words) < 5 or words[2] not in ("ERROR", "WARNING"):
            continue
        try:
            t = time.mktime(time.strptime(stamp, "%Y-%m-%d %H:%M:%S"))
        except ValueError:
            continue
        message = words[4]
        per_task = ("task ", "lease of task ", "could not recover task ")
        if start - 1 <= t <= end + 1 and not message.startswith(per_task):
            counts[message.partition(":")[0]] += 1
    return counts
