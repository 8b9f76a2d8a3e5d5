"""The Inspector's flow-control API: set, remove and list limits with their use (fake and real Redis)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
import redis
from seed import message, seed_task

from asynq_py.engine import (
    AsyncInspector,
    DecodeError,
    Inspector,
    Limit,
    LimitNotFoundError,
    QueueLimits,
    Rate,
    ValidationError,
    keys,
    rdb,
    wire,
)
from asynq_py.engine.broker import Broker


@pytest.fixture
def inspector(redis_client: redis.Redis) -> Inspector:
    return Inspector(redis_client)


def redis_ms(r: redis.Redis) -> float:
    seconds, micros = r.time()
    return seconds * 1000 + micros / 1000


def beat(r: redis.Redis, host: str, queues: dict[str, int], *, marked: bool) -> None:
    """Write a live server's heartbeat; ``marked`` adds the asynq-py marker as our heartbeat does."""
    info = wire.ServerInfo(host, 7, f"sid-{host}", 10, queues, False, "active", datetime.now(UTC), 0)
    server_key, workers_key = (
        keys.server_info_key(host, 7, f"sid-{host}"),
        keys.workers_key(host, 7, f"sid-{host}"),
    )
    broker = Broker(r)
    if marked:
        broker.run(
            rdb.heartbeat(server_key, workers_key, wire.encode_server_info(info), {}, {},
                          marker=(keys.server_marker_key(host, 7, f"sid-{host}"), "asynq-py"),
                          now=time.time(), ttl_s=30, lease_s=30)
        )  # fmt: skip
    else:
        broker.run(
            rdb.write_server_state(
                server_key, workers_key, wire.encode_server_info(info), {}, now=time.time(), ttl_s=30
            )
        )


def test_set_writes_the_contract_fields_and_registers_the_queue(
    inspector: Inspector, redis_client, queue
) -> None:
    limits = inspector.set_queue_limits(queue, concurrency=5, rate="100/m", burst=10)
    assert limits == QueueLimits(5, Rate(100, 60_000, 10))
    limits = inspector.set_queue_limits(queue, task_type="report:pdf", concurrency=2)
    assert limits.types == {"report:pdf": Limit(concurrency=2)}
    assert redis_client.hgetall(keys.limits_key(queue)) == {
        b"concurrency": b"5",
        b"rate": b"100",
        b"period_ms": b"60000",
        b"burst": b"10",
        b"type:report:pdf:concurrency": b"2",
    }
    assert redis_client.sismember(keys.ALL_QUEUES, queue)
    assert inspector.get_queue_limits(queue).limits == limits


def test_partial_updates_keep_other_parts_and_reset_the_rate_state_only_when_the_rate_changes(
    inspector: Inspector, redis_client, queue
) -> None:
    inspector.set_queue_limits(queue, rate="10/s", burst=4)
    redis_client.set(keys.rate_state_key(queue), "1e15")
    assert inspector.set_queue_limits(queue, burst=2).rate == Rate(10, 1_000, 2)
    assert redis_client.exists(keys.rate_state_key(queue))  # same rate, new burst: state kept
    assert inspector.set_queue_limits(queue, concurrency=3) == QueueLimits(3, Rate(10, 1_000, 2))
    assert redis_client.exists(keys.rate_state_key(queue))
    assert inspector.set_queue_limits(queue, rate="20/m").rate == Rate(20, 60_000, 2)
    assert not redis_client.exists(keys.rate_state_key(queue))  # a slower old rate must not hold back
    inspector.set_queue_limits(queue, task_type="t", rate="1/s")
    redis_client.set(keys.rate_state_key(queue, "t"), "1e15")
    inspector.set_queue_limits(queue, task_type="t", rate="2/s")
    assert not redis_client.exists(keys.rate_state_key(queue, "t"))


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({}, "give a concurrency, a rate or a burst"),
        ({"rate": "10/d"}, "bad rate '10/d'"),
        ({"burst": 3}, "a burst needs a rate"),
        ({"concurrency": 0}, "concurrency must be from 1"),
        ({"task_type": " ", "concurrency": 1}, "task type must not be blank"),
    ],
)
def test_bad_input_writes_nothing(inspector: Inspector, redis_client, queue, kwargs, needle) -> None:
    with pytest.raises(ValidationError, match=needle):
        inspector.set_queue_limits(queue, **kwargs)
    assert not redis_client.exists(keys.limits_key(queue))
    assert not redis_client.sismember(keys.ALL_QUEUES, queue)


