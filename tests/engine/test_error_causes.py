"""Translated errors keep what Redis said as their cause, as Go keeps the error it wraps."""

from __future__ import annotations

import socket

import pytest
import redis

from asynq_py.engine import BrokerError, Client, Inspector, RedisUnavailableError, Task


def test_a_redis_error_reply_is_the_cause_of_the_broker_error(redis_client: redis.Redis, queue: str) -> None:
    redis_client.sadd("asynq:queues", queue)
    redis_client.set(f"asynq:{{{queue}}}:pending", "not a list")
    with Inspector(redis_client) as inspector, pytest.raises(BrokerError) as caught:
        inspector.list_pending_tasks(queue)
    assert isinstance(caught.value.__cause__, redis.ResponseError)
    assert "WRONGTYPE" in str(caught.value.__cause__)


def test_an_unreachable_server_is_the_cause_of_redis_unavailable() -> None:
    with socket.socket() as held:  # bound but not listening: connections are refused
        held.bind(("127.0.0.1", 0))
        url = f"redis://127.0.0.1:{held.getsockname()[1]}/0"
        with Client(url) as client, pytest.raises(RedisUnavailableError) as caught:
            client.enqueue(Task("t"))
    assert isinstance(caught.value.__cause__, OSError | redis.ConnectionError)
