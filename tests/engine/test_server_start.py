"""A server started while Redis is unreachable: it waits with backoff, serves once Redis answers,
gives up after ``redis_wait_s``, and shuts down cleanly while waiting."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import pytest
from conftest import free_port
from helpers import wait_for

from asynq_py.engine import Client, RedisUnavailableError, Server, ServerConfig, Task

pytestmark = pytest.mark.real

FAST = {
    "heartbeat_interval_s": 0.5,
    "lease_duration_s": 2,
    "task_check_interval_s": 0.2,
    "shutdown_timeout_s": 1.0,
}


def attempts(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "trying again in" in r.getMessage()]


def test_a_server_started_before_redis_waits_and_then_serves(
    real_server_factory: Any, queue: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="asynq_py")
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    ran = threading.Event()
    server = Server(url, ServerConfig(queues={queue: 1}, **FAST))
    failure: list[BaseException] = []

    def start() -> None:
        try:
            server.start(lambda ctx, task: ran.set(), timeout_s=60)
        except BaseException as exc:  # reported to the test thread
            failure.append(exc)

    starter = threading.Thread(target=start)
    starter.start()
    try:
        wait_for(lambda: len(attempts(caplog)) >= 3, timeout=10, what="three failed attempts")
        assert not failure
        assert server.status == "new"
        real_server_factory(port=port)
        starter.join(15)
        assert not starter.is_alive(), failure
        assert not failure, failure
        with Client(url) as client:
            client.enqueue(Task("late"), queue=queue)
        assert ran.wait(10)
    finally:
        server.shutdown()
        starter.join(5)
    lines = attempts(caplog)
    assert "attempt 1, trying again in 0.5s" in lines[0]
    assert "cannot reach Redis" in lines[0]
    assert "attempt 2, trying again in 1.0s" in lines[1]
    assert "attempt 3, trying again in 2.0s" in lines[2]
    assert any("Redis answered after" in r.getMessage() for r in caplog.records)


def test_redis_wait_bounds_the_wait(queue: str, caplog: pytest.LogCaptureFixture) -> None:
    server = Server(f"redis://127.0.0.1:{free_port()}/0", ServerConfig(queues={queue: 1}, redis_wait_s=1.2))
    started = time.monotonic()
    with pytest.raises(RedisUnavailableError, match=r"gave up after 3 attempts in 1.2s"):
        server.start(lambda ctx, task: None, timeout_s=30)
    assert time.monotonic() - started < 10
    assert len(attempts(caplog)) == 2
    with pytest.raises(RedisUnavailableError, match="gave up after 1 attempts in 0s"):
        Server(f"redis://127.0.0.1:{free_port()}/0", ServerConfig(redis_wait_s=0)).start(lambda c, t: None)


def test_shutdown_while_waiting_for_redis(queue: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="asynq_py")
    server = Server(f"redis://127.0.0.1:{free_port()}/0", ServerConfig(queues={queue: 1}))
    thread = threading.Thread(target=asyncio.run, args=(server.run_async(lambda ctx, task: None),))
    thread.start()
    wait_for(lambda: attempts(caplog), timeout=10, what="a failed attempt")
    server.shutdown()
    thread.join(10)
    assert not thread.is_alive()
    assert server.status == "closed"
    assert any("shut down before Redis answered" in r.getMessage() for r in caplog.records)
