"""Server semantics on a real Redis: outcomes, retries, timeouts, cancellation and the loops."""

from __future__ import annotations

import asyncio
import gc
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from helpers import cancel_subscribers, unique_queue, wait_for
from seed import message, seed_task

from asynq_py.engine import (
    Client,
    Inspector,
    LifecycleError,
    RedisUnavailableError,
    RevokeTask,
    ServeMux,
    Server,
    ServerConfig,
    SkipRetry,
    Task,
    TaskContext,
    TaskState,
    TaskStateError,
    keys,
)
from asynq_py.engine.processor import Processor, Running, queue_order

pytestmark = pytest.mark.real

FAST = {
    "heartbeat_interval_s": 0.5,
    "lease_duration_s": 2,
    "recoverer_interval_s": 0.5,
    "recoverer_cutoff_s": 0.5,
    "delayed_task_check_interval_s": 0.3,
    "task_check_interval_s": 0.2,
    "janitor_interval_s": 0.3,
    "shutdown_timeout_s": 2.0,
    "retry_delay_func": lambda n, exc, task: 0.0,
}


@pytest.fixture
def client(real_redis_url: str) -> Iterator[Client]:
    with Client(real_redis_url) as c:
        yield c


@pytest.fixture
def inspector(real_redis_url: str) -> Iterator[Inspector]:
    with Inspector(real_redis_url) as i:
        yield i


@pytest.fixture
def raw(real_redis_url: str) -> Iterator[redis.Redis]:
    r = redis.Redis.from_url(real_redis_url)
    yield r
    r.close()


@pytest.fixture
def serve(real_redis_url: str, queue: str, servers: list[Server]) -> Callable[..., Server]:
    def start(handler: Any, **config: Any) -> Server:
        options = {**FAST, "queues": {queue: 1}, "concurrency": 4, **config}
        server = Server(real_redis_url, ServerConfig(**options))
        server.start(handler)
        servers.append(server)
        return server

    return start


def test_async_and_sync_handlers_succeed(serve, client, inspector, queue) -> None:
    seen: list[tuple[str, str, int]] = []
    mux = ServeMux()

    @mux.handle_func("async:")
    async def on_async(ctx, task) -> None:
        seen.append(("async", task.type, ctx.retry_count))

    @mux.handle_func("sync")
    def on_sync(ctx, task) -> bytes:
        seen.append(("sync", task.type, ctx.retry_count))
        return b"result:" + bytes(task.payload)

    serve(mux)
    client.enqueue(Task("async:one"), queue=queue)
    kept = client.enqueue(Task("sync", b"x"), queue=queue, retention=60)
    wait_for(lambda: len(seen) == 2, what="both handlers")
    info = wait_for(
        lambda: inspector.get_queue_info(queue).completed == 1 and inspector.get_task_info(queue, kept.id)
    )
    assert info.state is TaskState.COMPLETED
    assert info.result == b"result:x"
    assert info.completed_at is not None
    stats = inspector.get_queue_info(queue)
    assert (stats.processed, stats.failed, stats.pending, stats.active) == (2, 0, 0, 0)


def test_write_result_works_during_the_run_and_is_refused_after_it(serve, client, inspector, queue) -> None:
    contexts: list[TaskContext] = []

    def keep(ctx: TaskContext, task: Task) -> None:
        ctx.write_result(b"early")
        contexts.append(ctx)

    serve(keep)
    kept = client.enqueue(Task("t"), queue=queue, retention=60)
    info = wait_for(lambda: inspector.get_task_info(queue, kept.id).state is TaskState.COMPLETED and
                    inspector.get_task_info(queue, kept.id), what="the completed task")  # fmt: skip
    assert info.result == b"early"
    with pytest.raises(TaskStateError, match="after the task's run ended") as caught:
        contexts[0].write_result(b"late")
    assert caught.value.task_id == kept.id
    assert inspector.get_task_info(queue, kept.id).result == b"early"


