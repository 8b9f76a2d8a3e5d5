"""The wake list (docs/wire.md §2.4): enqueue pushes one bounded token, an idle server blocks on it
with the dequeue pipelined behind, and stops, Pub/Sub wake-ups and refusals end or replace the wait."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from helpers import wait_for
from seed import message, seed_task

from asynq_py.engine import Client, Inspector, RedisConnOpt, Server, ServerConfig, Task, keys, rdb
from asynq_py.engine.broker import AsyncBroker, Broker
from asynq_py.engine.clock import RealClock
from asynq_py.engine.processor import WAKE_RUNNER, Processor, Registry
from asynq_py.engine.scripts import script
from asynq_py.engine.wire import TaskMessage

SLOW_POLL = {"task_check_interval_s": 10.0, "shutdown_timeout_s": 2.0, "heartbeat_interval_s": 0.5}
"""An idle server that blocks 5-15 s per poll: anything quicker is a wake-up."""


def patient(url: str) -> RedisConnOpt:
    """Options whose socket timeout lets a wait last the whole poll (it is capped at half of it)."""
    return dataclasses.replace(RedisConnOpt.from_url(url), socket_timeout_s=60.0)


@pytest.fixture
def raw(real_redis_url: str) -> Iterator[redis.Redis]:
    r = redis.Redis.from_url(real_redis_url)
    yield r
    r.close()


def blocked_here(raw: redis.Redis, count: int = 1) -> bool:
    """Whether ``count`` clients of this test's database are blocked in BLPOP (the server is shared)."""
    db = raw.connection_pool.connection_kwargs.get("db", 0)
    blocked = [c for c in raw.client_list() if c["cmd"] == "blpop" and "b" in c["flags"]]
    return len([c for c in blocked if int(c["db"]) == db]) >= count


def subscribers(raw: redis.Redis, channel: str) -> int:
    return int(dict(raw.pubsub_numsub(channel))[channel.encode()])


@pytest.fixture
def serve(real_redis_url: str, queue: str, servers: list[Server]) -> Callable[..., Server]:
    def start(handler: Any, redis_opt: Any = None, **config: Any) -> Server:
        options = {**SLOW_POLL, "queues": {queue: 1}, "concurrency": 2, **config}
        server = Server(redis_opt or patient(real_redis_url), ServerConfig(**options))
        server.start(handler)
        servers.append(server)
        return server

    return start


def test_enqueue_onto_an_empty_queue_leaves_one_token_that_expires(
    redis_client: redis.Redis, queue: str
) -> None:
    wake = keys.wake_list_key(queue)
    with Client(redis_client) as client:
        client.enqueue(Task("t"), queue=queue)
        assert redis_client.lrange(wake, 0, -1) == [b"1"]
        assert 0 < redis_client.ttl(wake) <= 10
        client.enqueue(Task("t"), queue=queue)  # pending was not empty: no new token
        assert redis_client.llen(wake) == 1
        for _ in range(3):  # empty again, then a new task each time: still one token
            redis_client.delete(keys.pending_key(queue))
            client.enqueue(Task("t"), queue=queue)
            assert redis_client.lrange(wake, 0, -1) == [b"1"]
        client.enqueue(Task("t"), queue=queue, unique=60)  # the unique variant pushes it too
        redis_client.delete(keys.pending_key(queue), wake)
        client.enqueue(Task("u"), queue=queue, unique=60)
        assert redis_client.lrange(wake, 0, -1) == [b"1"]


def _make_pending(path: str, r: redis.Redis, queue: str) -> Any:
    """Make one task pending by ``path`` (each way but an enqueue); return what the path returned."""
    states = {"forward": "scheduled", "requeue": "active", "run": "archived", "run_all": "retry"}
    kind = states.get(path, "pending")
    task_id = seed_task(r, message("t", queue=queue), kind, score=time.time() - 10)
    with Inspector(r) as inspector, contextlib.closing(Broker(r)) as broker:
        if path == "forward":
            return broker.run(rdb.forward_due(queue, now=time.time()))
        if path == "requeue":
            return broker.run(rdb.requeue(TaskMessage(type="", id=task_id, queue=queue)))
        if path == "run":
            return inspector.run_task(queue, task_id)
        if path == "run_all":
            return inspector.run_all_retry_tasks(queue)
        r.delete(keys.wake_list_key(queue))  # (a pending task seeded the Go way pushes no token)
        inspector.pause_queue(queue)
        return inspector.unpause_queue(queue)


