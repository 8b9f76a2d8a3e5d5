"""Inspector changes across languages: each side runs, archives, deletes and edits the other's
tasks and queues, and the other side sees the result (no servers involved)."""

from __future__ import annotations

import pytest
from helpers import unique_queue

from asynq_py.engine import (
    Client,
    DuplicateTaskError,
    Inspector,
    QueueNotEmptyError,
    QueueNotFoundError,
    Task,
    TaskNotFoundError,
    TaskStateError,
    ValidationError,
)

from .support import Go, b64, unb64

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]


def _states(inspector: Inspector, queue: str) -> dict[str, int]:
    info = inspector.get_queue_info(queue)
    return {
        "pending": info.pending,
        "scheduled": info.scheduled,
        "archived": info.archived,
        "aggregating": info.aggregating,
    }


def test_go_inspector_changes_python_tasks(go: Go, real_redis_url: str) -> None:
    q = unique_queue("go-admin")
    with Client(real_redis_url) as client, Inspector(real_redis_url) as inspector:
        scheduled = client.enqueue_in(3600, Task("s", b"1"), queue=q)
        pending = client.enqueue(Task("p", b"2"), queue=q, unique=600)
        grouped = [client.enqueue(Task("g", str(i)), queue=q, group="grp") for i in range(3)]

        assert go.inspect("run", q, scheduled.id) == {"ok": True}
        assert inspector.get_task_info(q, scheduled.id).state == "pending"
        assert go.inspect("archive", q, pending.id) == {"ok": True}
        assert inspector.get_task_info(q, pending.id).state == "archived"
        code, err = go.inspect_raw("archive", q, pending.id)
        assert code == 3, err
        assert "already archived" in err["error"], err
        assert go.inspect("run", q, grouped[0].id) == {"ok": True}
        assert [(g.group, g.size) for g in inspector.groups(q)] == [("grp", 2)]
        assert _states(inspector, q) == {"pending": 2, "scheduled": 0, "archived": 1, "aggregating": 2}

        assert go.inspect("archiveall", q, "aggregating", "grp") == {"count": 2}
        assert inspector.groups(q) == []
        assert go.inspect("runall", q, "archived") == {"count": 3}
        assert _states(inspector, q) == {"pending": 5, "scheduled": 0, "archived": 0, "aggregating": 0}
        # Still pending, so the unique lock taken by our client still holds...
        with pytest.raises(DuplicateTaskError):
            client.enqueue(Task("p", b"2"), queue=q, unique=600)
        # ...until Go deletes the owner, which reads the lock key from our hash.
        assert go.inspect("delete", q, pending.id) == {"ok": True}
        client.enqueue(Task("p", b"2"), queue=q, unique=600)
        with pytest.raises(TaskNotFoundError):
            inspector.get_task_info(q, pending.id)

        assert go.inspect("deleteall", q, "pending") == {"count": 5}
        code, err = go.inspect_raw("delete-queue", q)
        assert code == 0, err
        assert q not in inspector.queues()
        with pytest.raises(QueueNotFoundError):
            inspector.get_queue_info(q)


def test_python_inspector_changes_go_tasks(go: Go, real_redis_url: str) -> None:
    q = unique_queue("py-admin")
    scheduled = go.enqueue("s", b"old", queue=q, process_in_s=3600)
    pending = go.enqueue("p", b"2", queue=q, unique_s=600)
    grouped = [go.enqueue("g", str(i), queue=q, group="grp") for i in range(3)]
    with Inspector(real_redis_url) as inspector:
        inspector.update_task_payload(q, scheduled["id"], b"new \x00 payload")
        assert unb64(go.inspect("task", q, scheduled["id"])["payload_b64"]) == b"new \x00 payload"
        inspector.run_task(q, scheduled["id"])
        assert go.inspect("task", q, scheduled["id"])["state"] == "pending"
        with pytest.raises(TaskStateError):
            inspector.run_task(q, scheduled["id"])
        inspector.archive_task(q, pending["id"])
        assert go.inspect("task", q, pending["id"])["state"] == "archived"
        inspector.run_task(q, grouped[0]["id"])
        assert go.inspect("groups", q) == [{"Group": "grp", "Size": 2}]

        assert inspector.archive_all_aggregating_tasks(q, "grp") == 2
        assert go.inspect("groups", q) == []
        assert inspector.run_all_archived_tasks(q) == 3
        info = go.inspect("queue-info", q)
        assert (info["Pending"], info["Archived"], info["Aggregating"]) == (5, 0, 0)

        assert go.enqueue("p", b"2", queue=q, unique_s=600)["kind"] == "duplicate"
        inspector.delete_task(q, pending["id"])
        assert "error" not in go.enqueue("p", b"2", queue=q, unique_s=600)
        assert go.inspect_raw("task", q, pending["id"])[1]["kind"] == "task_not_found"

        with pytest.raises(QueueNotEmptyError):
            inspector.delete_queue(q)
        code, err = go.inspect_raw("delete-queue", q)
        assert code == 3, err
        assert err["kind"] == "queue_not_empty", err
        assert inspector.delete_all_pending_tasks(q) == 5
        inspector.delete_queue(q)
        assert q not in go.inspect("queues")
        code, err = go.inspect_raw("queue-info", q)
        assert code == 3, err
        assert err["kind"] == "queue_not_found", err


def test_scheduled_payload_update_keeps_go_fields(go: Go, real_redis_url: str) -> None:
    """update_task_payload rewrites the message; Go still reads every other field unchanged."""
    q = unique_queue("update")
    before = go.enqueue(
        "s",
        b"old",
        headers={"h": "v"},
        queue=q,
        process_in_s=3600,
        max_retry=4,
        retention_s=60,
        unique_s=3600,
    )
    with Inspector(real_redis_url) as inspector:
        inspector.update_task_payload(q, before["id"], b"new")
    after = go.inspect("task", q, before["id"])
    assert after.pop("payload_b64") == b64(b"new")
    before.pop("payload_b64")
    assert abs(after.pop("next_process_at_unix") - before.pop("next_process_at_unix")) < 1
    assert after == before


def test_queue_names_only_go_accepts_are_still_readable(go: Go, real_redis_url: str) -> None:
    """asynq-py's client refuses braces and control characters in queue names (a deliberate
    difference); its inspector still reads and manages such queues made by Go."""
    tag = unique_queue("names")
    names = [f"ünï cödé:{tag}", f"br{{ace}}{tag}", f"}}lead{tag}", f"tab\t{tag}"]
    with Client(real_redis_url) as client, Inspector(real_redis_url) as inspector:
        for q in names:
            reply = go.enqueue("t", b"x", queue=q)
            assert reply["state"] == "pending", reply
            assert q in inspector.queues()
            assert inspector.get_queue_info(q).pending == 1
            assert [t.id for t in inspector.list_pending_tasks(q)] == [reply["id"]]
            inspector.delete_task(q, reply["id"])
            inspector.delete_queue(q)
            assert q not in go.inspect("queues")
        client.enqueue(Task("t", b"x"), queue=names[0])
        for q in names[1:]:
            with pytest.raises(ValidationError):
                client.enqueue(Task("t", b"x"), queue=q)