def test_a_finished_run_leaves_no_reference_cycle(serve, client, queue) -> None:
    """A run that referred to itself through its context (the result writer) was left for the
    garbage collector to free, every run of every task: about a third of a no-op task's CPU."""
    done: list[str] = []
    serve(lambda ctx, task: done.append(ctx.task_id))
    client.enqueue(Task("t"), queue=queue)
    wait_for(lambda: len(done) == 1, what="a first run")
    gc.collect()
    gc.disable()
    try:
        for _ in range(20):
            client.enqueue(Task("t"), queue=queue)
        wait_for(lambda: len(done) == 21, what="twenty runs")
        time.sleep(0.2)  # their outcomes written and the runs ended
        left = [o for o in gc.get_objects() if isinstance(o, Running)]
    finally:
        gc.enable()
    assert left == []


def test_failure_retries_then_archives(serve, client, inspector, queue) -> None:
    runs: list[int] = []

    def fail(ctx, task) -> None:
        runs.append(ctx.retry_count)
        raise ValueError("boom")

    serve(fail)
    info = client.enqueue(Task("fails"), queue=queue, max_retry=2)
    wait_for(lambda: inspector.get_queue_info(queue).archived == 1, what="archive")
    assert runs == [0, 1, 2]
    archived = inspector.get_task_info(queue, info.id)
    assert (archived.retried, archived.last_error, archived.state) == (2, "boom", TaskState.ARCHIVED)
    stats = inspector.get_queue_info(queue)
    assert (stats.processed, stats.failed) == (3, 3)


def test_retry_delay_and_is_failure(serve, client, inspector, queue) -> None:
    serve(lambda ctx, task: (_ for _ in ()).throw(KeyError("k")), retry_delay_func=lambda n, e, t: 3600.0,
          is_failure=lambda exc: False)  # fmt: skip
    info = client.enqueue(Task("t"), queue=queue)
    retry = wait_for(lambda: inspector.list_retry_tasks(queue), what="retry")
    assert retry[0].retried == 0  # not a failure: retries are not used up
    assert retry[0].next_process_at is not None
    assert 3590 < retry[0].next_process_at.timestamp() - time.time() < 3610
    assert inspector.get_queue_info(queue).failed == 0
    assert retry[0].id == info.id
    assert retry[0].last_error == "'k'"


def test_skip_retry_and_revoke(serve, client, inspector, queue) -> None:
    mux = ServeMux()
    mux.handle_func("skip", lambda ctx, task: (_ for _ in ()).throw(SkipRetry("no point")))
    mux.handle_func("revoke", lambda ctx, task: (_ for _ in ()).throw(RevokeTask("gone")))
    serve(mux)
    skipped = client.enqueue(Task("skip"), queue=queue, max_retry=5)
    revoked = client.enqueue(Task("revoke"), queue=queue, max_retry=5)
    wait_for(lambda: inspector.get_queue_info(queue).processed == 2)
    assert inspector.get_task_info(queue, skipped.id).state is TaskState.ARCHIVED
    assert inspector.find_task(revoked.id) == []
    assert inspector.get_queue_info(queue).failed == 1


def test_unknown_type_is_a_retried_failure(serve, client, inspector, queue) -> None:
    mux = ServeMux()
    mux.handle_func("known", lambda ctx, task: None)
    serve(mux, retry_delay_func=lambda n, e, t: 3600.0)
    client.enqueue(Task("unknown"), queue=queue)
    (task,) = wait_for(lambda: inspector.list_retry_tasks(queue))
    assert task.last_error == 'handler not found for task "unknown"'


def test_timeout_cancels_async_and_signals_sync(serve, client, inspector, queue) -> None:
    saw_cancel = threading.Event()
    mux = ServeMux()

    @mux.handle_func("async")
    async def slow_async(ctx, task) -> None:
        await asyncio.sleep(30)

    @mux.handle_func("sync")
    def slow_sync(ctx, task) -> None:
        if ctx.cancelled.wait(30):
            saw_cancel.set()

    serve(mux, retry_delay_func=lambda n, e, t: 3600.0)
    started = time.monotonic()
    client.enqueue(Task("async"), queue=queue, timeout=1)
    client.enqueue(Task("sync"), queue=queue, timeout=1)
    tasks = wait_for(
        lambda: len(inspector.list_retry_tasks(queue)) == 2 and inspector.list_retry_tasks(queue)
    )
    assert time.monotonic() - started < 5
    assert {t.last_error for t in tasks} == {"context deadline exceeded"}
    assert saw_cancel.wait(5)
    assert inspector.get_queue_info(queue).active == 0