PATHS = ["forward", "requeue", "run", "run_all", "unpause"]
"""Every way other than an enqueue that makes a queue's pending list non-empty."""


@pytest.mark.parametrize("path", PATHS)
def test_every_path_to_pending_leaves_one_token(redis_client: redis.Redis, queue: str, path: str) -> None:
    wake = keys.wake_list_key(queue)
    _make_pending(path, redis_client, queue)
    assert redis_client.lrange(wake, 0, -1) == [b"1"]
    assert 0 < redis_client.ttl(wake) <= 10
    _make_pending(path, redis_client, queue)  # again: still one token
    assert redis_client.lrange(wake, 0, -1) == [b"1"]


@pytest.mark.parametrize("path", ["forward", "requeue", "run"])
def test_no_token_when_pending_was_not_empty(redis_client: redis.Redis, queue: str, path: str) -> None:
    seed_task(redis_client, message("already", queue=queue), "pending")
    _make_pending(path, redis_client, queue)
    assert redis_client.llen(keys.pending_key(queue)) == 2
    assert redis_client.llen(keys.wake_list_key(queue)) == 0


def test_unpausing_an_empty_queue_pushes_no_token_and_says_woken(
    redis_client: redis.Redis, queue: str
) -> None:
    with Inspector(redis_client) as inspector:
        inspector.pause_queue(queue)
        assert inspector.unpause_queue(queue) is True  # nothing was pending: nobody to wake
    assert redis_client.llen(keys.wake_list_key(queue)) == 0
    assert not redis_client.exists(keys.paused_key(queue))


@pytest.mark.parametrize("took_all", [True, False])
def test_a_dequeue_after_a_wait_passes_the_token_on_only_if_it_left_tasks(
    redis_client: redis.Redis, queue: str, took_all: bool
) -> None:
    for _ in range(3):
        seed_task(redis_client, message("t", queue=queue), "pending")
    wake = keys.wake_list_key(queue)
    with contextlib.closing(Broker(redis_client)) as broker:
        plain = broker.run(rdb.dequeue([queue], now=time.time(), count=1, lease_s=30))
        assert len(plain.tasks) == 1
        assert redis_client.llen(wake) == 0  # a dequeue that did not wait relays nothing
        count = 2 if took_all else 1
        fetched = broker.run(rdb.dequeue([queue], now=time.time(), count=count, lease_s=30, relay=True))
        assert len(fetched.tasks) == count
    assert redis_client.lrange(wake, 0, -1) == ([] if took_all else [b"1"])


def _dequeue(queue: str) -> Any:
    return rdb.dequeue([queue], now=time.time(), count=4, lease_s=30)


@pytest.mark.real
async def test_a_token_ends_the_wait_and_the_dequeue_behind_it_takes_the_task(
    real_redis_url: str, queue: str
) -> None:
    broker = AsyncBroker(patient(real_redis_url))
    try:
        assert broker.can_block
        waiting = asyncio.ensure_future(
            broker.run_after_wake(_dequeue(queue), [keys.wake_list_key(queue)], 20.0)
        )
        await asyncio.sleep(0.2)
        assert broker.waiting
        started = time.monotonic()
        with Client(real_redis_url) as client:
            info = await asyncio.to_thread(client.enqueue, Task("t"), queue=queue)
        woken, fetched = await asyncio.wait_for(waiting, 10)
        assert time.monotonic() - started < 5  # far less than the 20 s wait
        assert woken == keys.wake_list_key(queue)
        assert [t.task_id for t in fetched.tasks] == [info.id]
        assert not broker.waiting
    finally:
        await broker.aclose()


