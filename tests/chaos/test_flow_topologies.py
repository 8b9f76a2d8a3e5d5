"""Issue 17's flow-control proofs (a)-(f) on the Redis Cluster and Sentinel fixtures, short sizes: the
dequeue, throttle and seeding scripts keep every key under the queue's hash tag, so they run on one
cluster slot; through Sentinel they reach the current master. Each scenario gets its own queue and
worker processes (tests/chaos/flow.py); the full sizes run on the standalone server
(tests/engine/test_flow_control.py).

Servers on these topologies cannot block on the wake lists: they hear of a slot freed on another
server through the wake channel (docs/wire.md §2.4), proven here against the 1 s re-check."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from chaos import flow
from helpers import unique_queue
from topology import cluster_factory, sentinel_factory

from asynq_py.engine import keys

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


def subscribed(nodes: list[redis.Redis]) -> Callable[[str], bool]:
    """Whether one server subscribes to a queue's wake channel, on any of ``nodes``."""

    def check(queue: str) -> bool:
        channel = keys.wake_channel(queue)
        return sum(dict(n.pubsub_numsub(channel))[channel.encode()] for n in nodes) == 1

    return check


def test_a_slot_freed_elsewhere_wakes_a_waiting_server_on_a_cluster(cluster_factory) -> None:
    cluster = cluster_factory()
    nodes = [cluster.client(n.port) for n in cluster.nodes]
    try:
        print(flow.slot_wakeups(cluster.url, subscribed(nodes)))
    finally:
        for node in nodes:
            node.close()


def test_a_slot_freed_elsewhere_wakes_a_waiting_server_through_sentinel(sentinel_factory) -> None:
    group = sentinel_factory()
    nodes = [redis.Redis(port=n.port) for n in (group.master, *group.replicas)]
    try:
        print(flow.slot_wakeups(group.url, subscribed(nodes)))
    finally:
        for node in nodes:
            node.close()
