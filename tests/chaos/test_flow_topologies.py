"""Issue 17's flow-control proofs (a)-(f) on the Redis Cluster and Sentinel fixtures, short sizes: the
dequeue, throttle and seeding scripts keep every key under the queue's hash tag, so they run on one
cluster slot; through Sentinel they reach the current master. Each scenario gets its own queue and
worker processes (tests/chaos/flow.py); the full sizes run on the standalone server
(tests/engine/test_flow_control.py).

Servers on these topologies cannot block on the wake lists: they hear of a slot freed on another
server through the wake channel (docs/wire.md §2.4), proven here against the 1 s re-check."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from chaos import flow
from helpers import unique_queue, wait_for
from topology import cluster_factory, sentinel_factory

from asynq_py.engine import Client, Server, ServerConfig, Task, keys, rdb
from asynq_py.engine.broker import Broker
from asynq_py.engine.calls import Command, Script
from asynq_py.engine.holds import MAX_HOLD_S
from asynq_py.engine.wire import TaskMessage, encode_task_message

pytestmark = [pytest.mark.real, pytest.mark.slow, pytest.mark.cluster, pytest.mark.timeout(600)]
__all__ = ["cluster_factory", "sentinel_factory"]


def run_scenarios(url: str, workdir: Path) -> None:
    """(a) to (f) at short sizes, one after the other."""
    scenarios: list[tuple[str, Callable[[flow.Fleet], object]]] = [
        ("a", lambda f: flow.queue_concurrency(f, tasks=20)),
        ("b", lambda f: flow.queue_rate(f, tasks=150)),
        ("c", lambda f: flow.type_limit(f, limited=10, others=150)),
        ("d", flow.limit_change),
        ("e", lambda f: flow.throttle(f, "athrottle")),
        ("f", flow.crash_frees_slots),
    ]
    for name, scenario in scenarios:
        (workdir / name).mkdir()
        fleet = flow.Fleet(url, unique_queue(f"flow-{name}"), workdir / name)
        try:
            print(name, scenario(fleet))
        finally:
            fleet.stop()


def test_flow_control_on_a_cluster(cluster_factory, tmp_path: Path) -> None:
    run_scenarios(cluster_factory().url, tmp_path)


def test_flow_control_through_sentinel(sentinel_factory, tmp_path: Path) -> None:
    run_scenarios(sentinel_factory().url, tmp_path)


FREEING: dict[str, Callable[[TaskMessage, float], Script]] = {
    "done": lambda msg, now: rdb.done_call(msg, now=now),
    "mark_complete": lambda msg, now: rdb.mark_complete_call(msg, now=now),
    "retry": lambda msg, now: rdb.retry_call(msg, now=now, retry_at=now + 60, is_failure=True),
    "archive": lambda msg, now: rdb.archive_call(msg, now=now),
    "requeue": lambda msg, now: rdb.requeue_call(msg),
}
"""Every script with which a task's end frees its slot, with the arguments a server gives it (a
requeued task is pending again, and may be the next one to start)."""

WOKEN_WITHIN_S = 0.35
"""A waiting server starts the next task this soon after a slot frees on another server. Without a
wake-up it would notice only at its next re-check, MAX_HOLD_S after its last one: here about 0.7 s."""


def take_slot(broker: Broker, queue: str, name: str) -> TaskMessage:
    """Make a task active as another server's dequeue leaves it (hash, lease, then the active list)."""
    msg = TaskMessage(type="held", id=f"{name}-{time.monotonic_ns()}", queue=queue, retention=60)
    broker.execute(Command(("HSET", keys.task_key(queue, msg.id), "msg", encode_task_message(msg),
                            "state", "active")))  # fmt: skip
    broker.execute(Command(("ZADD", keys.lease_key(queue), int(time.time()) + 60, msg.id)))
    broker.execute(Command(("LPUSH", keys.active_key(queue), msg.id)))
    return msg


def slot_wakeups(url: str, nodes: list[redis.Redis]) -> dict[str, float]:
    """Seconds from a slot freed elsewhere (by each freeing script) to the next task's start on a
    server waiting on the queue's full concurrency limit."""
    queue = unique_queue("freed")
    starts: list[float] = []

    async def handler(ctx: Any, task: Task) -> None:
        starts.append(time.monotonic())

    # A long idle poll: the server re-checks the held queue exactly every MAX_HOLD_S.
    server = Server(url, ServerConfig(queues={queue: 1}, concurrency=2, task_check_interval_s=5.0))
    broker = Broker(url)
    latencies = {}
    try:
        broker.execute(Command(("HSET", keys.limits_key(queue), "concurrency", 1)))
        server.start(handler)
        channel = keys.wake_channel(queue)
        wait_for(lambda: sum(dict(n.pubsub_numsub(channel))[channel.encode()] for n in nodes) == 1,
                 10, "the server's wake subscription")  # fmt: skip
        with Client(url) as client:
            for name, freeing in FREEING.items():
                held, before = take_slot(broker, queue, name), len(starts)
                client.enqueue(Task("next"), queue=queue)
                time.sleep(MAX_HOLD_S * 0.3)  # the server finds the queue full and holds it
                assert len(starts) == before, f"{name}: a task started while the slot was taken"
                msg = TaskMessage(type=held.type, id=held.id, queue=queue, retention=60,
                                  completed_at=int(time.time()), error_msg="x")  # fmt: skip
                broker.execute(freeing(msg, time.time()))
                freed = time.monotonic()
                wait_for(lambda n=before: len(starts) > n, 5, f"a task to start in the slot {name} freed")
                latencies[name] = starts[before] - freed

                def idle() -> bool:
                    lengths = [
                        broker.execute(Command(("LLEN", k)))
                        for k in (keys.active_key(queue), keys.pending_key(queue))
                    ]
                    return lengths == [0, 0]

                wait_for(idle, 5, "the queue's tasks to end")
    finally:
        server.shutdown()
        broker.close()
    assert all(s < WOKEN_WITHIN_S for s in latencies.values()), latencies
    return latencies


def test_a_slot_freed_elsewhere_wakes_a_waiting_server_on_a_cluster(cluster_factory) -> None:
    cluster = cluster_factory()
    nodes = [cluster.client(n.port) for n in cluster.nodes]
    try:
        print(slot_wakeups(cluster.url, nodes))
    finally:
        for node in nodes:
            node.close()


def test_a_slot_freed_elsewhere_wakes_a_waiting_server_through_sentinel(sentinel_factory) -> None:
    group = sentinel_factory()
    nodes = [redis.Redis(port=n.port) for n in (group.master, *group.replicas)]
    try:
        print(slot_wakeups(group.url, nodes))
    finally:
        for node in nodes:
            node.close()
