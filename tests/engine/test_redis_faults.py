"""Faults of Redis itself on a real server: huge payloads (R16), OOM and eviction policy (R15), a
Sentinel failover after SIGKILL of the master (R9), and a failover of a master that stays up.

Data nodes come from ``real_server_factory``; Sentinels are ``valkey-server <conf> --sentinel``
processes from ``tests/topology.py``, terminated in ``finally``. Every wait polls
against a deadline.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import threading
import time
import uuid
from typing import Any

import pytest
import redis
from helpers import wait_for
from topology import SentinelGroup, replication, sentinel_factory, start_sentinels

from asynq_py.engine import (
    AsyncClient,
    AsynqError,
    BrokerError,
    Client,
    Inspector,
    RedisUnavailableError,
    Server,
    ServerConfig,
    Task,
    TaskNotFoundError,
    ValidationError,
)
from asynq_py.engine.client import DEFAULT_MAX_PAYLOAD_BYTES
from asynq_py.engine.redispy import FOLLOW_MASTER_S

pytestmark = pytest.mark.real
__all__ = ["sentinel_factory"]

MiB = 1024 * 1024

FAST: dict[str, Any] = {
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
"""Short intervals, so that the tests run in seconds."""


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class MessageLog(logging.Handler):
    """Keeps log messages as text only: records with ``exc_info`` would keep frames, and through them
    connections, alive after the test."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append((record.levelname, record.getMessage()))


