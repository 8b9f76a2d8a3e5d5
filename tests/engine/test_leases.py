"""Fenced leases (issue 10 item 2): leases only move forward, a run whose lease is gone in Redis is
stopped, a dequeue reply that arrives after its lease expired does not start the handler, and a
command that timed out is dropped by the kernel instead of being delivered late."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
import threading
import time
import uuid
from typing import Any

import pytest
import redis
from helpers import wait_for
from seed import message, seed_task

from asynq_py.engine import (
    Client,
    Inspector,
    RedisUnavailableError,
    Server,
    ServerConfig,
    Task,
    TaskState,
    rdb,
)
from asynq_py.engine.broker import AsyncBroker, Broker
from asynq_py.engine.calls import Command, Plan, Script
from asynq_py.engine.heartbeat import Heartbeater

FAST = {
    "heartbeat_interval_s": 0.3,
    "lease_duration_s": 3,
    "recoverer_interval_s": 0.5,
    "recoverer_cutoff_s": 0.5,
    "delayed_task_check_interval_s": 0.3,
    "task_check_interval_s": 0.2,
    "shutdown_timeout_s": 2.0,
    "retry_delay_func": lambda n, exc, task: 0.0,
}


@pytest.fixture
def queue() -> str:
    return f"q-{uuid.uuid4().hex[:8]}"


def lease_key(queue: str) -> str:
    return f"asynq:{{{queue}}}:lease"


def test_leases_only_move_forward_and_gone_ones_are_reported(redis_client, queue) -> None:
    seed_task(redis_client, message("t", queue=queue, task_id="fresh"), "active", lease_expiry=2000)
    seed_task(redis_client, message("t", queue=queue, task_id="old"), "active", lease_expiry=500)
    broker = Broker(redis_client)
    # A heartbeat computed long ago (now=900 -> expiry 930) arrives late.
    report = broker.run(rdb.extend_leases({queue: ["fresh", "old", "recovered"]}, now=900, lease_s=30))
    assert report.expiry == 930
    assert report.gone == {(queue, "recovered")}
    assert report.failed == {}
    assert redis_client.zscore(lease_key(queue), "fresh") == 2000  # not moved back
    assert redis_client.zscore(lease_key(queue), "old") == 930  # moved forward
    assert redis_client.zscore(lease_key(queue), "recovered") is None  # not revived


def test_heartbeat_reports_lease_and_state_separately(redis_client, queue) -> None:
    seed_task(redis_client, message("t", queue=queue, task_id="a"), "active", lease_expiry=100)
    broker = Broker(redis_client)
    report, state_error = broker.run(
        rdb.heartbeat("asynq:servers:{h:1:s}", "asynq:workers:{h:1:s}", b"i", {}, {queue: ["a", "b"]},
                      marker=("asynq:servers:{h:1:s}:impl", "asynq-py"), now=200, ttl_s=2, lease_s=30)
    )  # fmt: skip
    assert state_error is None
    assert redis_client.get("asynq:servers:{h:1:s}:impl") == b"asynq-py"
    assert 0 < redis_client.ttl("asynq:servers:{h:1:s}:impl") <= 2
    assert (report.expiry, report.gone) == (230, frozenset({(queue, "b")}))
    assert redis_client.zscore(lease_key(queue), "a") == 230


@pytest.mark.real
@pytest.mark.parametrize("kind", ["async", "def"])
def test_a_run_whose_lease_is_gone_is_stopped(real_redis_url, servers, queue, kind, caplog) -> None:
    """Redis took the lease away (the recoverer ran during a partition): the handler is cancelled
    (async) or told to stop (def), its outcome is not written, and the heartbeat says why."""
    started, stopped = threading.Event(), threading.Event()

    async def ahandler(ctx: Any, task: Task) -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            stopped.set()
            raise

    def handler(ctx: Any, task: Task) -> None:
        started.set()
        if ctx.cancelled.wait(30):
            stopped.set()

    server = Server(
        real_redis_url, ServerConfig(**{**FAST, "queues": {queue: 1}, "recoverer_interval_s": 60})
    )
    server.start(ahandler if kind == "async" else handler)
    servers.append(server)
    r = redis.Redis.from_url(real_redis_url)
    try:
        with Client(real_redis_url) as client:
            info = client.enqueue(Task("long", b""), queue=queue)
        assert started.wait(10)
        # Take no new task first, so the requeued task is not dequeued here again (a fresh lease
        # would keep the old run alive; with an idle poll due, that raced the moves below).
        server.stop()
        # What the recoverer does to an expired lease: the task leaves active and its lease.
        r.zrem(lease_key(queue), info.id)
        r.lrem(f"asynq:{{{queue}}}:active", 0, info.id)
        r.lpush(f"asynq:{{{queue}}}:pending", info.id)
        t0 = time.monotonic()
        assert stopped.wait(5), "the handler kept running without a lease"
        took = time.monotonic() - t0
        assert took < 2.0, f"stopped {took:.2f}s after the lease was gone"
        time.sleep(0.5)
        assert r.hget(f"asynq:{{{queue}}}:t:{info.id}", "state") == b"active"  # no outcome written
        assert r.lrange(f"asynq:{{{queue}}}:pending", 0, -1) == [info.id.encode()]
        assert f"task {info.id} lost its lease in Redis; stopping it" in lost_lease_logs(caplog, info.id)
    finally:
        r.close()


@pytest.mark.real
def test_a_dequeue_reply_after_its_lease_expired_does_not_start_the_handler(
    real_redis_url, servers, queue, monkeypatch
) -> None:
    ran: list[str] = []
    real_dequeue = rdb.dequeue

    def late_dequeue(*args: Any, **kwargs: Any) -> Plan[rdb.Fetched]:
        fetched = yield from real_dequeue(*args, **kwargs)
        # As if the reply had sat in a partitioned link for longer than the lease.
        late = [dataclasses.replace(i, lease_expiry=int(time.time()) - 1) for i in fetched.tasks]
        return dataclasses.replace(fetched, tasks=late)

    monkeypatch.setattr(rdb, "dequeue", late_dequeue)
    with Client(real_redis_url) as client:
        info = client.enqueue(Task("t", b""), queue=queue)
    server = Server(
        real_redis_url, ServerConfig(**{**FAST, "queues": {queue: 1}, "recoverer_interval_s": 60})
    )
    server.start(lambda ctx, task: ran.append(ctx.task_id))
    servers.append(server)
    r = redis.Redis.from_url(real_redis_url)
    try:
        wait_for(lambda: r.hget(f"asynq:{{{queue}}}:t:{info.id}", "state") == b"active", 5, "the dequeue")
        time.sleep(1.0)
        assert ran == []
        # Left active under its lease for the recoverer: it is not lost.
        assert r.zscore(lease_key(queue), info.id) is not None
    finally:
        r.close()


def lost_lease_logs(caplog: pytest.LogCaptureFixture, task_id: str) -> list[str]:
    """The server's warnings that a task's lease is gone (the heartbeat's, or the outcome writer's)."""
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    return [m for m in said if f"task {task_id} lost its lease" in m or f"lease of task {task_id}" in m]


@pytest.mark.real
@pytest.mark.parametrize("kind", ["async", "def"])
def test_a_run_finishing_while_its_lease_extension_is_in_flight_logs_no_lost_lease(
    real_redis_url, servers, queue, monkeypatch, caplog, kind
) -> None:
    """The benign race at the end of a drain: a beat lists the run, the run's outcome is written
    (which removes its lease), then the beat's extension finds no lease. The run completed."""
    task_id = f"t-{uuid.uuid4().hex[:8]}"
    task_key = f"asynq:{{{queue}}}:t:{task_id}"
    listed, held, beat_done = threading.Event(), threading.Event(), threading.Event()
    real_heartbeat, real_beat = rdb.heartbeat, Heartbeater.beat
    r = redis.Redis.from_url(real_redis_url)

    def held_heartbeat(*args: Any, **kwargs: Any) -> Plan[Any]:
        leases: dict[str, list[str]] = args[4]
        if not listed.is_set() and task_id in leases.get(queue, []):
            listed.set()  # the handler returns now; the extension waits for the outcome to be written
            wait_for(lambda: r.exists(task_key) == 0, 10, "the run's outcome")
            held.set()
        return (yield from real_heartbeat(*args, **kwargs))

    def beat(self: Heartbeater) -> None:
        real_beat(self)
        if held.is_set():
            beat_done.set()

    async def ahandler(ctx: Any, task: Task) -> None:
        await asyncio.to_thread(listed.wait, 10)

    def handler(ctx: Any, task: Task) -> None:
        listed.wait(10)

    monkeypatch.setattr(rdb, "heartbeat", held_heartbeat)
    monkeypatch.setattr(Heartbeater, "beat", beat)
    try:
        with caplog.at_level(logging.INFO, logger="asynq_py"):
            server = Server(real_redis_url, ServerConfig(**{**FAST, "queues": {queue: 1}}))
            server.start(ahandler if kind == "async" else handler)
            servers.append(server)
            with Client(real_redis_url) as client:
                client.enqueue(Task("t", b""), queue=queue, task_id=task_id)
            assert beat_done.wait(15), "no beat listed the run"
        assert r.get(f"asynq:{{{queue}}}:processed") == b"1"
        assert lost_lease_logs(caplog, task_id) == []
    finally:
        r.close()