@pytest.mark.real
async def test_without_a_token_the_wait_times_out_and_the_dequeue_is_the_poll(
    real_redis_url: str, raw: redis.Redis, queue: str
) -> None:
    # A Go client pushes no token: the task is found when the wait ends, as by Go's poll.
    task_id = str(uuid.uuid4())
    raw.hset(keys.task_key(queue, task_id), mapping={"msg": b"", "state": "pending"})
    raw.lpush(keys.pending_key(queue), task_id)
    broker = AsyncBroker(patient(real_redis_url))
    try:
        started = time.monotonic()
        woken, fetched = await broker.run_after_wake(_dequeue(queue), [keys.wake_list_key(queue)], 0.3)
        assert time.monotonic() - started >= 0.25
        assert woken is None
        assert [t.task_id for t in fetched.tasks] == [task_id]
    finally:
        await broker.aclose()


@pytest.mark.real
async def test_unblock_ends_the_wait_at_once_and_a_paused_queue_still_gives_nothing(
    real_redis_url: str, raw: redis.Redis, queue: str
) -> None:
    broker = AsyncBroker(patient(real_redis_url))
    try:
        for _ in range(2):  # asked while the wait is set up, then while it blocks
            started = time.monotonic()
            waiting = asyncio.ensure_future(
                broker.run_after_wake(_dequeue(queue), [keys.wake_list_key(queue)], 20.0)
            )
            await asyncio.sleep(0)
            await broker.unblock()
            woken, fetched = await asyncio.wait_for(waiting, 10)
            assert (woken, fetched.tasks) == (None, [])
            assert time.monotonic() - started < 5
        # A wait whose BLPOP has not reached Redis (its client is not blocked): asked again for a
        # while, then left to its timeout.
        ident: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        ident.set_result([int(raw.client_id())])
        broker._ident, broker.waiting = ident, True
        started = time.monotonic()
        await broker.unblock()
        assert time.monotonic() - started < 5
        broker._ident, broker.waiting = None, False
        with Client(real_redis_url) as client, Inspector(real_redis_url) as inspector:
            client.enqueue(Task("t"), queue=queue)
            inspector.pause_queue(queue)
            woken, fetched = await broker.run_after_wake(_dequeue(queue), [keys.wake_list_key(queue)], 20.0)
            # The token came, and the script said paused.
            assert (woken, fetched.tasks) == (keys.wake_list_key(queue), [])
            assert inspector.get_queue_info(queue).pending == 1
    finally:
        await broker.aclose()


@pytest.mark.real
async def test_a_waiter_cancelled_during_its_wait_is_cancelled_and_the_next_wait_works(
    real_redis_url: str, queue: str
) -> None:
    # The wait's reply is awaited as it is once connected (not through a task of its own): a
    # cancelled caller must still end with CancelledError and leave the broker ready to wait again.
    broker = AsyncBroker(patient(real_redis_url))
    wake_lists = [keys.wake_list_key(queue)]
    try:
        for _ in range(2):  # the first wait opens the connection, the second finds it open
            waiting = asyncio.ensure_future(broker.run_after_wake(_dequeue(queue), wake_lists, 1.0))
            await asyncio.sleep(0.2)
            assert broker.waiting
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(waiting, 10)
            assert not broker.waiting
            # Its BLPOP still blocks on Redis for the rest of its second, with its dequeue behind
            # it (which would take a task enqueued now): let it end first.
            await asyncio.sleep(1.0)
        with Client(real_redis_url) as client:
            info = await asyncio.to_thread(client.enqueue, Task("t"), queue=queue)
        woken, fetched = await asyncio.wait_for(broker.run_after_wake(_dequeue(queue), wake_lists, 20.0), 10)
        assert woken == wake_lists[0]
        assert [t.task_id for t in fetched.tasks] == [info.id]
    finally:
        await broker.aclose()


