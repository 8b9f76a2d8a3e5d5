"""Flow control inside one server (issue 17): held queues, priorities, the throttle error and limits
from ``ServerConfig``. The multi-process proofs are in test_flow_control.py."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from itertools import pairwise
from typing import Any

import pytest
import redis
from helpers import wait_for

from asynq_py.engine import (
    Client,
    Inspector,
    Limit,
    QueueLimits,
    Rate,
    RateLimited,
    Server,
    ServerConfig,
    Task,
    TaskInfo,
    TaskState,
    ValidationError,
    keys,
)
from asynq_py.engine.holds import MAX_HOLD_S, Hold, HoldReason, QueueHolds

FAST = {
    "heartbeat_interval_s": 0.5,
    "lease_duration_s": 2,
    "recoverer_interval_s": 0.5,
    "recoverer_cutoff_s": 0.5,
    "delayed_task_check_interval_s": 0.3,
    "task_check_interval_s": 0.2,
    "shutdown_timeout_s": 2.0,
}


def test_held_queues_are_skipped_until_their_hold_ends() -> None:
    holds = QueueHolds()
    holds.note({"a": Hold(0.05, HoldReason.RATE), "b": Hold(30.0, HoldReason.CONCURRENCY)}, now=100.0)
    assert holds.open(["a", "b", "c"], now=100.0) == ["c"]
    assert holds.wait_s(now=100.0) == pytest.approx(0.05)
    assert holds.open(["b", "a", "c"], now=100.06) == ["a", "c"]
    assert holds.wait_s(now=100.06) == pytest.approx(MAX_HOLD_S - 0.06)  # capped: limits may change
    assert holds.open(["b"], now=100.0 + MAX_HOLD_S) == ["b"]
    assert holds.wait_s(now=102.0) is None


def test_a_finished_task_or_new_work_ends_only_the_holds_it_can_lift() -> None:
    holds = QueueHolds()
    reasons = {"rate": HoldReason.RATE, "full": HoldReason.CONCURRENCY, "types": HoldReason.TYPES}
    holds.note({q: Hold(1.0, r) for q, r in reasons.items()}, now=0.0)
    holds.work_arrived()
    assert holds.open(list(reasons), now=0.0) == ["types"]
    assert holds.task_finished("rate") is False
    assert holds.task_finished("full") is True
    assert holds.task_finished("full") is False
    assert holds.open(list(reasons), now=0.0) == ["full", "types"]


def test_rate_limited_wants_a_delay_of_zero_or_more() -> None:
    assert RateLimited(retry_after=1.5).retry_after == 1.5
    assert "2s" in str(RateLimited(2))
    for bad in (-1, float("nan")):
        with pytest.raises(ValueError, match="retry_after"):
            RateLimited(retry_after=bad)


def test_limits_must_name_served_queues() -> None:
    with pytest.raises(ValidationError, match="does not serve"):
        ServerConfig(queues={"a": 1}, limits={"b": QueueLimits(concurrency=1)})
    with pytest.raises(ValidationError, match="QueueLimits"):
        ServerConfig(queues={"a": 1}, limits={"a": {"concurrency": 1}})  # type: ignore[dict-item]


@pytest.fixture
def serve(real_redis_url: str, servers: list[Server]) -> Callable[..., Server]:
    def start(handler: Any, **config: Any) -> Server:
        server = Server(real_redis_url, ServerConfig(**{**FAST, "concurrency": 4, **config}))
        server.start(handler)
        servers.append(server)
        return server

    return start


@pytest.fixture
def raw(real_redis_url: str) -> Iterator[redis.Redis]:
    r = redis.Redis.from_url(real_redis_url)
    yield r
    r.close()


def set_limits(r: redis.Redis, queue: str, limits: QueueLimits) -> None:
    r.delete(keys.limits_key(queue))
    r.hset(keys.limits_key(queue), mapping=limits.to_fields())


@pytest.mark.real
def test_strict_priority_holds_while_the_limited_high_queue_does_not_block_the_low_one(
    serve, raw, real_redis_url, queue
) -> None:
    high, low = f"{queue}-high", f"{queue}-low"
    set_limits(raw, high, QueueLimits(rate=Rate(5, 1000)))
    starts: list[tuple[str, float]] = []
    with Client(real_redis_url) as client:
        for _ in range(6):
            client.enqueue(Task("t"), queue=high)
        for _ in range(400):
            client.enqueue(Task("t"), queue=low)

    def handler(ctx: Any, task: Task) -> None:
        starts.append((ctx.queue, time.monotonic()))
        time.sleep(0.005)

    serve(handler, queues={high: 2, low: 1}, strict_priority=True, concurrency=1)
    wait_for(lambda: sum(q == high for q, _ in starts) == 6, 15, "the high queue's tasks")
    high_at = [t for q, t in starts if q == high]
    low_between = [t for q, t in starts if q == low and high_at[0] < t < high_at[-1]]
    assert low_between, "the low queue waited behind the rate-limited high one"
    # Strict priority still holds: each high task starts as soon as its slot is due (every 0.2 s; a
    # start up to half an interval late keeps the schedule, so the next one may follow 0.1 s later).
    gaps = [b - a for a, b in pairwise(high_at)]
    assert all(0.09 < g < 0.6 for g in gaps), gaps
    assert 0.18 < (high_at[-1] - high_at[0]) / len(gaps) < 0.3, gaps


@pytest.mark.real
def test_a_new_task_of_another_type_ends_a_type_hold_at_once(serve, raw, real_redis_url, queue) -> None:
    set_limits(raw, queue, QueueLimits(types={"slow": Limit(concurrency=1)}))
    release = threading.Event()
    started: dict[str, float] = {}

    def handler(ctx: Any, task: Task) -> None:
        started[ctx.task_id] = time.monotonic()
        if task.type == "slow":
            release.wait(10)

    with Client(real_redis_url) as client:
        client.enqueue(Task("slow"), queue=queue)
        client.enqueue(Task("slow"), queue=queue)
        # The idle poll is 1 s here, so only the wake-up can start the new task sooner.
        serve(handler, queues={queue: 1}, task_check_interval_s=1.0)
        wait_for(lambda: raw.llen(keys.parked_key(queue, "slow")) == 1, 10, "the second task parked")
        time.sleep(0.1)
        enqueued = time.monotonic()
        fast = client.enqueue(Task("fast"), queue=queue).id
        wait_for(lambda: fast in started, 5, "the fast task")
    release.set()
    assert started[fast] - enqueued < 0.5


@pytest.mark.real
@pytest.mark.parametrize("kind", ["def", "async def"])
def test_a_throttled_task_is_rescheduled_unchanged(serve, raw, real_redis_url, queue, kind) -> None:
    runs: list[int] = []
    errors: list[BaseException] = []

    def sync_handler(ctx: Any, task: Task) -> None:
        runs.append(ctx.retry_count)
        if len(runs) == 1:
            raise RateLimited(retry_after=0.3)

    async def async_handler(ctx: Any, task: Task) -> None:
        sync_handler(ctx, task)

    with Client(real_redis_url) as client:
        task_id = client.enqueue(Task("t"), queue=queue, max_retry=0, retention=60).id
    before = time.time()
    serve(sync_handler if kind == "def" else async_handler, queues={queue: 1},
          error_handler=lambda task, exc: errors.append(exc))  # fmt: skip
    with Inspector(real_redis_url) as inspector:
        # In retry, waiting out retry_after, with nothing about it recorded as a failure.
        def in_retry() -> TaskInfo | None:
            info = inspector.get_task_info(queue, task_id)
            return info if info.state == TaskState.RETRY else None

        info = wait_for(in_retry)
        assert info.next_process_at is not None
        assert info.next_process_at.timestamp() >= int(before + 0.3)
        assert (info.retried, info.last_error) == (0, "")
        wait_for(lambda: inspector.get_task_info(queue, task_id).state == TaskState.COMPLETED, 10)
        stats = inspector.get_queue_info(queue)
    # max_retry=0: a failure would have archived it; a throttle is not one.
    assert runs == [0, 0]
    assert errors == []
    assert (stats.failed_total, int(raw.get(keys.throttled_total_key(queue)) or 0)) == (0, 1)


@pytest.mark.real
def test_configured_limits_seed_redis_only_where_it_has_none(serve, raw, queue) -> None:
    other = f"{queue}-set"
    set_limits(raw, other, QueueLimits(concurrency=7))
    configured = {
        queue: QueueLimits(concurrency=3, rate=Rate.parse("100/m")),
        other: QueueLimits(concurrency=1),
    }
    serve(lambda ctx, task: None, queues={queue: 1, other: 1}, limits=configured)
    assert QueueLimits.from_fields(raw.hgetall(keys.limits_key(queue))) == configured[queue]
    assert QueueLimits.from_fields(raw.hgetall(keys.limits_key(other))) == QueueLimits(concurrency=7)