def test_one_timer_stops_each_run_at_its_own_deadline(serve, client, inspector, queue) -> None:
    """The runs' deadlines share one timer: a run that ends first leaves it set for a deadline that
    no run has any more, and when it fires it must be set again for the runs still going."""
    stopped: dict[str, float] = {}
    started = time.monotonic()

    async def sleep(ctx: TaskContext, task: Task) -> None:
        try:
            await asyncio.sleep(task.payload.get_float("s"))
        except asyncio.CancelledError:
            stopped[ctx.task_id] = time.monotonic() - started
            raise

    serve(sleep, concurrency=3)
    client.enqueue(Task("t", {"s": 0.0}), queue=queue, task_id="quick", timeout=1, max_retry=0)
    client.enqueue(Task("t", {"s": 30.0}), queue=queue, task_id="two", timeout=2, max_retry=0)
    client.enqueue(Task("t", {"s": 30.0}), queue=queue, task_id="three", timeout=3, max_retry=0)
    wait_for(lambda: len(inspector.list_archived_tasks(queue)) == 2, 20, "both slow runs archived")
    assert set(stopped) == {"two", "three"}
    assert 1.5 < stopped["two"] < stopped["three"] < 15
    assert inspector.get_queue_info(queue).processed == 3


@pytest.mark.parametrize("kind", ["def", "async def"])
@pytest.mark.parametrize("spent", ["deadline", "timeout"])
def test_a_spent_deadline_fails_without_calling_the_handler(
    serve, client, inspector, queue, kind, spent
) -> None:
    """As Go's processor: a context already done at start fails the task with `context deadline
    exceeded` (retried, then archived) and the handler never runs; the error handler still does."""
    calls: list[int] = []
    errors: list[str] = []

    def sync(ctx, task) -> None:
        calls.append(ctx.retry_count)

    async def on_loop(ctx, task) -> None:
        calls.append(ctx.retry_count)

    serve(
        sync if kind == "def" else on_loop,
        error_handler=lambda task, exc: errors.append(type(exc).__name__),
    )
    options = (
        {"deadline": datetime.now(UTC) - timedelta(seconds=5)}
        if spent == "deadline"
        else {"timeout": timedelta(seconds=-1)}
    )
    info = client.enqueue(Task("late"), queue=queue, max_retry=2, **options)
    archived = wait_for(
        lambda: inspector.get_queue_info(queue).archived == 1 and inspector.get_task_info(queue, info.id)
    )
    assert calls == []
    assert (archived.retried, archived.last_error) == (2, "context deadline exceeded")
    assert errors == ["TimeoutError"] * 3
    stats = inspector.get_queue_info(queue)
    assert (stats.processed, stats.failed, stats.active) == (3, 3, 0)


def test_cancel_processing(serve, client, inspector, raw, queue) -> None:
    running = threading.Event()

    async def slow(ctx, task) -> None:
        running.set()
        await asyncio.sleep(30)

    serve(slow, retry_delay_func=lambda n, e, t: 3600.0)
    info = client.enqueue(Task("slow"), queue=queue)
    assert running.wait(5)
    wait_for(lambda: cancel_subscribers(raw) == 1, what="the server's cancel subscription")
    inspector.cancel_processing(info.id)
    (task,) = wait_for(lambda: inspector.list_retry_tasks(queue), what="cancelled task in retry")
    assert task.last_error == "context canceled"


def test_scheduled_tasks_are_forwarded_and_run(serve, client, inspector, queue) -> None:
    ran: list[float] = []
    serve(lambda ctx, task: ran.append(time.time()))
    due = time.time() + 1.5
    client.enqueue_in(1.5, Task("later"), queue=queue)
    wait_for(lambda: ran, timeout=10, what="scheduled task")
    assert ran[0] >= int(due) - 0.05  # scores are whole seconds, as in Go


