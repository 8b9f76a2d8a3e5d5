"""``durability="replicated"`` (issue 10 item 4): an enqueue returns only once ``min_replicas``
replicas have the task (``WAIT``), and says so with ``NotReplicatedError`` when they do not."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from helpers import unique_queue, wait_for
from topology import Cluster, cluster_factory, replication

from asynq_py.engine import (
    AsyncClient,
    Client,
    NotReplicatedError,
    Task,
    TaskIdConflictError,
    TaskInfo,
    ValidationError,
)

__all__ = ["cluster_factory"]


@pytest.fixture
def pair(real_server_factory) -> Iterator[tuple[Any, Any]]:
    """A master and one replica that is in sync."""
    master = real_server_factory(extra=("--repl-diskless-sync-delay", "0"))
    replica = real_server_factory(
        extra=("--replicaof", "127.0.0.1", str(master.port), "--repl-diskless-sync-delay", "0")
    )
    wait_for(lambda: replication(replica.port).get("master_link_status") == "up", 15, "the replica to sync")
    yield master, replica


def on_replica(replica: Any, queue: str, task_id: str) -> bool:
    r = redis.Redis(port=replica.port, single_connection_client=True)
    try:
        if replication(replica.port).get("role") == "slave" and _cluster_enabled(r):
            r.execute_command("READONLY")  # a cluster replica answers MOVED to reads without it
        return bool(r.exists(f"asynq:{{{queue}}}:t:{task_id}"))
    finally:
        r.close()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"durability": "quorum"}, "durability must be"),
        ({"durability": "replicated", "min_replicas": 0}, "min_replicas"),
        ({"durability": "replicated", "replication_timeout_s": 0}, "replication_timeout_s"),
    ],
)
def test_bad_durability_options_are_refused(kwargs, match) -> None:
    with pytest.raises(ValidationError, match=match):
        Client("redis://127.0.0.1:1", **kwargs)
    with pytest.raises(ValidationError, match=match):
        AsyncClient("redis://127.0.0.1:1", **kwargs)


@pytest.mark.real
def test_a_replicated_enqueue_is_on_the_replica_when_it_returns(pair) -> None:
    master, replica = pair
    queue = unique_queue()
    with Client(master.url, durability="replicated", min_replicas=1) as client:
        for i in range(20):
            info = client.enqueue(Task("t", f"{i}".encode()), queue=queue)
            # No wait: WAIT returned only after the replica acknowledged the write.
            assert on_replica(replica, queue, info.id)
        many = client.enqueue_many([Task("t", b"m") for _ in range(10)], queue=queue)
        assert all(isinstance(r, TaskInfo) for r in many)
        assert all(on_replica(replica, queue, r.id) for r in many if isinstance(r, TaskInfo))


@pytest.mark.real
def test_too_few_replicas_raise_and_the_same_id_can_be_retried(pair) -> None:
    master, _ = pair
    queue = unique_queue()
    with Client(master.url, durability="replicated", min_replicas=2, replication_timeout_s=0.2) as client:
        t0 = time.monotonic()
        with pytest.raises(NotReplicatedError) as caught:
            client.enqueue(Task("t", b""), queue=queue, task_id="once")
        assert 0.15 <= time.monotonic() - t0 < 2.0
        assert (caught.value.acked, caught.value.wanted) == (1, 2)
        assert (caught.value.queue, caught.value.task_id) == (queue, "once")
        # The master kept it: retrying with the same id tells the caller the first write survived.
        with pytest.raises(TaskIdConflictError):
            client.enqueue(Task("t", b""), queue=queue, task_id="once")
        results = client.enqueue_many([Task("t", b""), Task("t", b"")], queue=queue)
        assert [type(r) for r in results] == [NotReplicatedError, NotReplicatedError]


@pytest.mark.real
def test_a_stopped_replica_makes_the_enqueue_fail_not_lie(pair) -> None:
    """SIGSTOP the replica: the write reaches the master, no replica acknowledges, and the caller
    is told; after SIGCONT replicated enqueues succeed again."""
    master, replica = pair
    queue = unique_queue()
    with Client(master.url, durability="replicated", replication_timeout_s=0.3) as client:
        client.enqueue(Task("t", b""), queue=queue)
        os.kill(replica.proc.pid, signal.SIGSTOP)
        try:
            with pytest.raises(NotReplicatedError) as caught:
                client.enqueue(Task("t", b""), queue=queue)
            assert caught.value.acked == 0
        finally:
            os.kill(replica.proc.pid, signal.SIGCONT)
        wait_for(lambda: replication(replica.port).get("master_link_status") == "up", 10, "the replica back")
        info = client.enqueue(Task("t", b""), queue=queue)
        assert on_replica(replica, queue, info.id)


@pytest.mark.real
async def test_concurrent_async_enqueues_each_wait_for_their_own_write(pair) -> None:
    """Many concurrent enqueues (auto-pipelined on one connection): each returns only once its
    own task is on the replica."""
    master, replica = pair
    queue = unique_queue()
    async with AsyncClient(master.url, durability="replicated") as client:
        infos = await asyncio.gather(*(client.enqueue(Task("t", b""), queue=queue) for _ in range(50)))
        assert all(on_replica(replica, queue, i.id) for i in infos)
        os.kill(replica.proc.pid, signal.SIGSTOP)
        try:
            client_fast = AsyncClient(master.url, durability="replicated", replication_timeout_s=0.2)
            try:
                results = await asyncio.gather(
                    *(client_fast.enqueue(Task("t", b""), queue=queue) for _ in range(5)),
                    return_exceptions=True,
                )
            finally:
                await client_fast.aclose()
            assert [type(r) for r in results] == [NotReplicatedError] * 5
        finally:
            os.kill(replica.proc.pid, signal.SIGCONT)


@pytest.mark.real
@pytest.mark.cluster
def test_replicated_enqueue_on_a_cluster_waits_on_each_queues_master(cluster_factory) -> None:
    cluster: Cluster = cluster_factory()
    with Client(cluster.url, durability="replicated") as client:
        queues = [f"r{i}" for i in range(6)]
        slots = {cluster.owner(_slot(client, q)) for q in queues}
        assert len(slots) >= 2, "the queues should span several masters"
        results = client.enqueue_many([Task("t", b"", queue=q) for q in queues for _ in range(3)])
        assert all(isinstance(r, TaskInfo) for r in results), results
        for r in results:
            assert isinstance(r, TaskInfo)
            owner = cluster.node(cluster.owner(_slot(client, r.queue)))
            assert on_replica(cluster.replica_of(owner), r.queue, r.id)
        for q in queues:
            info = client.enqueue(Task("t", b""), queue=q)
            owner = cluster.node(cluster.owner(_slot(client, q)))
            assert on_replica(cluster.replica_of(owner), q, info.id)


def _cluster_enabled(r: redis.Redis) -> bool:
    return bool(r.info("cluster").get("cluster_enabled"))


def _slot(client: Client, queue: str) -> int:
    from redis.crc import key_slot

    return int(key_slot(f"asynq:{{{queue}}}:pending".encode()))