@pytest.mark.real
def test_an_idle_server_stops_at_once_and_wakes_on_a_wake_message(
    real_redis_url: str, raw: redis.Redis, queue: str
) -> None:
    ran = threading.Event()

    async def handler(ctx: Any, task: Any) -> None:
        ran.set()

    server = Server(patient(real_redis_url), ServerConfig(**SLOW_POLL, queues={queue: 1}, concurrency=2))
    with Client(real_redis_url) as client, Inspector(real_redis_url) as inspector:
        client.enqueue(Task("warm"), queue=queue)
        server.start(handler)
        stopped = False
        try:
            wait_for(ran.is_set, what="the first task")
            ran.clear()
            wait_for(lambda: blocked_here(raw), what="the server blocking")
            # Unpausing publishes a wake message and pushes no token: it must end the wait.
            inspector.pause_queue(queue)
            client.enqueue(Task("t"), queue=queue)
            raw.delete(keys.wake_list_key(queue))
            time.sleep(0.3)
            inspector.unpause_queue(queue)
            assert ran.wait(4.5), "the task waited for the poll (5-15 s) instead of the wake message"
            # Stopping ends the wait too: shutting down does not wait for the poll either.
            wait_for(lambda: blocked_here(raw), what="the server blocking again")
            started = time.monotonic()
            stopped = True
            server.shutdown()
            assert time.monotonic() - started < 4.5
        finally:
            if not stopped:
                server.shutdown()


@pytest.mark.real
def test_a_server_refused_the_wait_polls_and_wakes_by_message(
    serve: Callable[..., Server], real_redis_url: str, raw: redis.Redis, queue: str, caplog: Any
) -> None:
    user = f"noblock-{uuid.uuid4().hex[:8]}"
    raw.acl_setuser(
        user, enabled=True, passwords=["+pw"], keys=["*"], channels=["*"], commands=["+@all", "-blpop"]
    )
    try:
        opt = dataclasses.replace(patient(real_redis_url), username=user, password="pw")
        seen: list[str] = []

        async def handler(ctx: Any, task: Any) -> None:
            seen.append(task.type)

        with caplog.at_level(logging.WARNING, logger="asynq_py"), Client(real_redis_url) as client:
            serve(handler, redis_opt=opt)
            wait_for(lambda: "cannot wait on the wake lists" in caplog.text, what="the fallback warning")
            # It subscribes to the wake channel, which a server that blocks does not need.
            wait_for(lambda: subscribers(raw, keys.wake_channel(queue)) == 1, what="the wake subscription")
            for name in ("a", "b", "c"):
                client.enqueue(Task(name), queue=queue)
                wait_for(lambda n=name: n in seen, 4.5, f"task {name} (the poll is 5-15 s)")
        assert caplog.text.count("cannot wait on the wake lists") == 1
    finally:
        raw.acl_deluser(user)


@pytest.mark.real
@pytest.mark.parametrize("path", PATHS)
def test_work_made_pending_by_any_path_wakes_a_blocked_server_without_a_message(
    serve: Callable[..., Server], raw: redis.Redis, real_redis_url: str, queue: str, path: str
) -> None:
    ran: list[str] = []

    async def handler(ctx: Any, task: Any) -> None:
        ran.append(task.type)

    with Client(real_redis_url) as client:
        client.enqueue(Task("warm"), queue=queue)
        serve(handler)
        wait_for(lambda: "warm" in ran, what="the first task")
        wait_for(lambda: blocked_here(raw), what="the server blocking")
        # A blocking server hears no wake-up message: only the token can end its wait early.
        assert subscribers(raw, keys.wake_channel(queue)) == 0
        _make_pending(path, raw, queue)
        wait_for(lambda: "t" in ran, 4.5, f"the task made pending by {path} (the poll is 5-15 s)")


@pytest.mark.real
def test_a_server_woken_with_tasks_left_wakes_the_next_idle_server(
    serve: Callable[..., Server], raw: redis.Redis, real_redis_url: str, queue: str
) -> None:
    release = threading.Event()
    started: list[float] = []

    def handler(ctx: Any, task: Any) -> None:
        started.append(time.monotonic())
        release.wait(10)

    try:
        serve(handler, concurrency=1)
        serve(handler, concurrency=1)
        wait_for(lambda: blocked_here(raw, 2), what="both servers blocking")
        with Client(real_redis_url) as client:
            # One call, one token: the first server takes one task and passes the token on.
            client.enqueue_many([Task("t"), Task("t")], queue=queue)
            wait_for(lambda: len(started) == 2, 4.5, "both tasks running (the poll is 5-15 s)")
    finally:
        release.set()


