"""Task lifecycles that cross languages: asynq-py enqueues and inspects, Go asynq's server runs.

Retry then archive, results kept with retention, pause and unpause from either side, cancellation
of a running task, group aggregation, recovery of a task whose server was killed, and unique locks
that collide across the two clients.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from helpers import unique_queue, wait_for

from asynq_py.engine import (
    Client,
    DuplicateTaskError,
    Inspector,
    Task,
    TaskIdConflictError,
    TaskInfo,
    TaskNotFoundError,
    TaskStateError,
)
from asynq_py.engine.gojson import go_json_dumps

from .support import Go, assert_same_task, b64, task_json, unb64

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]


def _state_is(inspector: Inspector, queue: str, task_id: str, state: str):
    def check():
        info = inspector.get_task_info(queue, task_id)
        return info if info.state == state else None

    return check


def _same_as_go(go: Go, inspector: Inspector, queue: str, task_id: str) -> None:
    assert_same_task(task_json(inspector.get_task_info(queue, task_id)), go.inspect("task", queue, task_id))


def test_go_server_retries_then_archives_python_task(go: Go, real_redis_url: str, tmp_path: Path) -> None:
    q = unique_queue("retry")
    with Client(real_redis_url) as client, Inspector(real_redis_url) as inspector:
        failing = client.enqueue(Task("fail", b"x", headers={"h": "1"}), queue=q, max_retry=1)
        skipped = client.enqueue(Task("skip", b"s"), queue=q, max_retry=5)
        revoked = client.enqueue(Task("revoke", b"r"), queue=q, max_retry=5)
        with go.server(tmp_path, "-retry-delay", "2s", queues={q: 1}) as server:
            first_fail = server.wait_ledger(failing.id, "end")[1]
            assert first_fail["error"] == "boom"
            assert first_fail["retry_count"] == 0

            retry = wait_for(_state_is(inspector, q, failing.id, "retry"), timeout=10, what="retry state")
            assert retry.retried == 1
            assert retry.last_error == "boom"
            assert retry.last_failed_at is not None
            assert abs(retry.last_failed_at.timestamp() - first_fail["t"]) <= 1.5
            assert retry.next_process_at is not None
            assert 1 <= retry.next_process_at.timestamp() - retry.last_failed_at.timestamp() <= 3
            _same_as_go(go, inspector, q, failing.id)
            assert [t.id for t in inspector.list_retry_tasks(q)] == [failing.id]

            archived = wait_for(
                _state_is(inspector, q, failing.id, "archived"), timeout=15, what="archived state"
            )
            events = server.ledger(failing.id)
            assert [(e["event"], e["retry_count"]) for e in events] == [
                ("start", 0),
                ("end", 0),
                ("start", 1),
                ("end", 1),
            ]
            assert events[2]["headers"] == {"h": "1"}  # headers survive Go's retry re-encode
            assert archived.retried == 1  # archiving does not count a retry
            assert archived.last_error == "boom"
            assert archived.headers == {"h": "1"}
            _same_as_go(go, inspector, q, failing.id)

            # SkipRetry archives at once; RevokeTask drops the task.
            skip = wait_for(_state_is(inspector, q, skipped.id, "archived"), timeout=10, what="skip archived")
            assert skip.retried == 0
            assert skip.last_error == "boom: skip retry for the task"
            _same_as_go(go, inspector, q, skipped.id)
            server.wait_ledger(revoked.id, "end")
            wait_for(
                lambda: not any(t.id == revoked.id for t in inspector.list_active_tasks(q)),
                timeout=5,
                what="the revoked task to leave active",
            )
            with pytest.raises(TaskNotFoundError):
                inspector.get_task_info(q, revoked.id)

        archived_list = inspector.list_archived_tasks(q)
        assert sorted(t.id for t in archived_list) == sorted([failing.id, skipped.id])
        theirs = go.inspect("list", q, "archived")
        assert [t.id for t in archived_list] == [t["id"] for t in theirs]
        for ours, go_task in zip(map(task_json, archived_list), theirs, strict=True):
            assert_same_task(ours, go_task)
        # Failures: fail twice, skip once; processed also counts the revoked task.
        stats = inspector.get_queue_info(q)
        assert (stats.processed, stats.failed, stats.processed_total, stats.failed_total) == (4, 3, 4, 3)
        assert (stats.archived, stats.retry, stats.size) == (2, 0, 2)
        today = inspector.history(q, 1)[0]
        assert (today.processed, today.failed) == (4, 3)


def test_go_result_with_retention_read_by_python(go: Go, real_redis_url: str, tmp_path: Path) -> None:
    q = unique_queue("result")
    result_bytes = b"\x00answer\xff\n42"
    with Client(real_redis_url) as client, Inspector(real_redis_url) as inspector:
        ours_enqueued = client.enqueue(Task("result", result_bytes), queue=q, retention=600)
        go_enqueued = go.enqueue("result", b"from-go", queue=q, retention_s=120)
        with go.server(tmp_path, queues={q: 1}) as server:
            before = time.time()
            server.wait_ledger(ours_enqueued.id, "end")
            server.wait_ledger(go_enqueued["id"], "end")
            after = time.time()
        for task_id, payload, retention in (
            (ours_enqueued.id, result_bytes, 600),
            (go_enqueued["id"], b"from-go", 120),
        ):
            info = wait_for(_state_is(inspector, q, task_id, "completed"), timeout=5, what="completed")
            assert info.result == payload
            assert info.retention == timedelta(seconds=retention)
            assert info.completed_at is not None
            assert int(before) - 1 <= info.completed_at.timestamp() <= after + 1
            assert info.next_process_at is None
            _same_as_go(go, inspector, q, task_id)
        completed = inspector.list_completed_tasks(q)
        # Sorted by expiry: the shorter retention first.
        assert [t.id for t in completed] == [go_enqueued["id"], ours_enqueued.id]
        theirs = go.inspect("list", q, "completed")
        for a, b in zip(map(task_json, completed), theirs, strict=True):
            assert_same_task(a, b)
        assert unb64(theirs[1]["result_b64"]) == result_bytes
        # The completed zset is scored by expiry: completed_at + retention.
        r = redis.Redis.from_url(real_redis_url, socket_timeout=5)
        try:
            score = r.zscore(f"asynq:{{{q}}}:completed", ours_enqueued.id)
        finally:
            r.close()
        assert score == completed[1].completed_at.timestamp() + 600


def test_pause_and_unpause_seen_across_languages(go: Go, real_redis_url: str, tmp_path: Path) -> None:
    q = unique_queue("pause")
    with Client(real_redis_url) as client, Inspector(real_redis_url) as inspector:
        task = client.enqueue(Task("ok", b"wait"), queue=q)

        inspector.pause_queue(q)
        assert go.inspect("queue-info", q)["Paused"] is True
        code, err = go.inspect_raw("pause", q)
        assert code == 3, err
        assert "already paused" in err["error"], err

        # Go's server honours a pause set by asynq-py.
        with go.server(tmp_path, queues={q: 1}) as server:
            time.sleep(1.5)
            assert server.ledger() == []
            assert inspector.get_task_info(q, task.id).state == "pending"

            assert go.inspect("unpause", q) == {"ok": True}
            assert inspector.get_queue_info(q).paused is False
            server.wait_ledger(task.id, "end")

        assert go.inspect("pause", q) == {"ok": True}
        assert inspector.get_queue_info(q).paused is True
        with pytest.raises(TaskStateError):
            inspector.pause_queue(q)
        inspector.unpause_queue(q)
        assert go.inspect("queue-info", q)["Paused"] is False
        code, err = go.inspect_raw("unpause", q)
        assert code == 3, err
        assert "not paused" in err["error"], err
        with pytest.raises(TaskStateError):
            inspector.unpause_queue(q)


def test_python_cancels_task_running_on_go_server(go: Go, real_redis_url: str, tmp_path: Path) -> None:
    q = unique_queue("cancel")
    with Client(real_redis_url) as client, Inspector(real_redis_url) as inspector:
        task = client.enqueue(Task("sleep", b"30000"), queue=q, max_retry=0)
        with go.server(tmp_path, queues={q: 1}) as server:
            server.wait_ledger(task.id, "start")
            active = wait_for(lambda: inspector.list_active_tasks(q), timeout=5, what="an active task")
            assert [t.id for t in active] == [task.id]
            assert active[0].is_orphaned is False
            assert_same_task(task_json(active[0]), go.inspect("list", q, "active")[0])

            def cancelled():
                # Publish until the handler sees it: best effort, like Go's own CancelProcessing.
                inspector.cancel_processing(task.id)
                return [e for e in server.ledger(task.id) if e["event"] == "end"]

            end = wait_for(cancelled, timeout=10, interval=0.5, what="the handler to be cancelled")
            assert end[0]["error"] == "context canceled"
            archived = wait_for(_state_is(inspector, q, task.id, "archived"), timeout=5, what="archived")
            assert archived.last_error == "context canceled"
            _same_as_go(go, inspector, q, task.id)


def test_go_server_aggregates_python_grouped_tasks(go: Go, real_redis_url: str, tmp_path: Path) -> None:
    q = unique_queue("group")
    with Client(real_redis_url) as client, Inspector(real_redis_url) as inspector:
        in_g = [client.enqueue(Task("item", p), queue=q, group="g") for p in ("a", "b", "c")]
        # Group h goes in through enqueue_many's one multi-task script call.
        in_h = [
            info
            for info in client.enqueue_many(
                [Task("item", "u1", unique=60), Task("item", "u2", headers={"k": "v"})], queue=q, group="h"
            )
            if isinstance(info, TaskInfo)
        ]
        assert len(in_h) == 2
        theirs = go.inspect("groups", q)
        assert theirs == [{"Group": "g", "Size": 3}, {"Group": "h", "Size": 2}]
        assert [(g.group, g.size) for g in inspector.groups(q)] == [("g", 3), ("h", 2)]
        assert inspector.get_queue_info(q).aggregating == go.inspect("queue-info", q)["Aggregating"] == 5

        with go.server(tmp_path, "-group-grace", "1s", queues={q: 1}) as server:

            def aggregated():
                ends = [e for e in server.ledger() if e["type"] == "aggregated" and e["event"] == "end"]
                return ends if len(ends) == 2 else None

            ends = wait_for(aggregated, timeout=20, what="two aggregated tasks")
        payloads = sorted(sorted(unb64(e["payload_b64"]).decode().split(",")) for e in ends)
        assert payloads == [["a", "b", "c"], ["u1", "u2"]]
        assert all(e["queue"] == q and e["error"] is None for e in ends)
        # The grouped tasks themselves never reach a handler; their hashes are gone.
        assert not any(e["id"] in {t.id for t in in_g + in_h} for e in server.ledger())
        for t in in_g + in_h:
            with pytest.raises(TaskNotFoundError):
                inspector.get_task_info(q, t.id)
        assert inspector.groups(q) == []
        assert go.inspect("groups", q) == []
        assert inspector.get_queue_info(q).aggregating == 0


def test_go_recovers_python_task_of_killed_go_server(go: Go, real_redis_url: str, tmp_path: Path) -> None:
    """A server dies mid-task; the task's lease runs out; another server's recoverer retries it.

    Waiting 30 s for the lease is too slow for the suite, so the test moves the lease's expiry
    into the past, which is exactly what the passing of time would do.
    """
    q = unique_queue("recover")
    with Client(real_redis_url) as client, Inspector(real_redis_url) as inspector:
        task = client.enqueue(Task("sleep", b"60000", headers={"h": "v"}), queue=q, max_retry=3)
        with go.server(tmp_path / "a", queues={q: 1}) as doomed:
            doomed.wait_ledger(task.id, "start")
            doomed.kill()

        active = inspector.list_active_tasks(q)
        assert [t.id for t in active] == [task.id]
        assert active[0].is_orphaned is False
        r = redis.Redis.from_url(real_redis_url, socket_timeout=5)
        try:
            r.zadd(f"asynq:{{{q}}}:lease", {task.id: int(time.time()) - 60})
        finally:
            r.close()
        orphaned = inspector.list_active_tasks(q)
        assert orphaned[0].is_orphaned is True
        assert_same_task(task_json(orphaned[0]), go.inspect("list", q, "active")[0])

        with go.server(tmp_path / "b", "-retry-delay", "2s", queues={q: 1}) as rescuer:
            retry = wait_for(_state_is(inspector, q, task.id, "retry"), timeout=10, what="recovered to retry")
            assert retry.retried == 1
            assert retry.last_error == "asynq: task lease expired"
            assert retry.headers == {"h": "v"}
            _same_as_go(go, inspector, q, task.id)
            start = rescuer.wait_ledger(task.id, "start")[0]
            assert start["retry_count"] == 1
            assert start["headers"] == {"h": "v"}
        # Shut down mid-task: Go requeues it as pending.
        assert inspector.get_task_info(q, task.id).state == "pending"


RICH_PAYLOAD = {
    "a": 1,
    "b": [1, 2],
    "html": "<b>&amp;</b>",
    "text": "ü€😀 \u2028 line\nbreak\ttab \x01",
    "floats": [1.5, 0.1, 1e-7, 1e21, 123456789.0, -0.0, 2.5e-300],
    "nested": {"z": None, "y": True, "x": False, "é": "accent-key", "A": "upper"},
    "empty": {},
    "list": [],
}


def test_unique_locks_collide_across_languages(go: Go, real_redis_url: str) -> None:
    q1, q2, q3 = unique_queue("uniq-py-first"), unique_queue("uniq-go-first"), unique_queue("uniq-more")
    simple = {"a": 1, "b": [1, 2]}
    with Client(real_redis_url) as client, Inspector(real_redis_url) as inspector:
        # Go's json.Marshal makes the bytes our dict encoder makes.
        for value in (simple, RICH_PAYLOAD):
            reply = go.enqueue("probe", payload_json=json.loads(json.dumps(value)), queue=q3)
            assert unb64(reply["payload_b64"]) == go_json_dumps(value)
            assert bytes(Task("probe", value).payload) == go_json_dumps(value)

        # asynq-py first, then Go: duplicate.
        client.enqueue(Task("t", simple), queue=q1, unique=60)
        reply = go.enqueue("t", payload_json=simple, queue=q1, unique_s=60)
        assert reply["kind"] == "duplicate", reply
        client.enqueue(Task("t", RICH_PAYLOAD), queue=q1, unique=60)
        reply = go.enqueue("t", payload_json=json.loads(json.dumps(RICH_PAYLOAD)), queue=q1, unique_s=60)
        assert reply["kind"] == "duplicate", reply

        # Go first, then asynq-py: DuplicateTaskError, for now, in and group tasks alike.
        assert "error" not in go.enqueue("t", payload_json=simple, queue=q2, unique_s=60)
        with pytest.raises(DuplicateTaskError):
            client.enqueue(Task("t", simple), queue=q2, unique=60)
        with pytest.raises(DuplicateTaskError):
            client.enqueue_in(30, Task("t", simple), queue=q2, unique=60)
        with pytest.raises(DuplicateTaskError):
            client.enqueue(Task("t", simple), queue=q2, unique=60, group="g")

        # Scheduled and grouped unique tasks, and the nil payload, collide the other way too.
        client.enqueue_in(30, Task("later", {"n": 1}), queue=q1, unique=60)
        assert go.enqueue("later", payload_json={"n": 1}, queue=q1, unique_s=60, process_in_s=30)["kind"] == (
            "duplicate"
        )
        client.enqueue(Task("grouped", b"g"), queue=q1, unique=60, group="g")
        assert go.enqueue("grouped", b"g", queue=q1, unique_s=60, group="g")["kind"] == "duplicate"
        client.enqueue(Task("nil"), queue=q1, unique=60)
        assert go.enqueue("nil", queue=q1, unique_s=60)["kind"] == "duplicate"
        # An empty payload is not the nil payload (Go hashes "" but not nil).
        assert "error" not in go.enqueue("nil", b"", queue=q1, unique_s=60)
        with pytest.raises(DuplicateTaskError):
            client.enqueue(Task("nil", b""), queue=q1, unique=60)

        # Task ids conflict across languages.
        task_id = f"fixed-{uuid.uuid4()}"
        client.enqueue(Task("x"), queue=q1, task_id=task_id)
        assert go.enqueue("x", queue=q1, task_id=task_id)["kind"] == "conflict"
        go_id = f"fixed-{uuid.uuid4()}"
        assert "error" not in go.enqueue("x", queue=q1, task_id=go_id)
        with pytest.raises(TaskIdConflictError):
            client.enqueue(Task("x"), queue=q1, task_id=go_id)

        # Deleting the lock owner releases the lock, whichever side wrote the task.
        owner = next(
            t
            for t in inspector.list_pending_tasks(q1)
            if t.type == "t" and t.payload == go_json_dumps(simple)
        )
        assert go.inspect("delete", q1, owner.id) == {"ok": True}
        assert "error" not in go.enqueue("t", payload_json=simple, queue=q1, unique_s=60)
        go_owner = next(t for t in inspector.list_pending_tasks(q2) if t.type == "t")
        inspector.delete_task(q2, go_owner.id)
        client.enqueue(Task("t", simple), queue=q2, unique=60)


def test_python_reads_go_enqueued_payload_bytes(go: Go, real_redis_url: str) -> None:
    """A Go JSON payload comes back to Python as the same bytes, and its getters work on it."""
    q = unique_queue("payload")
    reply = go.enqueue("p", payload_json={"name": "ü", "n": 3, "when": "2024-01-02T03:04:05Z"}, queue=q)
    with Inspector(real_redis_url) as inspector:
        info = inspector.get_task_info(q, reply["id"])
    assert b64(bytes(info.payload)) == reply["payload_b64"]
    assert info.payload.get_string("name") == "ü"
    assert info.payload.get_int("n") == 3
    assert info.payload.get_time("when") == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
