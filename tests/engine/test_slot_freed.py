"""A task's end tells servers waiting on its queue's limits (docs/wire.md §2.4): every script that takes
a task out of active publishes ``slot`` on the queue's wake channel when the queue has limits, and
pushes the wake token when tasks wait too; a server's subscriber hands the message to the processor
with the queue's name, from the moment it is subscribed. The wake-up itself is proven on the
standalone server in tests/engine/test_flow_control.py, on a Cluster and through Sentinel in
tests/chaos/test_flow_topologies.py."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from helpers import wait_for
from seed import message, seed_task

import asynq_py.engine.scripts as scripts
from asynq_py.engine import QueueLimits, keys, rdb
from asynq_py.engine.broker import AsyncBroker, Broker
from asynq_py.engine.calls import Script
from asynq_py.engine.scripts import _uses
from asynq_py.engine.subscriber import Subscriber
from asynq_py.engine.wire import TaskMessage

FREEING: dict[str, Callable[[TaskMessage, float], Script]] = {
    "done": lambda msg, now: rdb.done_call(msg, now=now),
    "mark_complete": lambda msg, now: rdb.mark_complete_call(msg, now=now),
    "retry": lambda msg, now: rdb.retry_call(msg, now=now, retry_at=now + 60, is_failure=True),
    "throttled": lambda msg, now: rdb.retry_call(
        msg, now=now, retry_at=now + 60, is_failure=False, throttled=True
    ),
    "archive": lambda msg, now: rdb.archive_call(msg, now=now),
    "requeue": lambda msg, now: rdb.requeue_call(msg),
}
"""Every script a server ends a task with, as the server calls it."""
FOLDER = Path(scripts.__file__).parent


@pytest.fixture
def wake_messages(redis_client: redis.Redis, queue: str) -> Iterator[Callable[[], list[bytes]]]:
    """Read the messages published on the queue's wake channel so far."""
    pubsub = redis_client.pubsub()
    pubsub.subscribe(keys.wake_channel(queue))
    assert pubsub.get_message(timeout=1)  # the subscription's confirmation

    def read() -> list[bytes]:
        got = []
        while (found := pubsub.get_message(timeout=0.2)) is not None:
            got.append(found["data"])
        return got

    yield read
    pubsub.close()


def end_active_task(r: redis.Redis, queue: str, name: str, unique: bool = False) -> None:
    """Seed an active task and end it with script ``name``; the task must have left active."""
    unique_key = f"asynq:{{{queue}}}:unique:t:x" if unique else ""
    task_id = seed_task(r, message("t", queue=queue, unique_key=unique_key), "active")
    if unique:
        r.set(unique_key, task_id)
    msg = TaskMessage(type="t", id=task_id, queue=queue, retention=60, completed_at=int(time.time()),
                      error_msg="boom", unique_key=unique_key)  # fmt: skip
    with contextlib.closing(Broker(r)) as broker:
        assert broker.execute(FREEING[name](msg, time.time())) in ("OK", b"OK")
    assert r.llen(keys.active_key(queue)) == 0
    assert r.zcard(keys.lease_key(queue)) == 0


@pytest.mark.parametrize("name", FREEING)
def test_a_task_ending_in_a_queue_with_limits_publishes_slot(
    redis_client: redis.Redis, queue: str, wake_messages: Callable[[], list[bytes]], name: str
) -> None:
    redis_client.hset(keys.limits_key(queue), mapping=QueueLimits(concurrency=3).to_fields())
    end_active_task(redis_client, queue, name)
    # A requeue also made pending non-empty: that wake-up comes first.
    assert wake_messages() == ([b"1"] if name == "requeue" else []) + [b"slot"]


@pytest.mark.parametrize("name", FREEING)
def test_a_task_ending_in_a_queue_without_limits_publishes_nothing_more(
    redis_client: redis.Redis, queue: str, wake_messages: Callable[[], list[bytes]], name: str
) -> None:
    end_active_task(redis_client, queue, name)
    assert wake_messages() == ([b"1"] if name == "requeue" else [])


def wait_with(r: redis.Redis, queue: str, where: str) -> None:
    """Leave a task waiting in the queue: pending, or parked on its type's limit (docs/wire.md §2.3)."""
    if where == "pending":
        seed_task(r, message("t", queue=queue), "pending")
    else:
        r.lpush(keys.parked_key(queue, "t"), "parked-id")
        r.sadd(keys.parked_types_key(queue), "t")


@pytest.mark.parametrize("where", ["pending", "parked"])
@pytest.mark.parametrize("name", FREEING)
def test_a_task_ending_in_a_queue_with_limits_and_tasks_waiting_leaves_one_wake_token(
    redis_client: redis.Redis, queue: str, name: str, where: str
) -> None:
    redis_client.hset(keys.limits_key(queue), mapping=QueueLimits(concurrency=3).to_fields())
    wait_with(redis_client, queue, where)
    end_active_task(redis_client, queue, name)
    end_active_task(redis_client, queue, name)
    # A server blocked on the wake list wakes and asks again (lib/wake.lua: one token, expiring).
    assert redis_client.lrange(keys.wake_list_key(queue), 0, -1) == [b"1"]
    assert 0 < redis_client.ttl(keys.wake_list_key(queue)) <= 10


