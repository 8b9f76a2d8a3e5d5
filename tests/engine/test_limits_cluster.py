"""The limits API on a Redis Cluster: queues on every master, type slots, and the Go-server check."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
import redis
from helpers import wait_for
from topology import cluster_factory

from asynq_py.engine import (
    AsyncInspector,
    Inspector,
    Limit,
    QueueLimits,
    Rate,
    Server,
    ServerConfig,
    keys,
    rdb,
    wire,
)
from asynq_py.engine.broker import Broker

pytestmark = [pytest.mark.real, pytest.mark.cluster]
__all__ = ["cluster_factory"]

QUEUES = [f"lq{i}" for i in range(6)]
"""Queues whose slots spread over the three masters."""


async def test_limits_on_a_cluster(cluster_factory) -> None:
    cluster = cluster_factory()
    rc = redis.RedisCluster(host=cluster.host, port=cluster.masters[0].port)
    assert len({rc.keyslot(keys.limits_key(q)) * 3 // 16384 for q in QUEUES}) == 3  # every master holds one
    # Paused, so that the server's dequeue leaves the seeded slots, parked ids and rate state alone.
    rc.set(keys.paused_key(QUEUES[0]), int(time.time()))
    server = Server(cluster.url, ServerConfig(queues={QUEUES[0]: 1}, heartbeat_interval_s=0.5))
    server.start(lambda ctx, task: None)
    try:
        with Inspector(cluster.url) as inspector:
            for i, q in enumerate(QUEUES):
                inspector.set_queue_limits(q, concurrency=i + 1, rate=f"{i + 1}/s")
                inspector.set_queue_limits(q, task_type="pdf", concurrency=1)
                rc.zadd(keys.type_active_key(q, "pdf"), {"gone": 1})
                rc.lpush(keys.parked_key(q, "pdf"), "p")
                rc.sadd(keys.parked_types_key(q), "pdf")
                rc.set(keys.throttled_total_key(q), i)
            # a Go server (no marker) serving two limited queues on different masters
            info = wire.ServerInfo(
                "go", 1, "gsid", 5, {QUEUES[1]: 1, QUEUES[2]: 1}, False, "active", datetime.now(UTC), 0
            )
            go_keys = (keys.server_info_key("go", 1, "gsid"), keys.workers_key("go", 1, "gsid"))
            encoded = wire.encode_server_info(info)
            Broker(rc).run(rdb.write_server_state(*go_keys, encoded, {}, now=time.time(), ttl_s=30))
            wait_for(lambda: len(inspector.servers()) == 2, what="both heartbeats")
            infos = inspector.list_queue_limits()
            assert [i.queue for i in infos] == QUEUES
            for i, got in enumerate(infos):
                assert got.limits == QueueLimits(i + 1, Rate(i + 1, 1_000), {"pdf": Limit(concurrency=1)})
                assert (got.throttled_total, got.next_slot_in_ms) == (i, 0)
                assert [(t.task_type, t.active, t.parked) for t in got.types] == [("pdf", 0, 1)]
                hosts = [s.host for s in got.unenforced_by]
                assert hosts == (["go"] if got.queue in QUEUES[1:3] else [])
            inspector.remove_queue_limits(QUEUES[3], task_type="pdf")
            inspector.remove_queue_limits(QUEUES[4])
        async with AsyncInspector(cluster.url) as ainspector:
            got = await ainspector.get_queue_limits(QUEUES[3])
            assert got.limits == QueueLimits(4, Rate(4, 1_000))
            assert [(t.task_type, t.limit.is_empty, t.parked) for t in got.types] == [("pdf", True, 1)]
            assert (await ainspector.get_queue_limits(QUEUES[4])).limits.is_empty
    finally:
        server.shutdown()
        rc.close()
