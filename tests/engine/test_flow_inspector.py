"""Parked tasks (set aside by a type limit, docs/wire.md §2.3) are pending tasks to the Inspector:
counted, listed, found, deleted, archived and removed with the queue, on fakeredis and the real
server."""

from __future__ import annotations

import time

import pytest
import redis
from seed import message, seed_task

from asynq_py.engine import (
    Inspector,
    QueueNotEmptyError,
    TaskState,
    TaskStateError,
    keys,
    rdb,
)
from asynq_py.engine.broker import Broker


def park(r: redis.Redis, queue: str) -> tuple[list[str], list[str]]:
    """Leave ``queue`` with 3 parked pdf tasks and 2 pending mail tasks behind one running pdf task.

    Returns (parked ids, pending ids), each oldest first.
    """
    for i in range(4):
        seed_task(r, message("pdf", queue=queue, task_id=f"pdf-{i}"), "pending", now=1000 + i)
    r.hset(keys.limits_key(queue), mapping={"type:pdf:concurrency": 1, "concurrency": 1})
    fetched = Broker(r).run(rdb.dequeue([queue], now=time.time(), count=10))
    assert [d.task_id for d in fetched.tasks] == ["pdf-0"]
    # The queue is full now: a second call parks nothing more, so park the rest with the type full.
    r.hdel(keys.limits_key(queue), "concurrency")
    assert Broker(r).run(rdb.dequeue([queue], now=time.time(), count=10)).tasks == []
    for i in range(2):
        seed_task(r, message("mail", queue=queue, task_id=f"mail-{i}"), "pending", now=2000 + i)
    assert r.llen(keys.parked_key(queue, "pdf")) == 3
    return ["pdf-1", "pdf-2", "pdf-3"], ["mail-0", "mail-1"]


@pytest.fixture
def inspector(redis_client: redis.Redis) -> Inspector:
    return Inspector(redis_client)


def test_parked_tasks_count_as_pending(redis_client, inspector, queue) -> None:
    park(redis_client, queue)
    info = inspector.get_queue_info(queue)
    assert (info.pending, info.active, info.size) == (5, 1, 6)
    # The oldest pending task is a parked one.
    assert info.latency.total_seconds() > time.time() - 1001 - 5


def test_parked_tasks_are_listed_first_in_dequeue_order(redis_client, inspector, queue) -> None:
    parked, pending = park(redis_client, queue)
    everything = [t.id for t in inspector.list_pending_tasks(queue)]
    assert everything == parked + pending
    pages = [[t.id for t in inspector.list_pending_tasks(queue, page=p, page_size=2)] for p in (1, 2, 3, 4)]
    assert pages == [parked[:2], [parked[2], pending[0]], [pending[1]], []]
    assert all(t.state == TaskState.PENDING for t in inspector.list_pending_tasks(queue))
    assert inspector.get_task_info(queue, "pdf-2").state == TaskState.PENDING


def test_a_parked_task_can_be_deleted_archived_but_not_run(redis_client, inspector, queue) -> None:
    park(redis_client, queue)
    inspector.delete_task(queue, "pdf-1")
    inspector.archive_task(queue, "pdf-2")
    with pytest.raises(TaskStateError, match="pending"):
        inspector.run_task(queue, "pdf-3")
    assert redis_client.lrange(keys.parked_key(queue, "pdf"), 0, -1) == [b"pdf-3"]
    assert redis_client.exists(keys.task_key(queue, "pdf-1")) == 0
    assert inspector.get_task_info(queue, "pdf-2").state == TaskState.ARCHIVED
    assert [t.id for t in inspector.list_pending_tasks(queue)] == ["pdf-3", "mail-0", "mail-1"]


@pytest.mark.parametrize("operation", ["delete", "archive"])
def test_bulk_operations_on_pending_include_parked_tasks(redis_client, inspector, queue, operation) -> None:
    park(redis_client, queue)
    progress: list[tuple[int, int]] = []
    if operation == "delete":
        done = inspector.delete_all_tasks(
            queue, TaskState.PENDING, progress=lambda p: progress.append((p.done, p.total))
        )
    else:
        done = inspector.archive_all_tasks(
            queue, TaskState.PENDING, progress=lambda p: progress.append((p.done, p.total))
        )
    assert done == 5
    assert progress[-1] == (5, 5)
    assert inspector.list_pending_tasks(queue) == []
    assert inspector.get_queue_info(queue).pending == 0
    assert redis_client.llen(keys.parked_key(queue, "pdf")) == 0
    if operation == "archive":
        assert inspector.get_queue_info(queue).archived == 5


def test_removing_a_queue_sees_and_deletes_parked_tasks(redis_client, inspector, queue) -> None:
    park(redis_client, queue)
    inspector.delete_all_tasks(queue, TaskState.PENDING)
    # Only parked tasks left (pdf-0 finishes): the queue is not empty.
    redis_client.lrem(keys.active_key(queue), 0, "pdf-0")
    redis_client.zrem(keys.lease_key(queue), "pdf-0")
    redis_client.delete(keys.task_key(queue, "pdf-0"))
    for i in range(2):
        seed_task(redis_client, message("pdf", queue=queue, task_id=f"p{i}"), "pending")
    redis_client.hset(keys.limits_key(queue), "type:pdf:rate", 1)
    redis_client.hset(keys.limits_key(queue), "type:pdf:period_ms", 3_600_000)
    Broker(redis_client).run(rdb.dequeue([queue], now=time.time(), count=10))
    assert redis_client.llen(keys.parked_key(queue, "pdf")) == 1
    redis_client.lrem(keys.active_key(queue), 0, "p0")
    redis_client.zrem(keys.lease_key(queue), "p0")
    redis_client.delete(keys.task_key(queue, "p0"))
    with pytest.raises(QueueNotEmptyError):
        inspector.delete_queue(queue)
    inspector.delete_queue(queue, force=True)
    assert queue not in inspector.queues()
    left = {k for k in redis_client.keys(f"asynq:{{{queue}}}:*") if not k.endswith(b":limits")}
    assert {k for k in left if b"parked" in k or b":t:" in k} == set()