@pytest.mark.real
def test_a_server_that_took_the_only_task_waits_again_without_another_dequeue(
    real_server_factory: Any,
) -> None:
    url = real_server_factory().url
    raw = redis.Redis.from_url(url)
    ran = threading.Event()

    async def handler(ctx: Any, task: Any) -> None:
        ran.set()

    dequeue_sha = script("dequeue").sha.encode()
    server = Server(patient(url), ServerConfig(**SLOW_POLL, queues={"q": 1}, concurrency=4))
    server.start(handler)
    try:
        wait_for(lambda: blocked_here(raw), what="the server blocking")
        with raw.monitor() as monitor, Client(url) as client:
            client.enqueue(Task("t"), queue="q")
            assert ran.wait(4.5)
            wait_for(lambda: blocked_here(raw), what="the server blocking again")
            raw.ping()  # (MONITOR shows it once the commands before it have run)
            commands: list[bytes] = []
            while not commands or commands[-1] != b"PING":
                commands.append(monitor.next_command()["command"].encode())
        # The dequeue behind the wait took the task and left the queue empty: the server waits
        # again at once (the next dequeue, behind the new BLPOP, has not run).
        assert sum(c.startswith(b"EVALSHA " + dequeue_sha) for c in commands) == 1, commands
    finally:
        server.shutdown()
        raw.close()


@pytest.mark.real
def test_after_a_wake_up_the_first_handler_runs_in_the_task_that_waited(
    serve: Callable[..., Server], raw: redis.Redis, real_redis_url: str, queue: str
) -> None:
    # The wait's own task runs the first task its dequeue brings: no task is created and no loop
    # step passes between the reply and that handler (the latency of an idle wake-up). The others
    # of the same dequeue run in tasks of their own, at once.
    ran: list[tuple[str, str]] = []

    async def handler(ctx: Any, task: Any) -> None:
        current = asyncio.current_task()
        ran.append((bytes(task.payload).decode(), current.get_name() if current else ""))
        await asyncio.sleep(0.05)

    serve(handler, concurrency=4)
    with Client(real_redis_url) as client:
        for burst in (["a"], ["b", "c", "d"]):
            wait_for(lambda: blocked_here(raw), what="the server blocking")
            ran.clear()
            # One script call for the burst: the token wakes the server once, for all of them.
            client.enqueue_many([Task("t", p) for p in burst], queue=queue)
            wait_for(lambda burst=burst: len(ran) == len(burst), timeout=4.5, what=f"{burst} to run")
            names = [name for _, name in ran]
            assert names.count(WAKE_RUNNER) == 1, ran
            assert sorted(p for p, _ in ran) == burst


@pytest.mark.real
async def test_cancelling_the_fetch_loop_during_a_wait_cancels_the_waiting_task(
    real_redis_url: str, queue: str
) -> None:
    async def handler(ctx: Any, task: Any) -> None:
        raise AssertionError("no task was enqueued")

    broker = AsyncBroker(patient(real_redis_url))
    sync_broker = Broker(real_redis_url)
    config = ServerConfig(**SLOW_POLL, queues={queue: 1}, concurrency=2)
    processor = Processor(
        broker, sync_broker, config, lambda _: handler, RealClock(), Registry(), logging.getLogger("test")
    )
    fetcher = asyncio.ensure_future(processor.fetch_loop())
    try:
        deadline = time.monotonic() + 10
        while not broker.waiting:
            assert time.monotonic() < deadline, "the fetch loop never waited on the wake lists"
            await asyncio.sleep(0.01)
        fetcher.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(fetcher, 10)
        await asyncio.sleep(0.05)
        waiting = [t for t in asyncio.all_tasks() if t.get_name() == WAKE_RUNNER and not t.done()]
        assert waiting == [], "the wait outlived the fetch loop that asked for it"
    finally:
        await broker.aclose()
        sync_broker.close()