@pytest.mark.parametrize("name", FREEING)
def test_a_task_ending_with_nothing_waiting_or_without_limits_pushes_no_token(
    redis_client: redis.Redis, queue: str, name: str
) -> None:
    redis_client.hset(keys.limits_key(queue), mapping=QueueLimits(concurrency=3).to_fields())
    end_active_task(redis_client, queue, name)
    # (A requeued task is pending again: that pushes the token, as any path that fills pending does.)
    assert redis_client.llen(keys.wake_list_key(queue)) == (1 if name == "requeue" else 0)
    redis_client.delete(keys.limits_key(queue), keys.wake_list_key(queue))
    wait_with(redis_client, queue, "pending")
    end_active_task(redis_client, queue, name)
    assert redis_client.llen(keys.wake_list_key(queue)) == 0


@pytest.mark.parametrize("name", ["done", "mark_complete"])
def test_the_unique_lock_is_still_released_after_the_new_key(
    redis_client: redis.Redis, queue: str, name: str
) -> None:
    redis_client.hset(keys.limits_key(queue), mapping=QueueLimits(concurrency=3).to_fields())
    end_active_task(redis_client, queue, name, unique=True)
    assert redis_client.keys(f"asynq:{{{queue}}}:unique:*") == []


@pytest.mark.real
@pytest.mark.parametrize("name", FREEING)
def test_a_user_denied_the_wake_channel_still_ends_tasks(real_redis_url: str, queue: str, name: str) -> None:
    admin = redis.Redis.from_url(real_redis_url)
    user = f"nowake-{queue}"
    admin.acl_setuser(user, enabled=True, passwords=["+pw"], keys=["*"], channels=["asynq:cancel"],
                      commands=["+@all"])  # fmt: skip
    try:
        admin.hset(keys.limits_key(queue), mapping=QueueLimits(concurrency=3).to_fields())
        where = admin.connection_pool.connection_kwargs
        denied = redis.Redis(host=where.get("host", "localhost"), port=where["port"], db=where.get("db", 0),
                             username=user, password="pw")  # fmt: skip
        try:
            end_active_task(denied, queue, name)
        finally:
            denied.close()
    finally:
        admin.acl_deluser(user)
        admin.close()


@pytest.mark.real
async def test_the_subscriber_hands_slot_to_on_slot_with_the_queue_and_other_messages_to_on_wake(
    real_redis_url: str, queue: str
) -> None:
    other = f"{queue}-other"
    slots: list[str] = []
    wakes: list[float] = []
    broker = AsyncBroker(real_redis_url)
    subscriber = Subscriber(broker, [queue, other], lambda _: None, lambda: wakes.append(time.monotonic()),
                            slots.append, logging.getLogger("test"))  # fmt: skip
    stopping = asyncio.Event()
    running = asyncio.ensure_future(subscriber.run(stopping))
    publisher = redis.asyncio.Redis.from_url(real_redis_url)
    try:
        await asyncio.wait_for(subscriber.subscribed.wait(), 10)
        woken_at_start = len(wakes)  # (a subscription starts with one wake-up: work may have come meanwhile)
        await publisher.publish(keys.wake_channel(other), "slot")
        await publisher.publish(keys.wake_channel(queue), "slot")
        await publisher.publish(keys.wake_channel(queue), "1")
        await asyncio.to_thread(wait_for, lambda: len(slots) == 2 and len(wakes) > woken_at_start, 5)
        assert slots == [other, queue]
        assert len(wakes) == woken_at_start + 1
    finally:
        stopping.set()
        await asyncio.wait_for(running, 10)
        await publisher.aclose()
        await broker.aclose()


def test_every_script_that_takes_a_task_out_of_active_tells_waiting_servers() -> None:
    takers = {
        path.stem
        for path in FOLDER.glob("*.lua")
        if "-> asynq:{<qname>}:active" in (text := path.read_text()) and '"LREM", KEYS' in text
    }
    assert takers == {"archive", "done", "mark_complete", "requeue", "retry"}
    assert all("lib/slot_freed.lua" in _uses((FOLDER / f"{name}.lua").read_text()) for name in takers)


@pytest.mark.real
async def test_a_message_right_after_subscribing_is_heard_at_once(real_redis_url: str, queue: str) -> None:
    queues = [f"{queue}-{i}" for i in range(8)]
    slots: list[float] = []
    broker = AsyncBroker(real_redis_url)
    subscriber = Subscriber(broker, queues, lambda _: None, lambda: None,
                            lambda _: slots.append(time.monotonic()), logging.getLogger("test"))  # fmt: skip
    stopping = asyncio.Event()
    running = asyncio.ensure_future(subscriber.run(stopping))
    publisher = redis.asyncio.Redis.from_url(real_redis_url)
    try:
        await asyncio.wait_for(subscriber.subscribed.wait(), 10)
        sent = time.monotonic()
        await publisher.publish(keys.wake_channel(queues[-1]), "slot")
        await asyncio.to_thread(wait_for, lambda: slots, 5)
        # Reading the subscription's 9 confirmations must not hold the message up (each once cost 0.25 s).
        assert slots[0] - sent < 0.2
    finally:
        stopping.set()
        await asyncio.wait_for(running, 10)
        await publisher.aclose()
        await broker.aclose()