def test_bad_queue_name_is_rejected(inspector: Inspector) -> None:
    with pytest.raises(ValidationError, match="must not contain"):
        inspector.set_queue_limits("a{b}", concurrency=1)


def test_remove_a_type_or_everything(inspector: Inspector, redis_client, queue) -> None:
    inspector.set_queue_limits(queue, concurrency=4, rate="5/s")
    inspector.set_queue_limits(queue, task_type="a:b", concurrency=1, rate="1/s")
    inspector.set_queue_limits(queue, task_type="c", concurrency=2)
    for t in (None, "a:b", "c"):
        redis_client.set(keys.rate_state_key(queue, t), "1")
    inspector.remove_queue_limits(queue, task_type="a:b")
    assert inspector.get_queue_limits(queue).limits == QueueLimits(4, Rate(5, 1_000), {"c": Limit(2)})
    assert not redis_client.exists(keys.rate_state_key(queue, "a:b"))
    assert redis_client.exists(keys.rate_state_key(queue))
    with pytest.raises(LimitNotFoundError, match=f"queue '{queue}' has no limits for type 'a:b'"):
        inspector.remove_queue_limits(queue, task_type="a:b")
    inspector.remove_queue_limits(queue)
    assert not redis_client.exists(
        keys.limits_key(queue), keys.rate_state_key(queue), keys.rate_state_key(queue, "c")
    )
    with pytest.raises(LimitNotFoundError, match=f"queue '{queue}' has no limits$"):
        inspector.remove_queue_limits(queue)


def test_corrupt_limits_are_reported_and_can_be_removed(inspector: Inspector, redis_client, queue) -> None:
    redis_client.sadd(keys.ALL_QUEUES, queue)
    redis_client.hset(keys.limits_key(queue), mapping={"concurrency": "lots", "type:x:rate": "1"})
    with pytest.raises(DecodeError, match="field 'concurrency' is 'lots'"):
        inspector.get_queue_limits(queue)
    with pytest.raises(DecodeError):
        inspector.set_queue_limits(queue, concurrency=1)
    inspector.remove_queue_limits(queue, task_type="x")
    inspector.remove_queue_limits(queue)
    assert inspector.get_queue_limits(queue).limits.is_empty


def test_usage_counts_active_live_slots_parked_throttled_and_the_next_slot(
    inspector: Inspector, redis_client, queue
) -> None:
    inspector.set_queue_limits(queue, concurrency=5, rate="1/m")
    inspector.set_queue_limits(queue, task_type="pdf", concurrency=2)
    inspector.set_queue_limits(queue, task_type="mail", rate="10/s", burst=3)
    for i in range(3):
        seed_task(
            redis_client,
            message("pdf", queue=queue, task_id=f"a{i}"),
            "active",
            lease_expiry=time.time() + 30,
        )
    # two ids hold a pdf slot; a third is dead (no lease any more) and is not counted
    redis_client.zadd(keys.type_active_key(queue, "pdf"), {"a0": 1, "a1": 1, "gone": 1})
    redis_client.lpush(keys.parked_key(queue, "pdf"), "p1", "p2")
    # a type whose limit was removed still has parked tasks draining
    redis_client.lpush(keys.parked_key(queue, "old"), "p3")
    redis_client.sadd(keys.parked_types_key(queue), "pdf", "old")
    today = datetime.now(UTC)
    redis_client.set(keys.throttled_key(queue, today), 4)
    redis_client.set(keys.throttled_total_key(queue), 9)
    now_ms = redis_ms(redis_client)
    redis_client.set(keys.rate_state_key(queue), now_ms + 10_000)  # the queue's next start in ~10 s
    redis_client.set(keys.rate_state_key(queue, "mail"), now_ms + 150)  # within the 200 ms burst room

    info = inspector.get_queue_limits(queue)
    assert (info.queue, info.active, info.throttled, info.throttled_total) == (queue, 3, 4, 9)
    assert info.next_slot_in_ms is not None
    assert 8_000 < info.next_slot_in_ms <= 10_000
    assert [(t.task_type, t.active, t.parked, t.next_slot_in_ms) for t in info.types] == [
        ("mail", None, 0, 0),
        ("old", None, 1, None),
        ("pdf", 2, 2, None),
    ]
    assert info.types[1].limit.is_empty
    assert info.unenforced_by == []