@pytest.mark.real
def test_a_lease_lost_while_the_outcome_waits_is_reported_and_the_outcome_not_written(
    real_redis_url, servers, queue, caplog
) -> None:
    """The handler failed, and its error handler still runs when Redis takes the lease away (the
    recoverer ran): the failure is not written over the recovered task, and a warning names it."""
    contexts: list[Any] = []
    go, in_error_handler, lease_taken = threading.Event(), threading.Event(), threading.Event()

    def handler(ctx: Any, task: Task) -> None:
        contexts.append(ctx)
        go.wait(10)
        raise ValueError("boom")

    def on_error(task: Task, exc: BaseException) -> None:
        in_error_handler.set()
        if lease_taken.wait(10):
            contexts[0].cancelled.wait(5)  # set once the heartbeat finds the lease gone

    config = ServerConfig(
        **{**FAST, "queues": {queue: 1}, "recoverer_interval_s": 60, "error_handler": on_error}
    )
    r = redis.Redis.from_url(real_redis_url)
    try:
        with caplog.at_level(logging.INFO, logger="asynq_py"):
            server = Server(real_redis_url, config)
            server.start(handler)
            servers.append(server)
            with Client(real_redis_url) as client:
                info = client.enqueue(Task("t", b""), queue=queue)
            wait_for(lambda: contexts, 10, "the handler")
            server.stop()  # take no new task, so the recovered one stays pending
            time.sleep(0.3)
            go.set()
            assert in_error_handler.wait(10)
            # What the recoverer does to an expired lease: the task leaves active and its lease.
            r.zrem(lease_key(queue), info.id)
            r.lrem(f"asynq:{{{queue}}}:active", 0, info.id)
            r.lpush(f"asynq:{{{queue}}}:pending", info.id)
            lease_taken.set()
            wait_for(lambda: lost_lease_logs(caplog, info.id), 10, "a warning about the lost lease")
        assert contexts[0].cancelled.is_set()
        time.sleep(0.5)
        assert r.hget(f"asynq:{{{queue}}}:t:{info.id}", "state") == b"active"  # no failure written
        assert r.zcard(f"asynq:{{{queue}}}:retry") == 0
        assert r.lrange(f"asynq:{{{queue}}}:pending", 0, -1) == [info.id.encode()]
    finally:
        r.close()


