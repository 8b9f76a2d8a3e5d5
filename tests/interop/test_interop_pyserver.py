"""asynq-py's Server among Go asynq: it runs tasks Go enqueued, Go's inspector watches and steers
it, and each language's server recovers the tasks of the other's killed server.

The Server runs in a subprocess (pyserver.py, goserver's twin with the same handlers and ledger)
so that it can be killed mid-task like a real process.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from helpers import unique_queue, wait_for

from asynq_py.engine import Client, Inspector, Task, TaskNotFoundError

from .support import (
    Go,
    assert_close_times,
    assert_same_task,
    b64,
    py_server,
    server_json,
    task_json,
    unb64,
)

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]


def _go_state(go: Go, queue: str, task_id: str, state: str):
    def check():
        code, info = go.inspect_raw("task", queue, task_id)
        assert code == 0, info
        return info if info["state"] == state else None

    return check


def _same_as_go(go: Go, inspector: Inspector, queue: str, task_id: str) -> None:
    assert_same_task(task_json(inspector.get_task_info(queue, task_id)), go.inspect("task", queue, task_id))


def _expire_lease(redis_url: str, queue: str, task_id: str) -> None:
    """Move a lease's expiry 60 s into the past: what waiting out a dead server's lease does."""
    r = redis.Redis.from_url(redis_url, socket_timeout=5)
    try:
        assert r.zadd(f"asynq:{{{queue}}}:lease", {task_id: int(time.time()) - 60}, xx=True, ch=True) == 1
    finally:
        r.close()


def test_python_server_processes_go_enqueued_tasks(go: Go, real_redis_url: str, tmp_path: Path) -> None:
    q = unique_queue("go-to-pyserver")
    now = time.time()
    replies = go.enqueue_many(
        [
            {"type": "ok", "payload_b64": b64("now"), "headers": {"trace": "abc"},
             "opts": {"queue": q, "max_retry": 4}},
            {"type": "ok", "payload_b64": b64("in"), "opts": {"queue": q, "process_in_s": 1}},
            {"type": "ok", "payload_b64": b64("at"), "headers": {"x": "y"},
             "opts": {"queue": q, "process_at_unix": now + 1}},
            {"type": "ok", "opts": {"queue": q, "max_retry": 0}},
            {"type": "ok", "payload_b64": b64("once"), "opts": {"queue": q, "unique_s": 300}},
            {"type": "result", "payload_b64": b64(b"\x00res\xff"), "opts": {"queue": q, "retention_s": 600}},
        ]
    )  # fmt: skip
    assert all("error" not in r for r in replies), replies
    with py_server(real_redis_url, tmp_path, queues={q: 1}) as server, Inspector(real_redis_url) as inspector:
        for reply in replies:
            start, end = server.wait_ledger(reply["id"], "end")
            assert start["type"] == reply["type"]
            assert start["queue"] == q
            assert start["payload_b64"] == reply["payload_b64"]
            assert start["headers"] == reply["headers"]
            assert start["retry_count"] == 0
            assert start["max_retry"] == reply["max_retry"]
            assert end["error"] is None
        # Not before the second the score holds (Go truncates process-at times to whole seconds).
        assert server.ledger(replies[1]["id"])[0]["t"] >= int(replies[1]["next_process_at_unix"])
        assert server.ledger(replies[2]["id"])[0]["t"] >= int(now + 1)

        kept = wait_for(_go_state(go, q, replies[5]["id"], "completed"), timeout=10, what="completed")
        assert unb64(kept["result_b64"]) == b"\x00res\xff"
        assert kept["retention_s"] == 600
        assert int(now) - 1 <= kept["completed_at_unix"] <= time.time() + 1
        _same_as_go(go, inspector, q, replies[5]["id"])
        for reply in replies[:5]:
            code, err = go.inspect_raw("task", q, reply["id"])
            assert code == 3, err
            assert err["kind"] == "task_not_found", err

        # Our done released the lock Go's client took.
        again = go.enqueue("ok", b"once", queue=q, unique_s=300)
        assert "error" not in again, again
        server.wait_ledger(again["id"], "end")

    info = go.inspect("queue-info", q)
    assert (info["Processed"], info["Failed"], info["ProcessedTotal"]) == (7, 0, 7)
    assert (info["Completed"], info["Size"]) == (1, 1)


def test_python_server_retries_then_archives_go_task(go: Go, real_redis_url: str, tmp_path: Path) -> None:
    q = unique_queue("pyserver-retry")
    failing = go.enqueue("fail", b"x", headers={"h": "1"}, queue=q, max_retry=1)
    skipped = go.enqueue("skip", b"s", queue=q, max_retry=5)
    revoked = go.enqueue("revoke", b"r", queue=q, max_retry=5)
    with (
        py_server(real_redis_url, tmp_path, "-retry-delay", "2", queues={q: 1}) as server,
        Inspector(real_redis_url) as inspector,
    ):
        server.wait_ledger(failing["id"], "end")
        retry = wait_for(_go_state(go, q, failing["id"], "retry"), timeout=10, what="retry state")
        assert retry["retried"] == 1
        assert retry["last_err"] == "boom"
        assert retry["last_failed_at_unix"] is not None
        assert 1 <= retry["next_process_at_unix"] - retry["last_failed_at_unix"] <= 3
        _same_as_go(go, inspector, q, failing["id"])

        archived = wait_for(_go_state(go, q, failing["id"], "archived"), timeout=15, what="archived state")
        events = server.ledger(failing["id"])
        assert [(e["event"], e["retry_count"]) for e in events] == [
            ("start", 0),
            ("end", 0),
            ("start", 1),
            ("end", 1),
        ]
        assert archived["retried"] == 1
        assert archived["last_err"] == "boom"
        assert archived["headers"] == {"h": "1"}
        _same_as_go(go, inspector, q, failing["id"])

        skip = wait_for(_go_state(go, q, skipped["id"], "archived"), timeout=10, what="skip archived")
        assert skip["retried"] == 0
        assert skip["last_err"] == "boom: skip retry for the task"
        server.wait_ledger(revoked["id"], "end")
        wait_for(
            lambda: go.inspect_raw("task", q, revoked["id"])[0] == 3, timeout=5, what="the revoked task to go"
        )
        with pytest.raises(TaskNotFoundError):
            inspector.get_task_info(q, revoked["id"])

    info = go.inspect("queue-info", q)
    assert (info["Processed"], info["Failed"], info["ProcessedTotal"], info["FailedTotal"]) == (4, 3, 4, 3)
    assert (info["Archived"], info["Retry"], info["Size"]) == (2, 0, 2)
    assert go.inspect("history", q, "1")[0]["Processed"] == 4


def test_go_pause_honoured_by_python_server(go: Go, real_redis_url: str, tmp_path: Path) -> None:
    q = unique_queue("pyserver-pause")
    assert go.inspect("pause", q) == {"ok": True}
    task = go.enqueue("ok", b"wait", queue=q)
    with py_server(real_redis_url, tmp_path, queues={q: 1}) as server:
        time.sleep(1.5)
        assert server.ledger() == []
        assert go.inspect("task", q, task["id"])["state"] == "pending"
        assert go.inspect("unpause", q) == {"ok": True}
        server.wait_ledger(task["id"], "end")


def test_go_cancels_task_running_on_python_server(go: Go, real_redis_url: str, tmp_path: Path) -> None:
    q = unique_queue("pyserver-cancel")
    task = go.enqueue("sleep", b"30000", queue=q, max_retry=0)
    with py_server(real_redis_url, tmp_path, queues={q: 1}) as server, Inspector(real_redis_url) as inspector:
        server.wait_ledger(task["id"], "start")
        active = wait_for(lambda: go.inspect("list", q, "active"), timeout=5, what="an active task")
        assert [t["id"] for t in active] == [task["id"]]
        assert active[0]["is_orphaned"] is False
        assert_same_task(task_json(inspector.list_active_tasks(q)[0]), active[0])

        def cancelled():
            assert go.inspect("cancel", task["id"]) == {"ok": True}
            return [e for e in server.ledger(task["id"]) if e["event"] == "end"]

        end = wait_for(cancelled, timeout=10, interval=0.5, what="the handler to be cancelled")
        assert end[0]["error"] == "context canceled"
        archived = wait_for(_go_state(go, q, task["id"], "archived"), timeout=5, what="archived")
        assert archived["last_err"] == "context canceled"
        _same_as_go(go, inspector, q, task["id"])


def test_python_server_aggregates_go_grouped_tasks(go: Go, real_redis_url: str, tmp_path: Path) -> None:
    q = unique_queue("pyserver-group")
    members = go.enqueue_many(
        [{"type": "item", "payload_b64": b64(p), "opts": {"queue": q, "group": "g"}} for p in ("a", "b", "c")]
        + [
            {"type": "item", "payload_b64": b64("u1"), "opts": {"queue": q, "group": "h", "unique_s": 60}},
            {
                "type": "item",
                "payload_b64": b64("u2"),
                "headers": {"k": "v"},
                "opts": {"queue": q, "group": "h"},
            },
        ]
    )
    assert all(m["state"] == "aggregating" for m in members), members
    with py_server(real_redis_url, tmp_path, "-group-grace", "1", queues={q: 1}) as server:

        def aggregated():
            ends = [e for e in server.ledger() if e["type"] == "aggregated" and e["event"] == "end"]
            return ends if len(ends) == 2 else None

        ends = wait_for(aggregated, timeout=20, what="two aggregated tasks")
    payloads = sorted(sorted(unb64(e["payload_b64"]).decode().split(",")) for e in ends)
    assert payloads == [["a", "b", "c"], ["u1", "u2"]]
    assert all(e["queue"] == q and e["error"] is None for e in ends)
    assert go.inspect("groups", q) == []
    for m in members:
        assert go.inspect_raw("task", q, m["id"])[1]["kind"] == "task_not_found"


def test_go_recovers_task_of_killed_python_server(go: Go, real_redis_url: str, tmp_path: Path) -> None:
    q = unique_queue("py-killed")
    task = go.enqueue("sleep", b"60000", headers={"h": "v"}, queue=q, max_retry=3)
    with py_server(real_redis_url, tmp_path / "py", queues={q: 1}) as doomed:
        doomed.wait_ledger(task["id"], "start")
        doomed.kill()
    active = go.inspect("list", q, "active")
    assert [t["id"] for t in active] == [task["id"]]
    _expire_lease(real_redis_url, q, task["id"])
    assert go.inspect("list", q, "active")[0]["is_orphaned"] is True

    with go.server(tmp_path / "go", "-retry-delay", "2s", queues={q: 1}) as rescuer:
        retry = wait_for(_go_state(go, q, task["id"], "retry"), timeout=10, what="recovered to retry")
        assert retry["retried"] == 1
        assert retry["last_err"] == "asynq: task lease expired"
        start = rescuer.wait_ledger(task["id"], "start")[0]
        assert start["retry_count"] == 1
        assert start["headers"] == {"h": "v"}


def test_python_recovers_task_of_killed_go_server(go: Go, real_redis_url: str, tmp_path: Path) -> None:
    q = unique_queue("go-killed")
    task = go.enqueue("sleep", b"60000", headers={"h": "v"}, queue=q, max_retry=3)
    with go.server(tmp_path / "go", queues={q: 1}) as doomed:
        doomed.wait_ledger(task["id"], "start")
        doomed.kill()
    _expire_lease(real_redis_url, q, task["id"])

    with (
        py_server(real_redis_url, tmp_path / "py", "-retry-delay", "2", queues={q: 1}) as rescuer,
        Inspector(real_redis_url) as inspector,
    ):
        retry = wait_for(_go_state(go, q, task["id"], "retry"), timeout=10, what="recovered to retry")
        assert retry["retried"] == 1
        assert retry["last_err"] == "asynq: task lease expired"
        _same_as_go(go, inspector, q, task["id"])
        start = rescuer.wait_ledger(task["id"], "start")[0]
        assert start["retry_count"] == 1
        assert start["headers"] == {"h": "v"}
    # Shut down mid-task: requeued as pending, as Go's server does.
    assert go.inspect("task", q, task["id"])["state"] == "pending"


def _find_server(servers: list[dict[str, Any]], pid: int) -> dict[str, Any]:
    found = [s for s in servers if s["PID"] == pid]
    assert len(found) == 1, servers
    return found[0]


def test_python_server_heartbeat_read_by_go(go: Go, real_redis_url: str, tmp_path: Path) -> None:
    q, other = unique_queue("py-heartbeat"), unique_queue("py-heartbeat-low")
    task = go.enqueue("sleep", b"30000", queue=q, timeout_s=600)
    with (
        py_server(real_redis_url, tmp_path, "-concurrency", "3", queues={q: 5, other: 1}) as server,
        Inspector(real_redis_url) as inspector,
    ):
        start = server.wait_ledger(task["id"], "start")[0]
        server_id = next(
            line["server_id"] for line in server.stdout_lines() if line.get("event") == "started"
        )

        def beat_with_worker():
            theirs = [s for s in go.inspect("servers") if s["ID"] == server_id]
            return theirs if theirs and theirs[0]["ActiveWorkers"] else None

        theirs = wait_for(beat_with_worker, timeout=12, interval=0.3, what="a heartbeat with the worker")[0]
        assert theirs["PID"] == server.pid
        assert theirs["Concurrency"] == 3
        assert theirs["Queues"] == {q: 5, other: 1}
        assert theirs["StrictPriority"] is False
        assert theirs["Status"] == "active"
        worker = theirs["ActiveWorkers"][0]
        assert (worker["TaskID"], worker["TaskType"], worker["Queue"]) == (task["id"], "sleep", q)
        assert unb64(worker["TaskPayload"]) == b"30000"
        assert abs(worker["Started"] - start["t"]) < 1
        assert abs(worker["Deadline"] - (worker["Started"] + 600)) < 1

        ours = _find_server([server_json(s) for s in inspector.servers()], server.pid)
        theirs = _find_server(go.inspect("servers"), server.pid)
        for a, b in zip(ours["ActiveWorkers"], theirs["ActiveWorkers"], strict=True):
            assert_close_times(a, b, ("Started", "Deadline"))
        assert_close_times(ours, theirs, ("Started",))
        assert ours == theirs

        listing = go.cli("server", "ls")
        row = next(line for line in listing.splitlines() if re.search(rf"\b{server.pid}\b", line))
        assert "active" in row, listing
        assert "1/3" in row, listing
        assert f"{q}:5" in row, listing
        assert f"{other}:1" in row, listing
    # Shut down: the heartbeat is cleared, the running task requeued.
    assert not any(s["ID"] == server_id for s in go.inspect("servers"))
    assert go.inspect("task", q, task["id"])["state"] == "pending"


def test_go_and_python_servers_share_a_queue(go: Go, real_redis_url: str, tmp_path: Path) -> None:
    """A mixed fleet: both servers consume one queue; every task runs exactly once."""
    q = unique_queue("mixed-fleet")
    requests = [{"type": "sleep", "payload_b64": b64("100"), "opts": {"queue": q}} for _ in range(30)]
    with (
        go.server(tmp_path / "go", "-concurrency", "2", queues={q: 1}) as go_srv,
        py_server(real_redis_url, tmp_path / "py", "-concurrency", "2", queues={q: 1}) as py_srv,
    ):
        # Both are up before any task exists, so both get a share (4 slots, 30 tasks of 100 ms).
        ids = [r["id"] for r in go.enqueue_many(requests)]

        def all_done():
            ends = [e for s in (go_srv, py_srv) for e in s.ledger() if e["event"] == "end"]
            return ends if len(ends) >= len(ids) else None

        ends = wait_for(all_done, timeout=30, what="every task to run")
        time.sleep(0.3)  # would a task run twice, its second run would show up by now
        ends = [e for s in (go_srv, py_srv) for e in s.ledger() if e["event"] == "end"]
    assert sorted(e["id"] for e in ends) == sorted(ids)
    assert {e["pid"] for e in ends} == {go_srv.pid, py_srv.pid}, "both servers should have taken tasks"
    info = go.inspect("queue-info", q)
    assert (info["Processed"], info["Size"]) == (len(ids), 0)


@pytest.mark.parametrize("kind", ["go", "py"])
def test_deadline_exceeded_and_lease_on_either_server(
    kind: str, go: Go, real_redis_url: str, tmp_path: Path
) -> None:
    """A task over its timeout fails the same way on both servers; leases are Unix seconds."""
    q = unique_queue(f"deadline-{kind}")
    with Client(real_redis_url) as client:
        slow = client.enqueue(Task("sleep", b"5000"), queue=q, timeout=1, max_retry=0)
        held = client.enqueue(Task("sleep", b"20000"), queue=q, max_retry=0)
    servers = (
        go.server(tmp_path, queues={q: 1})
        if kind == "go"
        else py_server(real_redis_url, tmp_path, queues={q: 1})
    )
    with servers as server:
        server.wait_ledger(held.id, "start")
        r = redis.Redis.from_url(real_redis_url, socket_timeout=5)
        try:
            lease = r.zscore(f"asynq:{{{q}}}:lease", held.id)
        finally:
            r.close()
        assert lease is not None
        assert lease == int(lease)
        assert time.time() + 20 <= lease <= time.time() + 31
        archived = wait_for(_go_state(go, q, slow.id, "archived"), timeout=10, what="archived")
        assert archived["last_err"] == "context deadline exceeded"
        end = server.wait_ledger(slow.id, "end")[1]
        assert end["t"] - server.ledger(slow.id)[0]["t"] < 2.5