def test_paused_queue_is_skipped_and_strict_priority(serve, client, inspector, queue) -> None:
    order: list[str] = []
    high, low = f"{queue}-high", f"{queue}-low"
    for n in range(5):
        client.enqueue(Task("t", str(n)), queue=low)
        client.enqueue(Task("t", str(n)), queue=high)
    inspector.pause_queue(high)
    server = serve(lambda ctx, task: order.append(ctx.queue), queues={high: 6, low: 1}, strict_priority=True,
                   concurrency=1)  # fmt: skip
    wait_for(lambda: len(order) == 5, what="low queue drained")
    assert set(order) == {low}
    inspector.unpause_queue(high)
    wait_for(lambda: len(order) == 10, what="high queue after unpause")
    assert server.status == "active"


def test_strict_priority_drains_higher_queue_first(serve, client, queue) -> None:
    order: list[str] = []
    high, low = f"{queue}-high", f"{queue}-low"
    for n in range(20):
        client.enqueue(Task("t", str(n)), queue=low)
        client.enqueue(Task("t", str(n)), queue=high)
    serve(
        lambda ctx, task: order.append(ctx.queue),
        queues={high: 2, low: 1},
        strict_priority=True,
        concurrency=1,
    )
    wait_for(lambda: len(order) == 40)
    assert order == [high] * 20 + [low] * 20


def test_weighted_order_follows_priorities() -> None:
    counts = Counter(
        queue_order({"critical": 6, "default": 3, "low": 1}, strict=False)[0] for _ in range(20000)
    )
    assert abs(counts["critical"] / 20000 - 0.6) < 0.02
    assert abs(counts["default"] / 20000 - 0.3) < 0.02
    assert abs(counts["low"] / 20000 - 0.1) < 0.02


def test_weighted_processing_share_on_real_redis(serve, client, queue) -> None:
    names = {f"{queue}-c": 6, f"{queue}-d": 3, f"{queue}-l": 1}
    for name in names:
        client.enqueue_many([Task("t") for _ in range(3000)], queue=name)
    order: list[str] = []
    server = serve(lambda ctx, task: order.append(ctx.queue), queues=names, concurrency=1)
    wait_for(lambda: len(order) >= 3000, timeout=30, what="3000 tasks")
    server.stop()
    share = Counter(order[:3000])
    for name, weight in names.items():
        assert abs(share[name] / 3000 - weight / 10) < 0.04, share


def test_go_shaped_tasks_are_processed(serve, raw, inspector, queue) -> None:
    seen: list[tuple[str, bytes, dict[str, str]]] = []
    serve(lambda ctx, task: seen.append((task.type, bytes(task.payload), task.headers)))
    seed_task(raw, message("go:task", b'{"id":1}', queue=queue, headers={"h": "v"}), "pending")
    seed_task(raw, message("go:later", b"", queue=queue), "scheduled", score=time.time() - 1)
    seed_task(
        raw, message("go:retry", b"r", queue=queue, retried=1, error_msg="x"), "retry", score=time.time() - 1
    )
    # No wake-up (Go's clients send none): the poll and the forwarder find them, on a loaded machine too.
    wait_for(lambda: len(seen) == 3, timeout=30, what="the three Go-shaped tasks to run")
    assert ("go:task", b'{"id":1}', {"h": "v"}) in seen
    # A handler has returned before its outcome is written: wait for the queue to empty.
    wait_for(lambda: inspector.get_queue_info(queue).size == 0, timeout=10, what="the outcomes to be written")


def test_a_handler_changing_its_tasks_headers_changes_no_stored_task(serve, client, inspector, queue) -> None:
    seen: list[dict[str, str]] = []

    def meddle(ctx, task) -> None:
        seen.append(dict(task.headers))
        task.headers["meddled"] = "yes"
        raise RuntimeError("fail once")

    serve(meddle)
    info = client.enqueue(Task("t", b"p", headers={"h": "v"}), queue=queue, max_retry=1)
    wait_for(lambda: len(seen) >= 1 and inspector.get_task_info(queue, info.id).state == TaskState.RETRY)
    assert seen[0] == {"h": "v"}
    assert inspector.get_task_info(queue, info.id).headers == {"h": "v"}


