"""Translated errors keep what Redis said as their cause, as Go keeps the error it wraps."""

from __future__ import annotations

import socket

import pytest
import redis

from asynq_py.engine import BrokerError, Client, Inspector, RedisAuthError, RedisUnavailableError, Task
from asynq_py.engine.broker import _translate
from asynq_py.engine.calls import Command
from asynq_py.engine.resp import AuthError, ConnectionLost, NoReply, ReplyError


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


def test_an_error_reply_on_our_own_connection_is_the_cause_too(real_redis_url: str, queue: str) -> None:
    # A URL is served by resp's connections, which report an error reply as a ReplyError.
    with redis.Redis.from_url(real_redis_url) as admin:
        admin.sadd("asynq:queues", queue)
        admin.set(f"asynq:{{{queue}}}:pending", "not a list")
    with Inspector(real_redis_url) as inspector, pytest.raises(BrokerError) as caught:
        inspector.list_pending_tasks(queue)
    assert isinstance(caught.value.__cause__, ReplyError)
    assert caught.value.__cause__.code == "WRONGTYPE"
    assert "WRONGTYPE" in str(caught.value)


@pytest.mark.parametrize(
    ("reply", "kind", "words"),
    [
        (ReplyError("LOADING Redis is loading the dataset in memory"), RedisUnavailableError, "retry"),
        (ReplyError("READONLY You can't write against a read only replica."), RedisUnavailableError, "retry"),
        (ReplyError("MASTERDOWN Link with MASTER is down"), RedisUnavailableError, "retry"),
        (AuthError("WRONGPASS invalid username-password pair"), RedisAuthError, "credentials"),
        (ReplyError("NOPERM User u has no permissions to run the 'publish' command"), BrokerError, "denied"),
        (ReplyError("OOM command not allowed when used memory > 'maxmemory'."), BrokerError, "OOM"),
        (ConnectionLost("connection to Redis lost: closed by the server"), RedisUnavailableError, "reach"),
        (NoReply("no reply from Redis within the socket timeout"), RedisUnavailableError, "reach"),
    ],
)
def test_replies_and_failures_of_our_own_connections_become_engine_errors(
    reply: Exception, kind: type[Exception], words: str
) -> None:
    translated = _translate(reply, Command(("PUBLISH", "asynq:cancel", "x")))
    assert type(translated) is kind
    assert words in str(translated)
    assert translated.__cause__ is reply


def test_a_wrong_password_on_our_own_connection_is_an_auth_error(real_server_factory) -> None:
    srv = real_server_factory()
    with redis.Redis(port=srv.port) as admin:
        admin.config_set("requirepass", "s3cret")
    for url in (f"redis://:wrong@127.0.0.1:{srv.port}/0", f"redis://127.0.0.1:{srv.port}/0"):
        with Client(url) as client, pytest.raises(RedisAuthError):  # WRONGPASS, then NOAUTH
            client.enqueue(Task("t"))