@pytest.mark.real
@pytest.mark.skipif(not hasattr(socket, "TCP_USER_TIMEOUT"), reason="TCP_USER_TIMEOUT is Linux-only")
async def test_connections_drop_unacknowledged_commands_after_the_socket_timeout(real_redis_url) -> None:
    broker = Broker(real_redis_url)
    abroker = AsyncBroker(real_redis_url)
    try:
        conn = broker.redis.connection_pool.get_connection()
        try:
            conn.connect()
            assert conn._sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 5000
        finally:
            broker.redis.connection_pool.release(conn)
        aconn = await abroker.redis.connection_pool.get_connection()
        try:
            sock = aconn._writer.transport.get_extra_info("socket")
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 5000
        finally:
            await abroker.redis.connection_pool.release(aconn)
        # The brokers' own connections to a standalone server carry it too.
        assert broker.execute(Command(("PING",))) == b"PONG"
        (direct,) = broker._direct._idle
        assert direct.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 5000
        assert await abroker.execute(Command(("PING",))) == b"PONG"
        transport = abroker._pipelined._protocol._transport
        assert (
            transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 5000
        )
    finally:
        broker.close()
        await abroker.aclose()


class MessageLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append((record.levelname, record.getMessage()))


@pytest.mark.real
@pytest.mark.parametrize("mode", ["unapplied", "ambiguous"])
def test_outcome_retry_resends_only_the_failed_calls(
    real_redis_url, servers, queue, mode, monkeypatch
) -> None:
    """The outcome batch (write result + mark complete) gets a retryable error for its second call,
    as when that call's node is failing over. Only that call is sent again; when the first try had in
    fact applied ("ambiguous"), the retry's NOT FOUND is not reported as a lost outcome."""
    original = AsyncBroker.execute
    outcome_batches: list[list[str]] = []

    async def flaky(self: AsyncBroker, call: Any) -> Any:
        names = [c.name if isinstance(c, Script) else str(c.args[0]) for c in getattr(call, "calls", ())]
        if "mark_complete" not in names:
            return await original(self, call)
        outcome_batches.append(names)
        if len(outcome_batches) > 1:
            return await original(self, call)
        replies = []
        for c in call.calls:
            if isinstance(c, Script) and c.name == "mark_complete":
                if mode == "ambiguous":
                    await original(self, c)
                replies.append(RedisUnavailableError("CLUSTERDOWN The cluster is down"))
            else:
                replies.append(await original(self, c))
        return replies

    monkeypatch.setattr(AsyncBroker, "execute", flaky)
    log = MessageLog()
    logger = logging.getLogger(f"asynq_py.test.{uuid.uuid4()}")
    logger.propagate = False
    logger.addHandler(log)
    logger.setLevel(logging.INFO)
    server = Server(real_redis_url, ServerConfig(**{**FAST, "queues": {queue: 1}, "logger": logger}))
    server.start(lambda ctx, task: b"result")
    servers.append(server)
    with Client(real_redis_url) as client, Inspector(real_redis_url) as inspector:
        info = client.enqueue(Task("t", b""), queue=queue, retention=60)
        wait_for(
            lambda: inspector.get_task_info(queue, info.id).state == TaskState.COMPLETED, 10, "completion"
        )
        done = inspector.get_task_info(queue, info.id)
        if mode == "unapplied":
            wait_for(lambda: len(outcome_batches) == 2, 5, "the retry")
        time.sleep(1.5)  # a retry, if any, is sent and its reply handled
    assert bytes(done.result) == b"result"
    if mode == "unapplied":
        assert outcome_batches == [["HSET", "mark_complete"], ["mark_complete"]]
    else:  # the retry, or the heartbeat finding the lease gone first, ends it: nothing is re-sent twice
        assert outcome_batches in (
            [["HSET", "mark_complete"]],
            [["HSET", "mark_complete"], ["mark_complete"]],
        )
    warnings = [m for level, m in log.messages if level in ("WARNING", "ERROR")]
    assert not [m for m in warnings if "not written" in m or "expired" in m], log.messages