def test_recoverer_retries_expired_and_unleased_tasks(serve, raw, inspector, queue) -> None:
    ran: list[tuple[str, int]] = []
    seed_task(raw, message("t", queue=queue, task_id="expired"), "active", lease_expiry=time.time() - 60)
    seed_task(raw, message("t", queue=queue, task_id="unleased"), "active")
    raw.zrem(f"asynq:{{{queue}}}:lease", "unleased")
    seed_task(
        raw, message("t", queue=queue, task_id="exhausted", retry=0), "active", lease_expiry=time.time() - 60
    )
    serve(lambda ctx, task: ran.append((ctx.task_id, ctx.retry_count)))
    wait_for(lambda: len(ran) == 2, what="recovered tasks to run again")
    assert sorted(ran) == [("expired", 1), ("unleased", 1)]
    archived = inspector.get_task_info(queue, "exhausted")
    assert (archived.state, archived.last_error) == (TaskState.ARCHIVED, "asynq: task lease expired")


def test_poison_message_is_archived_and_others_run(serve, raw, inspector, queue) -> None:
    ran: list[str] = []
    raw.sadd("asynq:queues", queue)
    raw.lpush(f"asynq:{{{queue}}}:pending", "poison")
    raw.hset(f"asynq:{{{queue}}}:t:poison", mapping={"msg": b"\xff\xfe\xfd", "state": "pending"})
    raw.lpush(f"asynq:{{{queue}}}:pending", "nohash")
    seed_task(raw, message("good", queue=queue, task_id="good"), "pending")
    serve(lambda ctx, task: ran.append(ctx.task_id))
    wait_for(lambda: ran == ["good"] and raw.zcard(f"asynq:{{{queue}}}:archived") == 1)
    assert raw.hget(f"asynq:{{{queue}}}:t:poison", "state") == b"archived"
    wait_for(lambda: raw.llen(f"asynq:{{{queue}}}:active") == 0, what="active list to empty")
    # The id without a hash is dropped without leaving a stub hash behind.
    assert raw.exists(keys.task_key(queue, "nohash")) == 0


def test_task_key_of_the_wrong_type_blocks_no_recovery(serve, raw, queue) -> None:
    """A task key holding a string (not a hash) is dropped like a missing hash; it must not make
    the dequeue or the recoverer fail, which would strand the orphans of every queue."""
    ran: list[tuple[str, int]] = []
    other = unique_queue("other")
    raw.sadd(keys.ALL_QUEUES, queue, other)
    raw.set(keys.task_key(queue, "stranger"), b"not a hash")
    raw.lpush(keys.pending_key(queue), "stranger")
    seed_task(raw, message("t", queue=other, task_id="orphan"), "active", lease_expiry=time.time() - 60)
    seed_task(raw, message("t", queue=queue, task_id="good"), "pending")
    serve(lambda ctx, task: ran.append((ctx.task_id, ctx.retry_count)), queues={queue: 1, other: 1})
    wait_for(
        lambda: sorted(ran) == [("good", 0), ("orphan", 1)], what="the good task and the recovered orphan"
    )
    for key in (keys.pending_key(queue), keys.active_key(queue)):
        wait_for(lambda key=key: raw.llen(key) == 0, what=f"{key} to empty")
    assert raw.zcard(keys.lease_key(queue)) == 0
    assert raw.get(keys.task_key(queue, "stranger")) == b"not a hash"  # not ours to delete


@pytest.mark.parametrize("field", ["id", "queue"])
def test_message_naming_another_task_is_archived_not_run(serve, raw, inspector, queue, field) -> None:
    """A message whose id or queue is not its key's would be run, then written back under the
    other name: it is poison, archived under its own key with the reason."""
    ran: list[str] = []
    raw.sadd(keys.ALL_QUEUES, queue)
    names = {"task_id": "someone-else"} if field == "id" else {"task_id": "mismatch"}
    msg = message("t", queue=queue if field == "id" else "elsewhere", **names)
    raw.hset(keys.task_key(queue, "mismatch"), mapping={"msg": msg.SerializeToString(), "state": "pending"})
    raw.lpush(keys.pending_key(queue), "mismatch")
    seed_task(raw, message("t", queue=queue, task_id="good"), "pending")
    serve(lambda ctx, task: ran.append(ctx.task_id))
    wait_for(lambda: raw.zscore(keys.archived_key(queue), "mismatch") is not None, what="the archive")
    wait_for(lambda: ran == ["good"], what="the good task alone to run")
    assert raw.hget(keys.task_key(queue, "mismatch"), "msg") == msg.SerializeToString()
    # Listings show it marked as the undecodable task it is, not as a task of the name it gives.
    (shown,) = inspector.list_archived_tasks(queue)
    assert (shown.id, shown.type, shown.raw_size) == ("mismatch", "", len(msg.SerializeToString()))
    assert "names task" in shown.decode_error
    assert raw.llen(keys.active_key(queue)) == 0
    assert raw.zcard(keys.lease_key(queue)) == 0


