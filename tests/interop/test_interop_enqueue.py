"""Enqueueing across languages: tasks written by asynq-py read by Go asynq, and the reverse.

Every enqueue option is covered (max retry, timeout, deadline, unique, task id, retention, group,
headers, process at/in). Three views are compared: each inspector's reading of the other's tasks,
the raw Redis records the two clients write for the same task, and Go's server running tasks that
asynq-py enqueued.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from helpers import unique_queue, wait_for

from asynq_py.engine import Client, Inspector, Task, TaskInfo, TaskNotFoundError
from asynq_py.engine.wire import decode_task_message

from .support import Go, assert_same_task, b64, task_json

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]


def _go_tasks(go: Go, queue: str, state: str, group: str | None = None) -> Any:
    return go.inspect("list", queue, state, *([group] if group else []))


def test_python_enqueued_tasks_read_identically_by_go(go: Go, real_redis_url: str) -> None:
    q = unique_queue("py-enq")
    now = int(time.time())
    deadline = datetime.fromtimestamp(now + 3600, UTC)
    with Client(real_redis_url) as client, Inspector(real_redis_url) as inspector:
        enqueued = [
            # now, every option a pending task can carry
            client.enqueue(
                Task("email:send", {"to": "a@example.com", "n": 1}, headers={"trace": "t-1", "lang": "ü"}),
                queue=q,
                max_retry=7,
                timeout=90,
                deadline=deadline,
                unique=120,
                task_id=f"task-{uuid.uuid4()}",
                retention=600,
                headers={"extra": "from-enqueue"},
            ),
            # in: binary payload, sub-second timeout (stored as 0, as Go does), no retries
            client.enqueue_in(
                timedelta(hours=1), Task("report", b"\x00\x01\xffbin"), queue=q, max_retry=0, timeout=0.5
            ),
            # at: unique and retention on a scheduled task
            client.enqueue_at(
                datetime.fromtimestamp(now + 7200, UTC),
                Task("report", "text"),
                queue=q,
                unique=60,
                retention=30,
            ),
            # group
            client.enqueue(Task("batch:item", "x", headers={"h": "v"}), queue=q, group="g1", max_retry=2),
            client.enqueue(Task("batch:item", "y"), queue=q, group="g1", unique=30),
            # nil payload and every default (max retry 25, timeout 30 min)
            client.enqueue(Task("noop"), queue=q),
            # a deadline alone: no default timeout
            client.enqueue(Task("deadline-only", "p"), queue=q, deadline=deadline),
        ]
        for info in enqueued:
            theirs = go.inspect("task", q, info.id)
            ours = task_json(inspector.get_task_info(q, info.id))
            assert_same_task(ours, theirs)
            # What our client returned agrees too (Go's client reports the same fields).
            assert_same_task(task_json(info), theirs)

        by_id = {i.id: i for i in enqueued}
        assert by_id[enqueued[0].id].state == "pending"
        theirs = go.inspect("task", q, enqueued[0].id)
        assert theirs["headers"] == {"trace": "t-1", "lang": "ü", "extra": "from-enqueue"}
        assert theirs["timeout_s"] == 90
        assert theirs["deadline_unix"] == now + 3600
        assert theirs["retention_s"] == 600
        assert theirs["max_retry"] == 7
        assert theirs["payload_b64"] == b64(b'{"n":1,"to":"a@example.com"}')
        assert go.inspect("task", q, enqueued[1].id)["timeout_s"] == 0
        assert go.inspect("task", q, enqueued[5].id)["timeout_s"] == 1800
        assert go.inspect("task", q, enqueued[5].id)["max_retry"] == 25
        assert go.inspect("task", q, enqueued[5].id)["payload_b64"] is None
        assert go.inspect("task", q, enqueued[6].id)["timeout_s"] == 0

        for state, group in (("pending", None), ("scheduled", None), ("aggregating", "g1")):
            theirs_list = _go_tasks(go, q, state, group)
            ours_list = [task_json(t) for t in inspector.list_tasks(q, state, group=group, page_size=100)]
            assert [t["id"] for t in ours_list] == [t["id"] for t in theirs_list], state
            for a, b in zip(ours_list, theirs_list, strict=True):
                assert_same_task(a, b)
        assert go.inspect("groups", q) == [{"Group": "g1", "Size": 2}]
        assert q in go.inspect("queues")


def test_go_enqueued_tasks_read_identically_by_python(go: Go, real_redis_url: str) -> None:
    q = unique_queue("go-enq")
    now = int(time.time())
    requests: list[dict[str, Any]] = [
        {
            "type": "email:send",
            "payload_b64": b64(b'{"to":"a@example.com"}'),
            "headers": {"trace": "t-1", "lang": "ü"},
            "opts": {
                "queue": q,
                "max_retry": 7,
                "timeout_s": 90,
                "deadline_unix": now + 3600,
                "unique_s": 120,
                "task_id": f"task-{uuid.uuid4()}",
                "retention_s": 600,
            },
        },
        {"type": "report", "payload_b64": b64(b"\x00\x01\xff"), "opts": {"queue": q, "process_in_s": 3600}},
        {
            "type": "report",
            "payload_b64": b64("text"),
            "opts": {"queue": q, "process_at_unix": now + 7200, "unique_s": 60, "retention_s": 30},
        },
        {
            "type": "batch:item",
            "payload_b64": b64("x"),
            "headers": {"h": "v"},
            "opts": {"queue": q, "group": "g1"},
        },
        {"type": "batch:item", "payload_b64": b64("y"), "opts": {"queue": q, "group": "g1", "unique_s": 30}},
        {"type": "noop", "opts": {"queue": q}},
        {"type": "short", "payload_b64": b64("p"), "opts": {"queue": q, "timeout_s": 0.5, "max_retry": -3}},
        {"type": "deadline-only", "payload_b64": b64("p"), "opts": {"queue": q, "deadline_unix": now + 60}},
    ]
    replies = go.enqueue_many(requests)
    assert all("error" not in r for r in replies), replies
    with Inspector(real_redis_url) as inspector:
        for reply in replies:
            ours = task_json(inspector.get_task_info(q, reply["id"]))
            assert_same_task(ours, go.inspect("task", q, reply["id"]))
            assert_same_task(ours, reply)
        first = inspector.get_task_info(q, replies[0]["id"])
        assert first.headers == {"trace": "t-1", "lang": "ü"}
        assert first.timeout == timedelta(seconds=90)
        assert first.deadline == datetime.fromtimestamp(now + 3600, UTC)
        assert first.retention == timedelta(seconds=600)
        assert first.max_retry == 7
        assert first.unique_key.startswith(f"asynq:{{{q}}}:unique:email:send:")
        assert bytes(inspector.get_task_info(q, replies[5]["id"]).payload) == b""
        short = inspector.get_task_info(q, replies[6]["id"])
        assert short.timeout is None
        assert short.max_retry == 0

        for state, group in (("pending", None), ("scheduled", None), ("aggregating", "g1")):
            theirs_list = _go_tasks(go, q, state, group)
            ours_list = [task_json(t) for t in inspector.list_tasks(q, state, group=group, page_size=100)]
            assert [t["id"] for t in ours_list] == [t["id"] for t in theirs_list], state
            for a, b in zip(ours_list, theirs_list, strict=True):
                assert_same_task(a, b)
        assert [(g.group, g.size) for g in inspector.groups(q)] == [("g1", 2)]
        assert q in inspector.queues()


# The same task through both clients gives the same Redis records ---------------------------------

NOW = int(time.time())
FIXED_DEADLINE = NOW + 3600
FIXED_PROCESS_AT = NOW + 5400

# (name, Python Task args, Python options, goclient request without queue/task_id)
CASES: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    ("plain", {"payload": b"hello"}, {}, {"payload_b64": b64("hello")}),
    ("nil-payload", {}, {}, {}),
    (
        "every-option",
        {"payload": b"{}", "headers": {"a": "1", "b": "2"}},
        {
            "max_retry": 3,
            "timeout": 90,
            "deadline": datetime.fromtimestamp(FIXED_DEADLINE, UTC),
            "retention": 600,
            "unique": 100,
        },
        {
            "payload_b64": b64("{}"),
            "headers": {"a": "1", "b": "2"},
            "opts": {
                "max_retry": 3,
                "timeout_s": 90,
                "deadline_unix": FIXED_DEADLINE,
                "retention_s": 600,
                "unique_s": 100,
            },
        },
    ),
    ("empty-payload-unique", {"payload": b""}, {"unique": 50}, {"payload_b64": "", "opts": {"unique_s": 50}}),
    ("nil-payload-unique", {}, {"unique": 50}, {"opts": {"unique_s": 50}}),
    (
        "process-at-unique",
        {"payload": b"at"},
        {"process_at": datetime.fromtimestamp(FIXED_PROCESS_AT, UTC), "unique": 60},
        {"payload_b64": b64("at"), "opts": {"process_at_unix": FIXED_PROCESS_AT, "unique_s": 60}},
    ),
    (
        "process-in",
        {"payload": b"in"},
        {"process_in": 600},
        {"payload_b64": b64("in"), "opts": {"process_in_s": 600}},
    ),
    (
        "group-unique",
        {"payload": b"g"},
        {"group": "grp", "unique": 30},
        {"payload_b64": b64("g"), "opts": {"group": "grp", "unique_s": 30}},
    ),
    (
        "group-process-at",
        {"payload": b"gs"},
        {"group": "grp", "process_at": datetime.fromtimestamp(FIXED_PROCESS_AT, UTC)},
        {"payload_b64": b64("gs"), "opts": {"group": "grp", "process_at_unix": FIXED_PROCESS_AT}},
    ),
    (
        "sub-second-timeout",
        {"payload": b"t"},
        {"timeout": 0.5},
        {"payload_b64": b64("t"), "opts": {"timeout_s": 0.5}},
    ),
    (
        "deadline-only",
        {"payload": b"d"},
        {"deadline": datetime.fromtimestamp(FIXED_DEADLINE, UTC)},
        {"payload_b64": b64("d"), "opts": {"deadline_unix": FIXED_DEADLINE}},
    ),
    (
        "process-at-past",
        {"payload": b"past"},
        {"process_at": datetime.fromtimestamp(NOW - 600, UTC)},
        {"payload_b64": b64("past"), "opts": {"process_at_unix": NOW - 600}},
    ),
    (
        "negative-max-retry",
        {"payload": b"r"},
        {"max_retry": -1},
        {"payload_b64": b64("r"), "opts": {"max_retry": -1}},
    ),
]


def _snapshot(r: redis.Redis, queue: str, task_id: str) -> dict[str, Any]:
    """Everything Redis holds about one task, with its queue and id replaced by placeholders."""

    def norm(value: Any) -> Any:
        if isinstance(value, bytes):
            value = value.decode("utf-8", "backslashreplace")
        if isinstance(value, str):
            return value.replace(f"{{{queue}}}", "{Q}").replace(task_id, "ID").replace(queue, "Q")
        return value

    fields = {k.decode(): v for k, v in r.hgetall(f"asynq:{{{queue}}}:t:{task_id}").items()}
    msg = decode_task_message(fields.pop("msg"))
    since = fields.pop("pending_since", None)
    out: dict[str, Any] = {
        "hash": {k: norm(v) for k, v in sorted(fields.items())},
        "pending_since_ns": None if since is None else int(since),
        "msg": {name: norm(getattr(msg, name)) for name in msg.__slots__},
        "containers": {},
        "unique": None,
        "registered": bool(r.sismember("asynq:queues", queue)),
    }
    prefix = f"asynq:{{{queue}}}:"
    for key in sorted(k.decode() for k in r.scan_iter(match=f"{prefix}*", count=1000)):
        short = key[len(prefix) :]
        kind = r.type(key).decode()
        if kind == "list":
            if task_id.encode() in r.lrange(key, 0, -1):
                out["containers"][short] = "listed"
        elif kind == "zset":
            score = r.zscore(key, task_id)
            if score is not None:
                out["containers"][norm(short)] = score
        elif kind == "set":
            out["containers"][short] = sorted(m.decode() for m in r.smembers(key))
        elif kind == "string" and short.startswith("unique:"):
            out["unique"] = {"key": norm(short), "owner": norm(r.get(key)), "ttl": r.ttl(key)}
    return out


def _close(a: float | None, b: float | None, tolerance: float) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= tolerance


@pytest.mark.parametrize("via", ["enqueue", "enqueue_many"])
@pytest.mark.parametrize(("name", "task_args", "py_opts", "go_request"), CASES, ids=[c[0] for c in CASES])
def test_same_task_gives_same_redis_records(
    go: Go,
    real_redis_url: str,
    via: str,
    name: str,
    task_args: dict[str, Any],
    py_opts: dict[str, Any],
    go_request: dict[str, Any],
) -> None:
    py_queue, go_queue = unique_queue(f"rec-py-{name}"), unique_queue(f"rec-go-{name}")
    task_id = f"id-{uuid.uuid4()}"
    with Client(real_redis_url) as client:
        task = Task(f"t:{name}", **task_args)
        if via == "enqueue":
            client.enqueue(task, queue=py_queue, task_id=task_id, **py_opts)
        else:
            [result] = client.enqueue_many([task], queue=py_queue, task_id=task_id, **py_opts)
            assert not isinstance(result, Exception), result
    request = {"type": f"t:{name}", **go_request}
    request["opts"] = {**go_request.get("opts", {}), "queue": go_queue, "task_id": task_id}
    reply = go.enqueue_many([request])[0]
    assert "error" not in reply, reply

    r = redis.Redis.from_url(real_redis_url, socket_timeout=5)
    try:
        ours = _snapshot(r, py_queue, task_id)
        theirs = _snapshot(r, go_queue, task_id)
    finally:
        r.close()

    # Times taken from the clock differ by the few moments between the two enqueues.
    assert _close(ours.pop("pending_since_ns"), theirs.pop("pending_since_ns"), 10e9), name
    ours_unique, theirs_unique = ours.pop("unique"), theirs.pop("unique")
    assert (ours_unique is None) == (theirs_unique is None), (ours_unique, theirs_unique)
    if ours_unique is not None:
        assert abs(ours_unique.pop("ttl") - theirs_unique.pop("ttl")) <= 2, (ours_unique, theirs_unique)
        assert ours_unique == theirs_unique
    for key in set(ours["containers"]) | set(theirs["containers"]):
        a, b = ours["containers"].get(key), theirs["containers"].get(key)
        if isinstance(a, float) and isinstance(b, float):
            assert abs(a - b) <= 2, (key, a, b)
            ours["containers"][key] = theirs["containers"][key] = "scored"
    assert ours == theirs


# Go's server runs what asynq-py enqueued ---------------------------------------------------------


def test_go_server_processes_python_enqueued_tasks(go: Go, real_redis_url: str, tmp_path: Path) -> None:
    q = unique_queue("py-to-goserver")
    soon = datetime.now(UTC) + timedelta(seconds=1)
    with Client(real_redis_url) as client, Inspector(real_redis_url) as inspector:
        now_task = client.enqueue(
            Task("ok", b"now-payload", headers={"trace": "abc", "tenant": "t1"}), queue=q, max_retry=4
        )
        in_task = client.enqueue_in(1, Task("ok", {"k": [1, 2]}), queue=q, max_retry=2)
        at_task = client.enqueue_at(soon, Task("ok", "at-payload", headers={"x": "y"}), queue=q)
        kept = client.enqueue(Task("ok", b"kept"), queue=q, retention=600)
        unique = client.enqueue(Task("ok", b"only-once"), queue=q, unique=300)
        nil_payload = client.enqueue(Task("ok"), queue=q, max_retry=0)
        # The same kinds through enqueue_many's one multi-task script call.
        many = client.enqueue_many(
            [
                Task("ok", b"many-now", headers={"m": "1"}, max_retry=3),
                Task("ok", b"many-in", process_in=1),
                Task("ok", b"many-unique", unique=300),
                Task("ok"),
            ],
            queue=q,
        )
        batch = [info for info in many if isinstance(info, TaskInfo)]
        assert len(batch) == 4
        tasks = [now_task, in_task, at_task, kept, unique, nil_payload, *batch]

        with go.server(tmp_path, queues={q: 1}) as server:
            started_at = time.time()
            for info in tasks:
                server.wait_ledger(info.id, "end")
            for info in tasks:
                start, end = server.ledger(info.id)
                assert start["event"] == "start"
                assert end["event"] == "end"
                assert start["type"] == "ok"
                assert start["queue"] == q
                assert start["payload_b64"] == (b64(bytes(info.payload)) if bytes(info.payload) else None)
                assert start["headers"] == info.headers
                assert start["retry_count"] == 0
                assert start["max_retry"] == info.max_retry
                assert end["error"] is None
            # Scheduled tasks were not run before they were due.
            assert server.ledger(in_task.id)[0]["t"] >= int(in_task.next_process_at.timestamp())
            assert server.ledger(at_task.id)[0]["t"] >= int(soon.timestamp())

            # Retained: completed with completed_at and retention; the others are gone.

            def completed() -> TaskInfo | None:
                info = inspector.get_task_info(q, kept.id)
                return info if info.state == "completed" else None

            done = wait_for(completed, timeout=10, what="the retained task to be completed")
            assert done.retention == timedelta(seconds=600)
            assert done.completed_at is not None
            assert int(started_at) - 1 <= done.completed_at.timestamp() <= time.time() + 1
            for info in (now_task, in_task, at_task, unique, nil_payload, *batch):
                with pytest.raises(TaskNotFoundError):
                    inspector.get_task_info(q, info.id)

            # Go's done released the lock our client took: the same unique task goes in again.
            again = client.enqueue(Task("ok", b"only-once"), queue=q, unique=300)
            server.wait_ledger(again.id, "end")

        stats = inspector.get_queue_info(q)
        assert (stats.processed, stats.failed, stats.processed_total) == (11, 0, 11)
        assert (stats.pending, stats.completed, stats.size) == (0, 1, 1)
