"""Typed tasks across languages: a ``ServeMux.task`` task round-trips from Python and from Go, and each
side checks what the other sent (asynq-py with msgspec, goserver with a strict ``encoding/json``
decode into a struct), archiving a payload that does not fit after one attempt.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import unique_queue, wait_for

from asynq_py.engine import (
    Client,
    Inspector,
    ServeMux,
    Server,
    ServerConfig,
    Task,
    TaskContext,
    TaskInfo,
    TaskState,
    ValidationError,
)

from .support import Go

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

mux = ServeMux()
seen: list[dict[str, Any]] = []


@mux.task("typed:deliver")
async def deliver(ctx: TaskContext, user_id: int, subject: str = "") -> bytes:
    seen.append({"id": ctx.task_id, "user_id": user_id, "subject": subject})
    return f"user_id={user_id} subject={subject}".encode()


@pytest.fixture
def py_worker(real_redis_url: str) -> Iterator[tuple[str, Inspector]]:
    queue = unique_queue("typed-py")
    server = Server(
        real_redis_url,
        ServerConfig(queues={queue: 1}, concurrency=2, task_check_interval_s=0.1, shutdown_timeout_s=2.0),
    )
    server.start(mux)
    try:
        with Inspector(real_redis_url) as inspector:
            yield queue, inspector
    finally:
        server.shutdown()


def test_go_enqueues_a_typed_task_that_the_python_worker_checks_and_runs(go: Go, py_worker) -> None:
    queue, inspector = py_worker
    # The map a Go service marshals: the same bytes as asynq-py's canonical encoding of the arguments.
    good = go.enqueue(
        "typed:deliver", payload_json={"user_id": 42, "subject": "hi"}, queue=queue, retention_s=600
    )
    assert base64.b64decode(good["payload_b64"]) == deliver.task(user_id=42, subject="hi").raw_payload
    done = wait_for(
        lambda: (info := go.inspect("task", queue, good["id"]))["state"] == "completed" and info,
        what="completed",
        timeout=15,
    )
    assert base64.b64decode(done["result_b64"]) == b"user_id=42 subject=hi"
    assert {"id": good["id"], "user_id": 42, "subject": "hi"} in seen

    # A Go client with a stale struct: the Python worker refuses it once, and Go's inspector says why.
    bad = go.enqueue("typed:deliver", payload_json={"user_id": "42"}, queue=queue, max_retry=25)
    archived = wait_for(
        lambda: (info := go.inspect("task", queue, bad["id"]))["state"] == "archived" and info,
        what="archived",
        timeout=15,
    )
    assert archived["retried"] == 0
    assert archived["last_err"] == (
        "invalid payload: task 'typed:deliver': argument 'user_id': Expected `int`, got `str`"
    )
    assert all(call["id"] != bad["id"] for call in seen)
    assert inspector.get_queue_info(queue).archived == 1


def _in_state(
    inspector: Inspector, queue: str, task_id: str, state: TaskState
) -> Callable[[], TaskInfo | None]:
    def check() -> TaskInfo | None:
        info = inspector.get_task_info(queue, task_id)
        return info if info.state is state else None

    return check


def test_python_enqueues_a_typed_task_that_the_go_worker_checks_and_runs(
    go: Go, real_redis_url: str, tmp_path: Path
) -> None:
    queue = unique_queue("typed-go")
    with Client(real_redis_url) as client, Inspector(real_redis_url) as inspector:
        with pytest.raises(ValidationError, match="argument 'user_id'"):
            client.enqueue(deliver.task(user_id="7"), queue=queue)
        assert queue not in inspector.queues()  # nothing was written
        good = client.enqueue(deliver.task(7, subject="yo"), queue=queue, retention=600)
        # What a Python client with a stale definition could send; the Go worker checks it too.
        bad = client.enqueue(Task("typed:deliver", {"user_id": 7, "extra": True}), queue=queue, max_retry=25)
        with go.server(tmp_path, queues={queue: 1}):
            done = wait_for(_in_state(inspector, queue, good.id, TaskState.COMPLETED), 15, "completed")
            archived = wait_for(_in_state(inspector, queue, bad.id, TaskState.ARCHIVED), 15, "archived")
    assert done.result == b"user_id=7 subject=yo"
    assert archived.retried == 0
    assert archived.last_error.startswith('invalid payload: json: unknown field "extra"')