def test_janitor_deletes_expired_completed(serve, raw, inspector, queue) -> None:
    seed_task(raw, message("t", queue=queue, task_id="old", retention=1), "completed", score=time.time() - 5)
    serve(lambda ctx, task: None)
    wait_for(lambda: raw.exists(f"asynq:{{{queue}}}:t:old") == 0, what="janitor")
    assert raw.zcard(f"asynq:{{{queue}}}:completed") == 0


def test_heartbeat_reports_server_and_workers(serve, client, inspector, queue) -> None:
    release = threading.Event()
    serve(lambda ctx, task: release.wait(10), concurrency=3)
    info = client.enqueue(Task("busy", b"p"), queue=queue)
    server = wait_for(lambda: [s for s in inspector.servers() if queue in s.queues and s.active_workers])
    (worker,) = server[0].active_workers
    assert (worker.task_id, worker.task_type, worker.queue) == (info.id, "busy", queue)
    assert server[0].concurrency == 3
    assert server[0].status == "active"
    lease = inspector.list_active_tasks(queue)
    assert lease
    assert not lease[0].is_orphaned
    release.set()


@pytest.mark.parametrize("event_loop", ["asyncio", "uvloop"])
def test_a_started_server_is_visible_once_start_returns(serve, inspector, queue, event_loop) -> None:
    server = serve(lambda ctx, task: None, event_loop=event_loop)
    (me,) = [s for s in inspector.servers() if queue in s.queues]  # no wait: start() waited for the beat
    assert (me.id, me.status) == (server.identity.server_id, "active")


def test_heartbeat_marks_an_asynq_py_server_until_shutdown(real_redis_url, inspector, raw, queue) -> None:
    server = Server(real_redis_url, ServerConfig(**{**FAST, "queues": {queue: 1}}))
    server.start(lambda ctx, task: None)
    try:
        (me,) = wait_for(lambda: [s for s in inspector.servers() if queue in s.queues])
        marker = keys.server_marker_key(me.host, me.pid, me.id)
        assert raw.get(marker) == b"asynq-py"
        assert 0 < raw.ttl(marker) <= raw.ttl(keys.server_info_key(me.host, me.pid, me.id)) + 1
        inspector.set_queue_limits(queue, concurrency=1)
        (info,) = [i for i in inspector.list_queue_limits() if i.queue == queue]
        assert info.unenforced_by == []  # an asynq-py server enforces limits: no warning
    finally:
        server.shutdown()
    assert not raw.exists(marker)


def test_shutdown_requeues_running_task_unchanged(real_redis_url, client, inspector, queue) -> None:
    started = threading.Event()

    async def forever(ctx, task) -> None:
        started.set()
        await asyncio.sleep(60)

    server = Server(real_redis_url, ServerConfig(**{**FAST, "queues": {queue: 1}, "shutdown_timeout_s": 0.5}))
    server.start(forever)
    info = client.enqueue(Task("forever"), queue=queue, max_retry=3)
    assert started.wait(5)
    server.shutdown()
    task = inspector.get_task_info(queue, info.id)
    assert (task.state, task.retried) == (TaskState.PENDING, 0)
    assert [s for s in inspector.servers() if queue in s.queues] == []
    assert server.status == "closed"


def test_group_aggregation(serve, client, inspector, queue) -> None:
    got: list[bytes] = []

    def aggregate(group: str, tasks: list[Task]) -> Task:
        return Task("batch", b",".join(bytes(t.payload) for t in tasks))

    mux = ServeMux()
    mux.handle_func("batch", lambda ctx, task: got.append(bytes(task.payload)))
    serve(mux, group_aggregator=aggregate, group_grace_period_s=1, group_max_size=3)
    for n in range(3):
        client.enqueue(Task("item", str(n)), queue=queue, group="g")
    wait_for(lambda: got, timeout=15, what="aggregated task")
    # Members added in the same second tie on score and come out in id order, as in Go.
    assert len(got) == 1
    assert sorted(got[0].split(b",")) == [b"0", b"1", b"2"]
    assert inspector.get_queue_info(queue).aggregating == 0


