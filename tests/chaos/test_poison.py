"""R17: poison messages planted in one queue while a worker dies in the others.

Queue A gets records no client would write: garbage or truncated protobuf, a message whose id or
queue is not the key's, an id in ``pending`` with no task hash, a task key of the wrong Redis type, an
undecodable task in ``active`` with an expired lease, and valid messages with absurd fields (retry
2^31-1, a deadline in year 9999, a 1 MiB type name). Good tasks run in A, B and C, and a worker is
SIGKILLed mid-run. Every good task must complete, the orphans in B and C must be recovered within
the recovery bound despite the poison in A, every poison record must leave the queue (archived or
dropped) within 2 x (L + C + R), and no worker may exit.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import pytest
import redis
from chaos.harness import Workload, report, wait_drained
from chaos.ledger import ProducerLedger, check, read_ledgers
from chaos.worker import FAST_PROFILE, RECOVERY_BOUND_S
from helpers import wait_for
from seed import message, seed_task

from asynq_py.engine import Client, Inspector, keys

pytestmark = [pytest.mark.real, pytest.mark.slow, pytest.mark.timeout(600)]

L_C_R = (
    FAST_PROFILE["lease_duration_s"]
    + FAST_PROFILE["recoverer_cutoff_s"]
    + FAST_PROFILE["recoverer_interval_s"]
)
POISON_BOUND_S = 2 * L_C_R


def _plant(r: redis.Redis, queue: str, ledger: ProducerLedger) -> None:
    """Write the poison records of queue ``queue`` with raw commands, each noted in the ledger."""

    def note(kind: str, runs: int = 0, terminal: str = "gone") -> str:
        task_id: str = ledger.attempt(queue, kind, runs=runs, terminal=terminal, task_id=os.urandom(16).hex())
        return task_id

    def planted(kind: str, build: Callable[[str], None], runs: int = 0, terminal: str = "gone") -> None:
        task_id = note(kind, runs, terminal)
        build(task_id)
        ledger.ack(task_id)

    def pending_with(msg_bytes: bytes) -> Callable[[str], None]:
        def build(task_id: str) -> None:
            r.hset(keys.task_key(queue, task_id), mapping={"msg": msg_bytes, "state": "pending"})
            r.lpush(keys.pending_key(queue), task_id)

        return build

    good = message("ok", b'{"ms": 5}', queue=queue).SerializeToString()
    planted("garbage", pending_with(os.urandom(64)))
    planted("truncated", pending_with(good[: len(good) // 2]))
    planted(
        "wrong_id",
        pending_with(message("ok", b"{}", queue=queue, task_id="someone-else").SerializeToString()),
    )
    planted("wrong_queue", pending_with(message("ok", b"{}", queue="elsewhere").SerializeToString()))
    planted("no_hash", lambda task_id: r.lpush(keys.pending_key(queue), task_id))

    def wrong_type(task_id: str) -> None:
        r.set(keys.task_key(queue, task_id), b"not a hash")
        r.lpush(keys.pending_key(queue), task_id)

    planted("wrong_type", wrong_type)

    def stranded(task_id: str) -> None:
        r.hset(keys.task_key(queue, task_id), mapping={"msg": os.urandom(48), "state": "active"})
        r.lpush(keys.active_key(queue), task_id)
        r.zadd(keys.lease_key(queue), {task_id: int(time.time()) - 60})

    planted("stranded_active", stranded)

    def valid(kind: str, runs: int, terminal: str, **fields: object) -> None:
        task_id = note(kind, runs, terminal)
        seed_task(r, message(queue=queue, task_id=task_id, **fields), "pending")
        ledger.ack(task_id)

    valid("huge_retry", 1, "completed", task_type="ok", payload=b'{"ms": 5}', retry=2**31 - 1)
    valid("far_deadline", 1, "completed", task_type="ok", payload=b'{"ms": 5}', deadline=253402300799)
    valid("huge_type", 0, "archived", task_type="x" * (1 << 20), retry=0)


def test_poison_in_one_queue_stops_nothing_else(tier, aof_redis, make_fleet, ledger_dir) -> None:
    queues = ["poison-a", "poison-b", "poison-c"]
    fleet = make_fleet(aof_redis.url, queues)
    workers = [fleet.spawn(8), fleet.spawn(8)]
    raw = redis.Redis.from_url(aof_redis.url)
    inspector = Inspector(aof_redis.url)
    try:
        producer = ProducerLedger(ledger_dir, "good")
        with Client(aof_redis.url) as client:
            for queue in queues:
                workload = Workload(client, producer, queue)
                for _ in range(tier.poison_good // len(queues)):
                    workload.enqueue(workload.pick({"ok": 1, "aok": 1}))
        _plant(raw, queues[0], ProducerLedger(ledger_dir, "poison"))
        planted_at = time.monotonic()

        def victim_busy_in_b_and_c() -> bool:
            ledgers = read_ledgers(ledger_dir)
            mine = [
                ledgers.attempts[r.task_id].queue
                for runs in ledgers.runs.values()
                for r in runs
                if r.pid == workers[0].pid and r.outcome is None and r.task_id in ledgers.attempts
            ]
            return {"poison-b", "poison-c"} <= set(mine)

        wait_for(victim_busy_in_b_and_c, 60, "the victim to be running tasks of B and C")
        fleet.sigkill(workers[0])
        fleet.spawn(8)
        wait_drained(inspector, queues, timeout=POISON_BOUND_S + 60)
        drained_s = time.monotonic() - planted_at
    finally:
        inspector.close()
        raw.close()

    verdict = check(aof_redis.url, ledger_dir, queues)
    report(
        f"Poison: {tier.poison_good:,} good tasks in 3 queues, 10 bad records in one, a worker SIGKILLed",
        [verdict.render(), f"queues drained {drained_s:.1f} s after the poison was planted"],
    )
    assert verdict.ok, verdict.render()
    assert verdict.recovery_s, "the kill cut no run"
    if tier.name == "short":  # with the full tier's backlog, orphans wait behind it (Go's order)
        assert max(verdict.recovery_s) <= RECOVERY_BOUND_S, verdict.render()
    assert drained_s <= POISON_BOUND_S + 30
    assert fleet.exited() == [], [w.log() for w in fleet.exited()]
