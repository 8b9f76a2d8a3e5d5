"""asynqmon (Go asynq's web UI, built from its module at the version pinned in go.mod) reads the
state asynq-py produced: its JSON API agrees with our Inspector on queues, tasks per state,
groups and servers, with flow-control limits set on the queue."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import unique_queue, wait_for

from asynq_py.engine import Client, Inspector, Server, ServerConfig, Task

from .support import Go

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]


@pytest.fixture
def asynqmon(go: Go, tmp_path: Path) -> Iterator[str]:
    out = tmp_path / "asynqmon.out"
    with out.open("wb") as stdout:
        proc = subprocess.Popen(
            [str(go.tools["asynqmon"]), "-redis", go.redis_url, "-listen", "127.0.0.1:0"],
            stdout=stdout,
            stderr=subprocess.DEVNULL,
        )
    try:
        line = wait_for(lambda: out.read_text().strip(), timeout=15, what="asynqmon to listen")
        yield f"http://{json.loads(line.splitlines()[0])['listening']}/api"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def test_asynqmon_api_agrees_with_the_inspector(asynqmon: str, real_redis_url: str) -> None:
    queue = unique_queue("asynqmon")
    mux_calls: list[str] = []

    def handler(ctx: Any, task: Task) -> bytes:
        mux_calls.append(task.type)
        if task.type == "fail":
            raise RuntimeError("boom")
        return b"done"

    config = ServerConfig(queues={queue: 1}, concurrency=2, task_check_interval_s=0.1,
                          retry_delay_func=lambda n, e, t: 3600.0)  # fmt: skip
    server = Server(real_redis_url, config)
    with Client(real_redis_url) as client, Inspector(real_redis_url) as inspector:
        client.enqueue(Task("fail", b"x"), queue=queue, max_retry=3)
        client.enqueue(Task("ok", b"y"), queue=queue, retention=3600)
        server.start(handler)
        try:
            settled = lambda: (i := inspector.get_queue_info(queue)).retry == 1 and i.completed == 1  # noqa: E731
            wait_for(settled, timeout=20, what="a retry and a completed task")
            inspector.pause_queue(queue)  # the rest stays where asynq-py put it
            # flow-control limits and their keys (asynq-py only) must not change what asynqmon shows
            inspector.set_queue_limits(queue, concurrency=2, rate="100/m")
            inspector.set_queue_limits(queue, task_type="later", concurrency=1)
            for i in range(2):
                client.enqueue(Task("later", {"i": i}), queue=queue)
            client.enqueue_in(3600, Task("scheduled"), queue=queue)
            for i in range(3):
                client.enqueue(Task("grouped", {"i": i}), queue=queue, group="g1")
            inspector.archive_task(queue, client.enqueue(Task("dead"), queue=queue).id)

            queues = {q["queue"]: q for q in get(f"{asynqmon}/queues")["queues"]}
            ours = inspector.get_queue_info(queue)
            theirs = queues[queue]
            assert (theirs["size"], theirs["groups"], theirs["paused"]) == (ours.size, ours.groups, True)
            for state in ("active", "pending", "aggregating", "scheduled", "retry", "archived", "completed"):
                assert theirs[state] == getattr(ours, state), state
            assert (theirs["processed"], theirs["failed"]) == (ours.processed, ours.failed) == (2, 1)
            assert theirs["memory_usage_bytes"] == ours.memory_usage

            for state, listing in (
                ("pending", inspector.list_pending_tasks),
                ("scheduled", inspector.list_scheduled_tasks),
                ("retry", inspector.list_retry_tasks),
                ("archived", inspector.list_archived_tasks),
                ("completed", inspector.list_completed_tasks),
            ):
                api = get(f"{asynqmon}/queues/{queue}/{state}_tasks?page=1&page_size=20")
                expected = listing(queue)
                assert [
                    (t["id"], t["type"], t["max_retry"], t["retried"], t["error_message"])
                    for t in api["tasks"]
                ] == [(t.id, t.type, t.max_retry, t.retried, t.last_error) for t in expected], state
                assert api["stats"]["size"] == ours.size
            groups = get(f"{asynqmon}/queues/{queue}/groups")["groups"]
            assert [(g["group"], g["size"]) for g in groups] == [
                (g.group, g.size) for g in inspector.groups(queue)
            ]
            grouped = get(f"{asynqmon}/queues/{queue}/groups/g1/aggregating_tasks?page=1&page_size=20")[
                "tasks"
            ]
            assert [t["id"] for t in grouped] == [t.id for t in inspector.list_aggregating_tasks(queue, "g1")]
            servers = {s["id"]: s for s in get(f"{asynqmon}/servers")["servers"]}
            mine = servers[server.identity.server_id]
            assert (mine["host"], mine["pid"], mine["concurrency"]) == (
                server.identity.host,
                server.identity.pid,
                2,
            )
            assert (mine["queue_priorities"], mine["status"]) == ({queue: 1}, "active")
        finally:
            server.shutdown()
    assert sorted(mux_calls) == ["fail", "ok"]
