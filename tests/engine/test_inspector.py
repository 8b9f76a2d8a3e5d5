"""Inspector reads and changes, on Go-shaped state seeded with raw commands."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import redis
from seed import list_ids, message, scores, seed_task, task_hash

from asynq_py.engine import (
    AsyncInspector,
    BrokerError,
    Inspector,
    QueueNotEmptyError,
    QueueNotFoundError,
    SimulatedClock,
    TaskNotFoundError,
    TaskState,
    TaskStateError,
    ValidationError,
    rdb_inspect,
)
from asynq_py.engine.calls import Batch, Command
from asynq_py.engine.wire import ServerInfo as WireServer
from asynq_py.engine.wire import WorkerInfo as WireWorker
from asynq_py.engine.wire import encode_server_info, encode_worker_info

NOW = float(int(time.time()))


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(NOW)


@pytest.fixture
def inspector(redis_client: redis.Redis, clock: SimulatedClock) -> Inspector:
    return Inspector(redis_client, clock=clock)


def seed_every_state(r: redis.Redis, q: str = "q") -> dict[str, str]:
    ids = {}
    for state in ("pending", "active", "scheduled", "retry", "archived", "completed"):
        ids[state] = seed_task(
            r,
            message(f"t:{state}", b"{}", queue=q, task_id=f"{state}-1"),
            state,
            score=NOW + 60 if state in ("scheduled", "retry") else NOW,
            now=NOW - 5,
        )
    ids["aggregating"] = seed_task(
        r, message("t:agg", queue=q, task_id="agg-1", group_key="g"), "aggregating", group="g", score=NOW
    )
    return ids


def test_queue_info_counts_every_state(inspector: Inspector, redis_client: redis.Redis) -> None:
    seed_every_state(redis_client)
    redis_client.set(f"asynq:{{q}}:processed:{datetime.fromtimestamp(NOW, UTC):%Y-%m-%d}", 7)
    redis_client.set(f"asynq:{{q}}:failed:{datetime.fromtimestamp(NOW, UTC):%Y-%m-%d}", 2)
    redis_client.set("asynq:{q}:processed", 70)
    info = inspector.get_queue_info("q")
    assert (info.pending, info.active, info.scheduled, info.retry, info.archived, info.completed) == (1,) * 6
    assert (info.aggregating, info.groups, info.size) == (1, 1, 7)
    assert (info.processed, info.failed, info.processed_total, info.failed_total) == (7, 2, 70, 0)
    assert info.latency == timedelta(seconds=5)
    assert not info.paused


def test_queue_infos_reads_every_queue_in_one_round_trip(
    inspector: Inspector, redis_client: redis.Redis
) -> None:
    seed_every_state(redis_client, "q")
    seed_every_state(redis_client, "p")
    redis_client.set("asynq:{p}:failed", 3)
    redis_client.set("asynq:{p}:paused", 1)
    plan = rdb_inspect.queue_infos(now=NOW)
    assert plan.send(None) == Command(("SMEMBERS", "asynq:queues"))
    batch = plan.send([b"q", b"p"])
    assert isinstance(batch, Batch)
    assert len(batch.calls) == 4
    infos = inspector.queue_infos()
    assert [i.queue for i in infos] == ["p", "q"]
    assert infos[1] == inspector.get_queue_info("q")
    assert (infos[0].failed_total, infos[0].paused, infos[0].size) == (3, True, 7)


def test_queue_infos_of_no_queues(inspector: Inspector) -> None:
    assert inspector.queue_infos() == []


def test_unknown_queue(inspector: Inspector) -> None:
    with pytest.raises(QueueNotFoundError):
        inspector.get_queue_info("nope")
    with pytest.raises(QueueNotFoundError):
        inspector.list_pending_tasks("nope")


def test_lists_every_state_of_go_shaped_tasks(inspector: Inspector, redis_client: redis.Redis) -> None:
    ids = seed_every_state(redis_client)
    for state in ("pending", "active", "scheduled", "retry", "archived", "completed"):
        (task,) = inspector.list_tasks("q", state)
        assert (task.id, task.state, task.type) == (ids[state], TaskState(state), f"t:{state}")
    (agg,) = inspector.list_aggregating_tasks("q", "g")
    assert agg.group == "g"
    assert agg.state is TaskState.AGGREGATING
    assert inspector.list_scheduled_tasks("q")[0].next_process_at == datetime.fromtimestamp(NOW + 60, UTC)
    assert [g.group for g in inspector.groups("q")] == ["g"]


def test_pending_pages_come_in_dequeue_order(inspector: Inspector, redis_client: redis.Redis) -> None:
    for n in range(7):
        seed_task(redis_client, message(queue="q", task_id=f"p{n}"), "pending")
    pages = [[t.id for t in inspector.list_pending_tasks("q", page=p, page_size=3)] for p in (1, 2, 3)]
    assert pages == [["p0", "p1", "p2"], ["p3", "p4", "p5"], ["p6"]]
    with pytest.raises(ValidationError):
        inspector.list_pending_tasks("q", page=0)


def test_active_orphans_are_marked(inspector: Inspector, redis_client: redis.Redis) -> None:
    seed_task(redis_client, message(queue="q", task_id="live"), "active", lease_expiry=NOW + 30)
    seed_task(redis_client, message(queue="q", task_id="dead"), "active", lease_expiry=NOW - 1)
    orphaned = {t.id: t.is_orphaned for t in inspector.list_active_tasks("q")}
    assert orphaned == {"live": False, "dead": True}


def test_undecodable_tasks_are_listed_marked(inspector: Inspector, redis_client: redis.Redis) -> None:
    seed_task(redis_client, message(queue="q", task_id="good"), "archived", score=NOW - 10)
    redis_client.zadd("asynq:{q}:archived", {"bad": NOW})
    redis_client.hset("asynq:{q}:t:bad", mapping={"msg": b"\xff\xff\xff", "state": "archived"})
    good, bad = inspector.list_archived_tasks("q")
    assert (good.id, good.decode_error, good.raw_size) == ("good", "", 0)
    assert (bad.id, bad.queue, bad.state, bad.type, bad.raw_size) == ("bad", "q", TaskState.ARCHIVED, "", 3)
    assert bad.decode_error
    assert inspector.get_queue_info("q").archived == 2
    inspector.delete_task("q", "bad")
    assert [t.id for t in inspector.list_archived_tasks("q")] == ["good"]


def test_get_task_info_with_result(inspector: Inspector, redis_client: redis.Redis) -> None:
    seed_task(
        redis_client,
        message(queue="q", task_id="c1", retention=3600, completed_at=int(NOW)),
        "completed",
        score=NOW + 3600,
        result=b"answer",
    )
    info = inspector.get_task_info("q", "c1")
    assert (info.state, info.result, info.retention) == (TaskState.COMPLETED, b"answer", timedelta(hours=1))
    with pytest.raises(TaskNotFoundError):
        inspector.get_task_info("q", "missing")


def test_run_task_moves_to_pending(inspector: Inspector, redis_client: redis.Redis) -> None:
    ids = seed_every_state(redis_client)
    for state in ("scheduled", "retry", "archived", "completed", "aggregating"):
        inspector.run_task("q", ids[state])
        assert task_hash(redis_client, "q", ids[state])["state"] == b"pending"
    assert sorted(list_ids(redis_client, "q", "pending")) == sorted(
        [ids[s] for s in ("pending", "scheduled", "retry", "archived", "completed", "aggregating")]
    )
    assert redis_client.smembers("asynq:{q}:groups") == set()
    with pytest.raises(TaskStateError, match="running"):
        inspector.run_task("q", ids["active"])
    with pytest.raises(TaskStateError, match="pending"):
        inspector.run_task("q", ids["pending"])
    with pytest.raises(TaskNotFoundError):
        inspector.run_task("q", "missing")


def test_archive_task(inspector: Inspector, redis_client: redis.Redis) -> None:
    ids = seed_every_state(redis_client)
    for state in ("pending", "scheduled", "retry", "completed", "aggregating"):
        inspector.archive_task("q", ids[state])
        assert task_hash(redis_client, "q", ids[state])["state"] == b"archived"
    assert scores(redis_client, "asynq:{q}:archived")[ids["pending"]] == NOW
    with pytest.raises(TaskStateError, match="active"):
        inspector.archive_task("q", ids["active"])
    with pytest.raises(TaskStateError, match="already archived"):
        inspector.archive_task("q", ids["archived"])


def test_delete_task_releases_owned_lock(inspector: Inspector, redis_client: redis.Redis) -> None:
    lock = "asynq:{q}:unique:t:abc"
    seed_task(redis_client, message(queue="q", task_id="u1", unique_key=lock), "scheduled", score=NOW + 10)
    redis_client.set(lock, "u1")
    inspector.delete_task("q", "u1")
    assert redis_client.exists(lock, "asynq:{q}:t:u1") == 0
    assert list_ids(redis_client, "q", "scheduled") == []
    ids = seed_every_state(redis_client)
    with pytest.raises(TaskStateError):
        inspector.delete_task("q", ids["active"])


def test_delete_task_from_every_state_but_active(inspector: Inspector, redis_client: redis.Redis) -> None:
    ids = seed_every_state(redis_client)
    for state in ("pending", "scheduled", "retry", "archived", "completed", "aggregating"):
        inspector.delete_task("q", ids[state])
        assert redis_client.exists(f"asynq:{{q}}:t:{ids[state]}") == 0
    assert redis_client.exists("asynq:{q}:pending", "asynq:{q}:g:g", "asynq:{q}:groups") == 0
    assert inspector.get_queue_info("q").size == 1  # the active task


@pytest.mark.parametrize("operation", ["archive_task", "delete_task"])
@pytest.mark.parametrize(
    ("state", "where", "message_part"),
    [
        ("pending", "asynq:{q}:pending", "not found in list pending"),
        ("scheduled", "asynq:{q}:scheduled", "not found in zset scheduled"),
        ("aggregating", "asynq:{q}:g:g", "not found in group g"),
    ],
)
def test_a_task_missing_from_its_state_s_key_is_an_error_that_changes_nothing(
    inspector: Inspector, redis_client: redis.Redis, operation: str, state: str, where: str, message_part: str
) -> None:
    ids = seed_every_state(redis_client)
    redis_client.delete(where)
    with pytest.raises(BrokerError, match=message_part):
        getattr(inspector, operation)("q", ids[state])
    assert task_hash(redis_client, "q", ids[state])["state"] == state.encode()
    assert list_ids(redis_client, "q", "archived") == [ids["archived"]]


def test_bulk_operations(inspector: Inspector, redis_client: redis.Redis) -> None:
    for n in range(3):
        seed_task(redis_client, message(queue="q", task_id=f"r{n}"), "retry", score=NOW + 10)
        seed_task(redis_client, message(queue="q", task_id=f"p{n}"), "pending")
    assert inspector.archive_all_pending_tasks("q") == 3
    assert inspector.run_all_retry_tasks("q") == 3
    assert inspector.delete_all_archived_tasks("q") == 3
    assert redis_client.exists("asynq:{q}:t:p0") == 0
    assert inspector.archive_all_tasks("q", "pending") == 3
    assert inspector.run_all_archived_tasks("q") == 3
    assert inspector.delete_all_pending_tasks("q") == 3
    assert inspector.get_queue_info("q").size == 0
    with pytest.raises(ValidationError):
        inspector.delete_all_tasks("q", "active")


def test_pause_and_unpause(inspector: Inspector, redis_client: redis.Redis) -> None:
    inspector.pause_queue("q")
    assert int(redis_client.get("asynq:{q}:paused")) == NOW
    with pytest.raises(TaskStateError):
        inspector.pause_queue("q")
    assert inspector.unpause_queue("q") is True
    with pytest.raises(TaskStateError):
        inspector.unpause_queue("q")


def test_delete_queue(inspector: Inspector, redis_client: redis.Redis) -> None:
    seed_task(redis_client, message(queue="q", task_id="p"), "pending")
    with pytest.raises(QueueNotEmptyError):
        inspector.delete_queue("q")
    inspector.delete_queue("q", force=True)
    assert redis_client.smembers("asynq:queues") == set()
    assert redis_client.exists("asynq:{q}:t:p", "asynq:{q}:pending") == 0
    seed_task(redis_client, message(queue="busy", task_id="a"), "active")
    with pytest.raises(TaskStateError):
        inspector.delete_queue("busy", force=True)


def test_history(inspector: Inspector, redis_client: redis.Redis) -> None:
    seed_task(redis_client, message(queue="q"), "pending")
    yesterday = datetime.fromtimestamp(NOW, UTC) - timedelta(days=1)
    redis_client.set(f"asynq:{{q}}:processed:{yesterday:%Y-%m-%d}", 5)
    days = inspector.history("q", 3)
    assert [(d.date, d.processed) for d in days][:2] == [
        (datetime.fromtimestamp(NOW, UTC).date(), 0),
        (yesterday.date(), 5),
    ]


def test_servers_and_workers(inspector: Inspector, redis_client: redis.Redis) -> None:
    started = datetime.fromtimestamp(NOW - 100, UTC)
    skey, wkey = "asynq:servers:{h:1:sid}", "asynq:workers:{h:1:sid}"
    redis_client.set(
        skey, encode_server_info(WireServer("h", 1, "sid", 4, {"default": 1}, False, "active", started, 1))
    )
    redis_client.hset(
        wkey,
        "t1",
        encode_worker_info(WireWorker("h", 1, "sid", "t1", "type", b"p", "default", started, None)),
    )
    redis_client.zadd("asynq:servers", {skey: NOW + 10, "asynq:servers:{gone:2:x}": NOW - 5})
    redis_client.zadd("asynq:workers", {wkey: NOW + 10})
    (server,) = inspector.servers()
    assert (server.host, server.pid, server.concurrency, server.status, server.started) == (
        "h",
        1,
        4,
        "active",
        started,
    )
    assert [w.task_id for w in server.active_workers] == ["t1"]
    assert redis_client.zcard("asynq:servers") == 1  # the stale member was pruned


def test_find_task_across_queues(inspector: Inspector, redis_client: redis.Redis) -> None:
    seed_task(redis_client, message(queue="a", task_id="x"), "pending")
    seed_task(redis_client, message(queue="b", task_id="x"), "retry", score=NOW)
    assert sorted(t.queue for t in inspector.find_task("x")) == ["a", "b"]
    assert inspector.find_task("nothing") == []


async def test_async_inspector_is_a_twin(
    aredis_client, redis_client: redis.Redis, clock: SimulatedClock
) -> None:
    ids = seed_every_state(redis_client)
    async with AsyncInspector(aredis_client, clock=clock) as inspector:
        assert await inspector.queues() == ["q"]
        assert (await inspector.get_queue_info("q")).size == 7
        await inspector.archive_task("q", ids["pending"])
        assert [t.id for t in await inspector.list_archived_tasks("q")] == sorted(
            [ids["archived"], ids["pending"]]
        )
    sync_methods = [m for m in vars(Inspector) if not m.startswith("_")]
    async_methods = [m for m in vars(AsyncInspector) if not m.startswith("_")]
    assert [m for m in sync_methods if m != "close"] == [m for m in async_methods if m != "aclose"]


def test_redis_info_and_startup_warnings(inspector: Inspector, backend: str) -> None:
    from asynq_py.engine.server import redis_warnings

    if backend == "real":  # fakeredis has no INFO
        assert "redis_version" in inspector.redis_info()
    assert redis_warnings({"maxmemory_policy": "noeviction", "redis_version": "7.2.4"}) == []
    warned = redis_warnings({"maxmemory_policy": "allkeys-lru", "redis_version": "6.0.9"})
    assert len(warned) == 2
    assert "allkeys-lru" in warned[0]
    assert "6.0.9" in warned[1]
