"""The dequeue script's flow control (issue 17, docs/wire.md §2.3), call by call, on fakeredis and
on the real server: queue concurrency and rate limits, type limits with parking, and the cost on a
queue without limits."""

from __future__ import annotations

import time

import pytest
import redis
from seed import message, seed_task

from asynq_py.engine import keys, rdb
from asynq_py.engine.broker import Broker
from asynq_py.engine.holds import HoldReason


def seed_pending(r: redis.Redis, queue: str, types: list[str]) -> list[str]:
    """Seed one pending task per entry of ``types``, oldest first; return their ids in that order."""
    return [seed_task(r, message(t, queue=queue, task_id=f"{t}-{i}"), "pending") for i, t in enumerate(types)]


def take(broker: Broker, queue: str, count: int = 10) -> rdb.Fetched:
    return broker.run(rdb.dequeue([queue], now=time.time(), count=count))


def ids(fetched: rdb.Fetched) -> list[str]:
    return [d.task_id for d in fetched.tasks]


def finish(r: redis.Redis, queue: str, task_id: str) -> None:
    """What every outcome script does to a running task's lease and active entry."""
    r.lrem(keys.active_key(queue), 0, task_id)
    r.zrem(keys.lease_key(queue), task_id)
    r.delete(keys.task_key(queue, task_id))


def test_a_queue_without_limits_dequeues_as_before_and_writes_no_flow_key(redis_client, queue) -> None:
    seeded = seed_pending(redis_client, queue, ["a", "b", "c"])
    fetched = take(Broker(redis_client), queue, count=2)
    assert ids(fetched) == seeded[:2]
    assert fetched.holds == {}
    assert not [k for k in redis_client.keys("*") if b":limit" in k or b"throttled" in k]
    assert redis_client.hget(keys.task_key(queue, seeded[0]), "state") == b"active"


def test_queue_concurrency_limit_takes_only_free_slots(redis_client, queue) -> None:
    seeded = seed_pending(redis_client, queue, ["a"] * 5)
    redis_client.hset(keys.limits_key(queue), "concurrency", 2)
    broker = Broker(redis_client)
    first = take(broker, queue)
    assert ids(first) == seeded[:2]
    assert first.holds[queue].reason == HoldReason.CONCURRENCY
    assert first.holds[queue].wait_s == 1.0
    again = take(broker, queue)
    assert (ids(again), again.holds[queue].reason) == ([], HoldReason.CONCURRENCY)
    finish(redis_client, queue, seeded[0])
    assert ids(take(broker, queue)) == [seeded[2]]


def test_a_full_queue_with_nothing_pending_is_not_held(redis_client, queue) -> None:
    seed_pending(redis_client, queue, ["a"])
    redis_client.hset(keys.limits_key(queue), "concurrency", 1)
    broker = Broker(redis_client)
    take(broker, queue)
    assert take(broker, queue).holds == {}


def test_rate_limit_spaces_starts_and_says_when_the_next_slot_is_due(redis_client, queue) -> None:
    seeded = seed_pending(redis_client, queue, ["a"] * 5)
    redis_client.hset(keys.limits_key(queue), mapping={"rate": 5, "period_ms": 1000, "burst": 1})
    broker = Broker(redis_client)
    first = take(broker, queue)
    assert ids(first) == seeded[:1]
    hold = first.holds[queue]
    assert hold.reason == HoldReason.RATE
    assert 0.1 < hold.wait_s <= 0.2
    assert ids(take(broker, queue)) == []
    time.sleep(hold.wait_s + 0.01)
    assert ids(take(broker, queue)) == seeded[1:2]
    # The state is the next start's theoretical arrival time in ms on Redis's clock, and expires.
    state = redis_client.get(keys.rate_state_key(queue))
    assert state is not None
    assert abs(float(state) - time.time() * 1000) < 1000
    assert 0 < redis_client.pttl(keys.rate_state_key(queue)) <= 1000


def test_rate_burst_allows_that_many_at_once(redis_client, queue) -> None:
    seeded = seed_pending(redis_client, queue, ["a"] * 6)
    redis_client.hset(keys.limits_key(queue), mapping={"rate": 1, "period_ms": 60_000, "burst": 4})
    fetched = take(Broker(redis_client), queue)
    assert ids(fetched) == seeded[:4]
    assert fetched.holds[queue].reason == HoldReason.RATE
    assert fetched.holds[queue].wait_s > 50  # the processor caps it at 1 s


def test_a_faster_rate_takes_effect_at_once(redis_client, queue) -> None:
    seed_pending(redis_client, queue, ["a"] * 4)
    broker = Broker(redis_client)
    redis_client.hset(keys.limits_key(queue), mapping={"rate": 1, "period_ms": 3_600_000})
    assert len(take(broker, queue).tasks) == 1
    assert len(take(broker, queue).tasks) == 0
    redis_client.hset(keys.limits_key(queue), mapping={"rate": 100, "period_ms": 1000, "burst": 1})
    # The old state (the next start an hour away) is cut to one interval of the new rate.
    fetched = take(broker, queue)
    assert fetched.tasks == [] or fetched.holds[queue].wait_s <= 0.01
    time.sleep(0.02)
    # The slots of the new rate that came due meanwhile (a call may take those it was late for).
    assert 1 <= len(take(broker, queue).tasks) <= 3