def test_unlimited_queue_reads_as_empty(inspector: Inspector, redis_client, queue) -> None:
    seed_task(redis_client, message("x", queue=queue), "pending")
    info = inspector.get_queue_limits(queue)
    assert info.limits.is_empty
    assert (info.active, info.next_slot_in_ms, info.types, info.throttled_total) == (0, None, [], 0)


def test_a_queue_without_tasks_yet_reads_its_limits(inspector: Inspector, redis_client, queue) -> None:
    assert inspector.get_queue_limits(queue).limits.is_empty  # no such queue: nothing limits it
    redis_client.hset(keys.limits_key(queue), "concurrency", "2")  # as ServerConfig.limits seeds it
    assert inspector.get_queue_limits(queue).limits == QueueLimits(concurrency=2)
    assert not redis_client.sismember(keys.ALL_QUEUES, queue)


def test_list_includes_served_queues_and_names_servers_without_the_marker(
    inspector: Inspector, redis_client
) -> None:
    inspector.set_queue_limits("limited", concurrency=1)
    seed_task(redis_client, message("x", queue="plain"), "pending")
    beat(redis_client, "go-host", {"limited": 1, "served-only": 1}, marked=False)
    beat(redis_client, "py-host", {"limited": 1, "plain": 1}, marked=True)
    infos = inspector.list_queue_limits()
    assert [i.queue for i in infos] == ["limited", "plain", "served-only"]
    by_queue = {i.queue: i for i in infos}
    assert [s.host for s in by_queue["limited"].unenforced_by] == ["go-host"]
    assert by_queue["plain"].unenforced_by == []
    assert [s.host for s in by_queue["served-only"].unenforced_by] == ["go-host"]
    assert by_queue["limited"].limits == QueueLimits(concurrency=1)


def test_list_with_nothing_is_empty(inspector: Inspector) -> None:
    assert inspector.list_queue_limits() == []


async def test_async_twin(aredis_client, redis_client, queue) -> None:
    inspector = AsyncInspector(aredis_client)
    assert await inspector.set_queue_limits(queue, rate=Rate(3, 1_000)) == QueueLimits(rate=Rate(3, 1_000))
    await inspector.set_queue_limits(queue, task_type="t", concurrency=1)
    info = await inspector.get_queue_limits(queue)
    assert info.types[0].active == 0
    assert [i.queue for i in await inspector.list_queue_limits()] == [queue]
    await inspector.remove_queue_limits(queue, task_type="t")
    await inspector.remove_queue_limits(queue)
    with pytest.raises(LimitNotFoundError):
        await inspector.remove_queue_limits(queue)
    assert not redis_client.exists(keys.limits_key(queue))


def test_next_slot_agrees_with_the_dequeue_scripts_hold(inspector: Inspector, redis_client, queue) -> None:
    inspector.set_queue_limits(queue, rate="1/m", burst=2)
    inspector.set_queue_limits(queue, task_type="pdf", rate="2/m")
    for i in range(4):
        seed_task(redis_client, message("pdf", queue=queue, task_id=f"t{i}"), "pending")
    broker = Broker(redis_client)
    taken = broker.run(rdb.dequeue([queue], now=time.time(), count=10))
    assert len(taken.tasks) == 1  # the type's rate allows one now; the queue's burst would allow 2
    held = broker.run(rdb.dequeue([queue], now=time.time(), count=10))
    assert not held.tasks
    info = inspector.get_queue_limits(queue)
    assert info.next_slot_in_ms == 0  # the queue's burst has room for one more
    (pdf,) = info.types
    assert pdf.next_slot_in_ms is not None
    assert 29_000 < pdf.next_slot_in_ms <= 30_000
    assert abs(held.holds[queue].wait_s * 1000 - pdf.next_slot_in_ms) < 1_000