def test_middleware_wraps_handlers(serve, client, queue) -> None:
    calls: list[str] = []
    mux = ServeMux()

    def logging_mw(next_handler):
        async def wrapper(ctx, task):
            calls.append("before")
            result = next_handler(ctx, task)
            if asyncio.iscoroutine(result):
                result = await result
            calls.append("after")
            return result

        return wrapper

    mux.use(logging_mw)
    mux.handle_func("t", lambda ctx, task: calls.append("handler"))
    serve(mux)
    client.enqueue(Task("t"), queue=queue)
    wait_for(lambda: len(calls) == 3)
    assert calls == ["before", "handler", "after"]


def test_clock_skew_against_redis_is_warned(real_redis_url, queue, caplog) -> None:
    from asynq_py.engine import SimulatedClock

    skewed = Server(
        real_redis_url,
        ServerConfig(**{**FAST, "queues": {queue: 1}}),
        clock=SimulatedClock(time.time() + 90),
    )
    with caplog.at_level("WARNING", logger="asynq_py"):
        skewed.start(lambda ctx, task: None)
        skewed.shutdown()
    assert any("clock is +90" in r.getMessage() or "clock is +89" in r.getMessage() for r in caplog.records)


async def test_start_async_returns_once_serving_and_shutdown_async_stops_it(
    real_redis_url, client, queue
) -> None:
    server = Server(real_redis_url, ServerConfig(**{**FAST, "queues": {queue: 1}}))
    ran = asyncio.Event()

    async def handle(ctx, task) -> None:
        ran.set()

    running = await server.start_async(handle)
    assert server.status == "active"
    assert not running.done()
    await asyncio.to_thread(client.enqueue, Task("t"), queue=queue)
    await asyncio.wait_for(ran.wait(), timeout=10)
    await server.shutdown_async()
    await asyncio.wait_for(running, timeout=10)
    assert server.status == "closed"


async def test_start_async_raises_what_stopped_the_server_before_it_served(queue) -> None:
    with socket.socket() as held:  # a port nothing answers on
        held.bind(("127.0.0.1", 0))
        url = f"redis://127.0.0.1:{held.getsockname()[1]}/0"
        server = Server(url, ServerConfig(**{**FAST, "queues": {queue: 1}, "redis_wait_s": 0.5}))
        with pytest.raises(RedisUnavailableError):
            await asyncio.wait_for(server.start_async(lambda ctx, task: None), timeout=20)
    assert server.status != "active"


def test_starting_a_server_twice_is_a_lifecycle_error(serve) -> None:
    server = serve(lambda ctx, task: None)
    with pytest.raises(LifecycleError, match="already started"):
        server.start(lambda ctx, task: None)


def test_a_slot_frees_once_the_outcome_is_written(serve, client, queue, monkeypatch) -> None:
    """As in Go. Before, the slot freed as the handler returned, so a worker killed while outcomes
    were still being written cut more runs than its concurrency (chaos kill loop: 25 re-runs, bound 24)."""
    gate = threading.Event()
    write = Processor._write

    def held(self: Processor, run: Any, calls: Any, *, retried: bool) -> None:
        async def later() -> None:
            await asyncio.to_thread(gate.wait, 10)
            write(self, run, calls, retried=retried)

        self._spawn(later())

    monkeypatch.setattr(Processor, "_write", held)
    started: list[str] = []
    serve(lambda ctx, task: started.append(ctx.task_id), concurrency=1)
    try:
        client.enqueue(Task("t"), queue=queue, task_id="first")
        client.enqueue(Task("t"), queue=queue, task_id="second")
        wait_for(lambda: started, 10, "the first run")
        time.sleep(1.0)  # five fetch intervals, with the first outcome held back
        assert len(started) == 1
    finally:
        gate.set()
    wait_for(lambda: len(started) == 2, 10, "the second run once the first outcome is written")