def test_a_late_caller_takes_the_slots_it_missed_but_idle_time_is_not_banked(redis_client, queue) -> None:
    seed_pending(redis_client, queue, ["a"] * 20)
    redis_client.hset(keys.limits_key(queue), mapping={"rate": 200, "period_ms": 1000, "burst": 1})
    broker = Broker(redis_client)
    assert len(take(broker, queue).tasks) == 1
    time.sleep(0.2)  # far more than the 30 ms of catch-up: the schedule restarts, burst 1
    assert len(take(broker, queue).tasks) == 1
    started = time.monotonic()
    time.sleep(0.012)
    caught_up = len(take(broker, queue).tasks)
    late_ms = (time.monotonic() - started) * 1000 - 5
    if late_ms < 30:  # a loaded machine may oversleep past the catch-up window
        # The slots due 5 and 10 ms after the last start, and any others up to now.
        assert 2 <= caught_up <= 1 + (late_ms + 5) // 5 + 1


def test_a_type_at_its_limit_is_parked_and_other_types_flow(redis_client, queue) -> None:
    seeded = seed_pending(redis_client, queue, ["pdf", "pdf", "mail", "pdf", "mail"])
    redis_client.hset(keys.limits_key(queue), "type:pdf:concurrency", 1)
    broker = Broker(redis_client)
    fetched = take(broker, queue)
    assert ids(fetched) == [seeded[0], seeded[2], seeded[4]]
    assert fetched.holds[queue].reason == HoldReason.TYPES
    assert redis_client.lrange(keys.parked_key(queue, "pdf"), 0, -1) == [b"pdf-3", b"pdf-1"]
    assert redis_client.smembers(keys.parked_types_key(queue)) == {b"pdf"}
    assert redis_client.zrange(keys.type_active_key(queue, "pdf"), 0, -1) == [b"pdf-0"]
    # A parked task is still pending: its hash says so and keeps its pending_since.
    assert redis_client.hmget(keys.task_key(queue, "pdf-1"), "state", "pending_since")[0] == b"pending"
    assert redis_client.hget(keys.task_key(queue, "pdf-1"), "pending_since") is not None
    # A new task of the limited type queues behind the parked ones; other types still flow.
    seed_pending(redis_client, queue, ["mail"])
    assert ids(take(broker, queue)) == ["mail-0"]


def test_parked_tasks_come_back_first_and_oldest_first_when_a_slot_frees(redis_client, queue) -> None:
    seeded = seed_pending(redis_client, queue, ["pdf", "pdf", "pdf"])
    redis_client.hset(keys.limits_key(queue), "type:pdf:concurrency", 1)
    broker = Broker(redis_client)
    assert ids(take(broker, queue)) == seeded[:1]
    seed_task(redis_client, message("mail", queue=queue, task_id="late-mail"), "pending")
    assert ids(take(broker, queue)) == ["late-mail"]
    finish(redis_client, queue, seeded[0])
    assert ids(take(broker, queue)) == [seeded[1]]
    # The finished task's slot was dropped because its lease is gone (nobody else removes it).
    assert redis_client.zrange(keys.type_active_key(queue, "pdf"), 0, -1) == [seeded[1].encode()]
    finish(redis_client, queue, seeded[1])
    assert ids(take(broker, queue)) == [seeded[2]]
    assert redis_client.exists(keys.parked_key(queue, "pdf"), keys.parked_types_key(queue)) == 0


def test_parked_tasks_drain_when_their_limits_are_removed(redis_client, queue) -> None:
    seeded = seed_pending(redis_client, queue, ["pdf"] * 3)
    redis_client.hset(keys.limits_key(queue), "type:pdf:concurrency", 1)
    broker = Broker(redis_client)
    assert ids(take(broker, queue)) == seeded[:1]
    redis_client.delete(keys.limits_key(queue))
    assert ids(take(broker, queue)) == seeded[1:]


def test_a_queue_limit_also_bounds_unparking(redis_client, queue) -> None:
    seeded = seed_pending(redis_client, queue, ["pdf"] * 3)
    redis_client.hset(keys.limits_key(queue), "type:pdf:concurrency", 1)
    broker = Broker(redis_client)
    take(broker, queue)
    redis_client.hset(keys.limits_key(queue), mapping={"type:pdf:concurrency": 5, "concurrency": 2})
    fetched = take(broker, queue)
    assert ids(fetched) == seeded[1:2]
    assert fetched.holds[queue].reason == HoldReason.CONCURRENCY