def private_logger(messages: MessageLog) -> logging.Logger:
    logger = logging.getLogger(f"asynq_py.test.{uuid.uuid4()}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(messages)
    return logger


class Ledger:
    """What handlers saw, outside Redis: task id -> sha256 of the payload, per run."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.runs: dict[str, list[str]] = {}

    def record(self, task_id: str, payload: bytes) -> None:
        with self.lock:
            self.runs.setdefault(task_id, []).append(sha(payload))

    def ids(self) -> set[str]:
        with self.lock:
            return set(self.runs)


def start_server(started: list[Server], url: str, handler: Any, **config: Any) -> Server:
    server = Server(url, ServerConfig(**{**FAST, **config}))
    server.start(handler)
    started.append(server)
    return server


def server_thread_alive(server: Server) -> bool:
    thread = server._thread  # the server's own thread: "0 process exits" means it is still running
    return thread is not None and thread.is_alive()


# R16 -----------------------------------------------------------------------------------------


def test_huge_payloads_round_trip_byte_identical(real_server_factory, servers) -> None:
    node = real_server_factory()
    queue = "big"
    payloads = {"size0": b"", "size1m": os.urandom(1 * MiB), "size10m": os.urandom(10 * MiB)}
    ledger = Ledger()
    seen_types: dict[str, str] = {}

    def handler(ctx: Any, task: Task) -> None:
        data = bytes(task.payload)
        seen_types[ctx.task_id] = task.type
        ledger.record(ctx.task_id, data)

    with Client(node.url) as client, Inspector(node.url) as inspector:
        ids = {}
        for name, data in payloads.items():
            info = client.enqueue(Task(name, data), queue=queue)
            ids[name] = info.id
            stored = inspector.get_task_info(queue, info.id)
            assert len(bytes(stored.payload)) == len(data), name
            assert sha(bytes(stored.payload)) == sha(data), name
        start_server(servers, node.url, handler, queues={queue: 1}, concurrency=2)
        wait_for(lambda: ledger.ids() >= set(ids.values()), 20, "the three payloads to be handled")
        for name, task_id in ids.items():
            assert ledger.runs[task_id] == [sha(payloads[name])], name
            assert seen_types[task_id] == name


def test_payload_over_limit_is_refused_before_any_redis_command(real_server_factory) -> None:
    node = real_server_factory()
    raw = redis.Redis(port=node.port)
    try:
        with Client(node.url, max_payload_bytes=1024) as client, Client(node.url) as default_client:
            raw.config_resetstat()
            before = {
                k for k in raw.info("commandstats") if not k.startswith(("cmdstat_config", "cmdstat_info"))
            }
            assert before == set()
            with pytest.raises(ValidationError, match="larger than the limit"):
                client.enqueue(Task("over", b"x" * 1025))
            with pytest.raises(ValidationError, match="larger than the limit"):
                client.enqueue_many([Task("ok", b"x"), Task("over", b"x" * 1025)])
            with pytest.raises(ValidationError, match="larger than the limit"):
                default_client.enqueue(Task("over", b"\0" * (DEFAULT_MAX_PAYLOAD_BYTES + 1)))
            after = raw.info("commandstats")
            sent = {k: v for k, v in after.items() if not k.startswith(("cmdstat_config", "cmdstat_info"))}
            assert sent == {}, f"commands reached Redis for refused payloads: {sent}"
            assert raw.dbsize() == 0
            # Exactly at the limit is accepted, and the client still works after refusals.
            info = client.enqueue(Task("at-limit", b"y" * 1024))
            with Inspector(node.url) as inspector:
                assert bytes(inspector.get_task_info("default", info.id).payload) == b"y" * 1024
    finally:
        raw.close()


# R15 -----------------------------------------------------------------------------------------


def test_oom_refusal_is_typed_and_accepted_tasks_complete(real_server_factory, servers, caplog) -> None:
    node = real_server_factory(extra=("--maxmemory", "4mb", "--maxmemory-policy", "noeviction"))
    queue = "oom"
    ledger = Ledger()

    def handler(ctx: Any, task: Task) -> None:
        time.sleep(0.05)
        ledger.record(ctx.task_id, bytes(task.payload))

    with caplog.at_level("WARNING", logger="asynq_py"):
        server = start_server(servers, node.url, handler, queues={queue: 1}, concurrency=2)
    assert not [r for r in caplog.records if "maxmemory-policy" in r.getMessage()]

    accepted: dict[str, str] = {}
    refusal: AsynqError | None = None
    refused_id = ""
    refusal_s = 0.0
    with Client(node.url) as client, Inspector(node.url) as inspector:
        for _ in range(400):  # 40 MiB at most: far beyond 4 MiB
            data = os.urandom(100 * 1024)
            task_id = str(uuid.uuid4())
            t0 = time.monotonic()
            try:
                client.enqueue(Task("fill", data), queue=queue, task_id=task_id)
            except AsynqError as exc:
                refusal_s = time.monotonic() - t0
                refusal, refused_id = exc, task_id
                break
            accepted[task_id] = sha(data)
        assert refusal is not None, "Redis never refused an enqueue with maxmemory 4mb"
        assert isinstance(refusal, BrokerError), repr(refusal)
        assert not isinstance(refusal, RedisUnavailableError), repr(refusal)
        assert not isinstance(refusal, redis.RedisError)
        assert "maxmemory" in str(refusal)
        assert refusal_s < 1.0, f"the refused enqueue took {refusal_s:.3f}s"
        assert len(accepted) >= 5
        print(f"OOM: {len(accepted)} enqueues accepted, refusal after {refusal_s * 1000:.1f} ms: {refusal}")

        # Every accepted task is intact: still stored with its payload, or already handled.
        for task_id, digest in accepted.items():
            try:
                stored = inspector.get_task_info(queue, task_id)
            except TaskNotFoundError:
                assert task_id in ledger.ids(), f"accepted task {task_id} vanished"
            else:
                assert sha(bytes(stored.payload)) == digest
        with pytest.raises(TaskNotFoundError):
            inspector.get_task_info(queue, refused_id)
        assert server_thread_alive(server)

        # The producer stopped: every accepted task completes, and nothing stays active.
        wait_for(lambda: ledger.ids() >= set(accepted), 20, "all accepted tasks to complete")

        def drained() -> bool:
            info = inspector.get_queue_info(queue)
            return info.pending == 0 and info.active == 0 and info.retry == 0

        wait_for(drained, 10, "the queue to drain")
        assert server_thread_alive(server)
        assert server.status == "active"
    for task_id, digest in accepted.items():
        assert set(ledger.runs[task_id]) == {digest}
    assert refused_id not in ledger.ids()


def test_eviction_policy_other_than_noeviction_warns_once(real_server_factory, caplog) -> None:
    node = real_server_factory(extra=("--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"))
    server = Server(node.url, ServerConfig(**{**FAST, "queues": {"lru": 1}}))
    with caplog.at_level("WARNING", logger="asynq_py"):
        server.start(lambda ctx, task: None)
        try:
            time.sleep(1.0)  # a few heartbeats and loop ticks: none of them may repeat the warning
        finally:
            server.shutdown()
    policy = [r for r in caplog.records if "allkeys-lru" in r.getMessage()]
    assert len(policy) == 1, [r.getMessage() for r in caplog.records]
    assert policy[0].levelname == "WARNING"
    assert "maxmemory-policy" in policy[0].getMessage()


# R9 ------------------------------------------------------------------------------------------


def test_closing_a_sentinel_client_closes_its_sentinel_connections(real_server_factory, tmp_path) -> None:
    master = real_server_factory()
    sentinels = start_sentinels(tmp_path, master.port, 1)
    try:
        url = f"redis-sentinel://127.0.0.1:{sentinels[0].port}?master=mymaster"
        client = Client(url)
        inspector = Inspector(url)
        try:
            client.enqueue(Task("t"))
            assert inspector.queues() == ["default"]
        finally:
            client.close()
            inspector.close()
        own = sentinels[0].client.client_id()
        leftover = [
            c for c in sentinels[0].client.client_list()
            if c.get("lib-name") == "redis-py" and int(c["id"]) != own
        ]  # fmt: skip
        assert leftover == [], f"{len(leftover)} connections to the Sentinel still open after close()"
    finally:
        for s in sentinels:
            s.stop()


def test_sentinel_failover_after_master_sigkill(real_server_factory, servers, tmp_path) -> None:
    master = real_server_factory(extra=("--repl-diskless-sync-delay", "0"))
    replica = real_server_factory(
        extra=("--replicaof", "127.0.0.1", str(master.port), "--repl-diskless-sync-delay", "0")
    )
    wait_for(lambda: replication(replica.port).get("master_link_status") == "up", 15, "the replica to sync")
    sentinels = start_sentinels(tmp_path, master.port, 3)
    try:

        def converged() -> bool:
            for s in sentinels:
                m = s.master()
                if int(m["num-slaves"]) != 1 or int(m["num-other-sentinels"]) != 2:
                    return False
            return True

        wait_for(converged, 15, "the sentinels to see the replica and each other", interval=0.2)

        addrs = ",".join(f"127.0.0.1:{s.port}" for s in sentinels)
        url = f"redis-sentinel://{addrs}?master=mymaster"
        queue = "sentinel"
        ledger = Ledger()

        def handler(ctx: Any, task: Task) -> None:
            ledger.record(ctx.task_id, bytes(task.payload))

        with Client(url) as client, Inspector(url) as inspector:
            log = MessageLog()
            server = start_server(
                servers, url, handler, queues={queue: 1}, concurrency=4, logger=private_logger(log)
            )
            before = [client.enqueue(Task("s", f"before-{i}"), queue=queue).id for i in range(10)]
            wait_for(lambda: ledger.ids() >= set(before), 10, "tasks to run before the failover")
            assert inspector.get_queue_info(queue).processed == 10

            master.proc.kill()
            master.proc.wait(timeout=5)
            killed_at = time.monotonic()
            wait_for(
                lambda: all(s.master_port() == replica.port for s in sentinels),
                20,
                "the sentinels to promote the replica",
                interval=0.1,
            )
            wait_for(lambda: replication(replica.port).get("role") == "master", 5, "the replica to be master")
            promoted_at = time.monotonic()

            errors: list[AsynqError] = []

            def enqueue_once() -> str | None:
                try:
                    return client.enqueue(Task("s", "after-0"), queue=queue).id
                except AsynqError as exc:
                    errors.append(exc)
                    return None

            first = wait_for(enqueue_once, 10, "an enqueue to succeed after the promotion", interval=0.1)
            enqueue_s = time.monotonic() - promoted_at
            after = [first] + [client.enqueue(Task("s", f"after-{i}"), queue=queue).id for i in range(1, 10)]
            wait_for(
                lambda: ledger.ids() >= set(after),
                max(1.0, 10 - (time.monotonic() - promoted_at)),
                "the running server to process tasks after the promotion",
            )
            resumed_s = time.monotonic() - promoted_at
            readonly = [e for e in errors if "READONLY" in str(e)]
            assert not readonly, readonly
            assert server_thread_alive(server)
            assert server.status == "active"
            assert enqueue_s <= 10
            assert resumed_s <= 10
            print(
                f"failover: promoted {promoted_at - killed_at:.1f}s after the kill; enqueue ok after "
                f"{enqueue_s:.2f}s, processing resumed after {resumed_s:.2f}s; "
                f"{len(errors)} refused enqueues"
            )
            for task_id in before + after:
                assert len(ledger.runs[task_id]) == 1
            assert not [m for level, m in log.messages if level == "CRITICAL"], log.messages
    finally:
        while servers:  # shut down while the sentinels can still name the master
            servers.pop().shutdown()
        for s in sentinels:
            s.stop()


def failover_of_a_live_master(group: SentinelGroup) -> int:
    """Have the Sentinels promote the replica while the master stays up; return the new master's port.

    The old master goes on taking writes until the Sentinels reconfigure it, seconds later, and
    then drops them for its successor's data.
    """
    (replica,) = group.replicas
    group.sentinels[0].client.execute_command("SENTINEL", "FAILOVER", "mymaster")
    named = lambda: {s.master_port() for s in group.sentinels} == {replica.port}  # noqa: E731
    wait_for(named, 30, "every Sentinel to name the replica", interval=0.1)
    return int(replica.port)


@pytest.mark.cluster
def test_a_client_follows_the_failover_of_a_live_master(sentinel_factory) -> None:
    """Before, the client's open connection kept writing to the demoted master, whose writes were
    then dropped: in chaos (c), a second failover right after the first ran nearly every task twice."""
    group: SentinelGroup = sentinel_factory(replicas=1)
    with Client(group.url) as client:
        client.enqueue(Task("t"), queue="follow", task_id="before")  # a connection to the old master
        asked = time.monotonic()
        new_port = failover_of_a_live_master(group)
        time.sleep(max(0.0, asked + FOLLOW_MASTER_S - time.monotonic()))
        client.enqueue(Task("t"), queue="follow", task_id="after")
    with redis.Redis(port=new_port) as new_master:
        assert new_master.exists("asynq:{follow}:t:after") == 1


@pytest.mark.cluster
def test_an_async_client_follows_the_failover_of_a_live_master(sentinel_factory) -> None:
    group: SentinelGroup = sentinel_factory(replicas=1)

    async def enqueue_across_the_failover() -> int:
        async with AsyncClient(group.url) as client:
            await client.enqueue(Task("t"), queue="follow", task_id="before")
            asked = time.monotonic()
            new_port = await asyncio.to_thread(failover_of_a_live_master, group)
            await asyncio.sleep(max(0.0, asked + FOLLOW_MASTER_S - time.monotonic()))
            await client.enqueue(Task("t"), queue="follow", task_id="after")
        return new_port

    new_port = asyncio.run(enqueue_across_the_failover())
    with redis.Redis(port=new_port) as new_master:
        assert new_master.exists("asynq:{follow}:t:after") == 1