def test_type_rate_limit_parks_and_reports_its_wait(redis_client, queue) -> None:
    seeded = seed_pending(redis_client, queue, ["api", "api", "other"])
    redis_client.hset(keys.limits_key(queue), mapping={"type:api:rate": 2, "type:api:period_ms": 1000})
    fetched = take(Broker(redis_client), queue)
    assert ids(fetched) == [seeded[0], seeded[2]]
    assert fetched.holds[queue].reason == HoldReason.TYPES
    assert 0.3 < fetched.holds[queue].wait_s <= 0.5
    assert redis_client.get(keys.rate_state_key(queue, "api")) is not None
    assert redis_client.get(keys.rate_state_key(queue)) is None


def test_a_call_parks_a_bounded_number_and_asks_to_be_called_again(redis_client, queue) -> None:
    seed_pending(redis_client, queue, ["pdf"] * 250 + ["mail"])
    redis_client.hset(keys.limits_key(queue), "type:pdf:concurrency", 1)
    broker = Broker(redis_client)
    first = take(broker, queue)
    assert len(first.tasks) == 1
    assert first.holds[queue].reason == HoldReason.PARKED
    assert first.holds[queue].wait_s == 0
    assert ids(take(broker, queue)) == ["mail-250"]


def test_the_type_is_read_from_the_message_with_a_multi_byte_length(redis_client, queue) -> None:
    long_type = "t" * 300
    seeded = seed_pending(redis_client, queue, [long_type, long_type, "x"])
    redis_client.hset(keys.limits_key(queue), f"type:{long_type}:concurrency", 1)
    assert ids(take(Broker(redis_client), queue)) == [seeded[0], seeded[2]]
    assert redis_client.llen(keys.parked_key(queue, long_type)) == 1


def test_a_missing_task_hash_is_still_handed_over_under_limits(redis_client, queue) -> None:
    redis_client.lpush(keys.pending_key(queue), "ghost")
    redis_client.hset(keys.limits_key(queue), "type:pdf:concurrency", 1)
    fetched = take(Broker(redis_client), queue)
    assert [(d.task_id, d.data) for d in fetched.tasks] == [("ghost", b"")]
    assert redis_client.exists(keys.task_key(queue, "ghost")) == 0


def test_a_paused_queue_yields_nothing_and_is_not_held(redis_client, queue) -> None:
    seed_pending(redis_client, queue, ["a"])
    redis_client.set(keys.paused_key(queue), 1)
    redis_client.hset(keys.limits_key(queue), "concurrency", 1)
    assert take(Broker(redis_client), queue) == rdb.Fetched([], {})


def test_a_held_queue_does_not_block_the_next_one(redis_client) -> None:
    seed_pending(redis_client, "limited", ["a", "a"])
    seed_pending(redis_client, "free", ["b"])
    redis_client.hset(keys.limits_key("limited"), "concurrency", 1)
    broker = Broker(redis_client)
    assert ids(broker.run(rdb.dequeue(["limited"], now=time.time(), count=5))) == ["a-0"]
    fetched = broker.run(rdb.dequeue(["limited", "free"], now=time.time(), count=5))
    assert ids(fetched) == ["b-0"]
    assert fetched.holds["limited"].reason == HoldReason.CONCURRENCY


@pytest.mark.real
def test_an_unlimited_dequeue_makes_the_calls_of_gos(real_redis_url, queue) -> None:
    r = redis.Redis.from_url(real_redis_url)
    try:
        seed_pending(r, queue, ["a"] * 3)
        broker = Broker(r)
        take(broker, queue, count=1)  # loads the script
        r.config_resetstat()
        take(broker, queue, count=3)
        stats = r.info("commandstats")
        calls = {name: v["calls"] for name, v in stats.items()}
        # One EXISTS asks for the pause, the limits and parked types at once (Go's asks for the pause).
        assert calls.get("cmdstat_exists") == 1
        # Per task Go's five: the move, the two state writes, the lease, and one read of the hash.
        assert calls.get("cmdstat_hmget") == 2
        assert "cmdstat_type" not in calls
        assert "cmdstat_hgetall" not in calls
    finally:
        r.close()


@pytest.mark.parametrize("limited", [False, True], ids=["unlimited", "limited"])
def test_a_task_hash_without_message_is_leased_and_handed_over_empty(redis_client, queue, limited) -> None:
    """A hash that has neither ``msg`` nor ``pending_since`` is still a hash: it is leased as any
    task is (the processor then drops it), unlike a missing key, which gets no stub hash."""
    redis_client.lpush(keys.pending_key(queue), "bare")
    redis_client.hset(keys.task_key(queue, "bare"), "state", "pending")
    if limited:
        redis_client.hset(keys.limits_key(queue), "concurrency", 5)
    fetched = take(Broker(redis_client), queue)
    assert [(d.task_id, d.data, d.pending_since_ns) for d in fetched.tasks] == [("bare", b"", 0)]
    assert redis_client.hget(keys.task_key(queue, "bare"), "state") == b"active"
    assert redis_client.zscore(keys.lease_key(queue), "bare") is not None
