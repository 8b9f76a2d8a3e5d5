"""Both inspectors, and Go's CLI, report the same queue: stats, history, every task list, groups,
servers and workers, and scheduler entries.

A queue is seeded with a task in every state by asynq-py's client and a server of either language
(so the counters, results, retries and heartbeats are real), then read by asynq-py's Inspector,
goinspect, and Go's ``asynq`` CLI, and compared field by field.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from helpers import unique_queue, wait_for

from asynq_py.engine import Client, Inspector, Scheduler, Task

from .support import (
    RUN_TIMEOUT_S,
    Go,
    ServerProcess,
    assert_close_times,
    assert_same_task,
    b64,
    py_server,
    queue_json,
    server_json,
    task_json,
    unb64,
)

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

STATES = ("pending", "active", "scheduled", "retry", "archived", "completed")


@contextlib.contextmanager
def _server(kind: str, go: Go, redis_url: str, workdir: Path, queue: str) -> Iterator[ServerProcess]:
    """A server that retries after 10 min and aggregates only after 10 min: states stay put."""
    if kind == "go":
        with go.server(workdir, "-concurrency", "2", "-retry-delay", "600s", "-group-grace", "600s",
                       queues={queue: 3}) as srv:  # fmt: skip
            yield srv
    else:
        with py_server(redis_url, workdir, "-concurrency", "2", "-retry-delay", "600", "-group-grace", "600",
                       queues={queue: 3}) as srv:  # fmt: skip
            yield srv


def _seed(client: Client, inspector: Inspector, server: ServerProcess, q: str) -> dict[str, str]:
    """Put a task in every state: run some on ``server``, then pause the queue and add the rest."""
    ids = {
        "ok": client.enqueue(Task("ok", b"done"), queue=q).id,
        "retry": client.enqueue(Task("fail", b"again"), queue=q, max_retry=5).id,
        "archived-by-server": client.enqueue(Task("fail", b"dead"), queue=q, max_retry=0).id,
        "completed": client.enqueue(Task("result", b"res"), queue=q, retention=600).id,
        "active": client.enqueue(Task("sleep", b"30000", headers={"h": "v"}), queue=q, timeout=300).id,
    }
    for name in ("ok", "retry", "archived-by-server", "completed"):
        server.wait_ledger(ids[name], "end")
    server.wait_ledger(ids["active"], "start")
    wait_for(
        lambda: (
            inspector.get_task_info(q, ids["retry"]).state == "retry"
            and inspector.get_task_info(q, ids["archived-by-server"]).state == "archived"
            and inspector.get_task_info(q, ids["completed"]).state == "completed"
        ),
        timeout=5,
        what="the outcomes to be written",
    )
    inspector.pause_queue(q)
    ids["pending"] = client.enqueue(Task("ok", {"n": 1}), queue=q, unique=600).id
    ids["pending2"] = client.enqueue(Task("ok", b"\x00\xff"), queue=q).id
    ids["scheduled"] = client.enqueue_in(3600, Task("ok", "later"), queue=q).id
    ids["aggregating"] = client.enqueue(Task("item", "a"), queue=q, group="g").id
    client.enqueue(Task("item", "b"), queue=q, group="g")
    ids["archived-by-inspector"] = client.enqueue(Task("ok", "x"), queue=q).id
    inspector.archive_task(q, ids["archived-by-inspector"])
    return ids


def _assert_same_lists(go: Go, inspector: Inspector, q: str) -> None:
    for state in (*STATES, "aggregating"):
        group = "g" if state == "aggregating" else None
        ours = [task_json(t) for t in inspector.list_tasks(q, state, group=group, page_size=100)]
        theirs = go.inspect("list", q, state, *([group] if group else []))
        assert [t["id"] for t in ours] == [t["id"] for t in theirs], state
        for a, b in zip(ours, theirs, strict=True):
            assert_same_task(a, b)


def _assert_same_queue_info(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    assert abs(ours.pop("Latency") - theirs.pop("Latency")) < 3
    assert abs(ours.pop("Timestamp") - theirs.pop("Timestamp")) < 5
    assert ours["MemoryUsage"] > 0
    assert ours == theirs


@pytest.mark.parametrize("kind", ["go", "py"])
def test_queue_stats_lists_history_servers_and_workers_agree(
    kind: str, go: Go, real_redis_url: str, tmp_path: Path
) -> None:
    q = unique_queue(f"seeded-{kind}")
    with (
        Client(real_redis_url) as client,
        Inspector(real_redis_url) as inspector,
        _server(kind, go, real_redis_url, tmp_path, q) as server,
    ):
        ids = _seed(client, inspector, server, q)

        ours = queue_json(inspector.get_queue_info(q))
        theirs = go.inspect("queue-info", q)
        assert (theirs["Pending"], theirs["Active"], theirs["Scheduled"], theirs["Retry"]) == (2, 1, 1, 1)
        assert (theirs["Archived"], theirs["Completed"], theirs["Aggregating"], theirs["Groups"]) == (
            2,
            1,
            2,
            1,
        )
        assert (theirs["Processed"], theirs["Failed"], theirs["Size"], theirs["Paused"]) == (4, 2, 10, True)
        assert theirs["MemoryUsage"] > 0
        _assert_same_queue_info(ours, theirs)

        _assert_same_lists(go, inspector, q)
        active = inspector.get_task_info(q, ids["active"])
        assert active.state == "active"
        assert active.headers == {"h": "v"}
        assert inspector.get_task_info(q, ids["completed"]).result == b"res"

        ours_history = [
            {"Queue": d.queue, "Processed": d.processed, "Failed": d.failed, "Date": d.date.isoformat()}
            for d in inspector.history(q, 3)
        ]
        assert ours_history == go.inspect("history", q, "3")
        assert ours_history[0]["Date"] == datetime.now(UTC).date().isoformat()
        assert q in inspector.queues()
        assert q in go.inspect("queues")
        assert [(g.group, g.size) for g in inspector.groups(q)] == [("g", 2)]
        assert go.inspect("groups", q) == [{"Group": "g", "Size": 2}]

        def beat_with_worker():
            found = [s for s in go.inspect("servers") if s["PID"] == server.pid]
            return found if found and found[0]["ActiveWorkers"] else None

        theirs_server = wait_for(beat_with_worker, timeout=12, interval=0.3, what="a heartbeat")[0]
        ours_server = next(server_json(s) for s in inspector.servers() if s.pid == server.pid)
        for a, b in zip(ours_server["ActiveWorkers"], theirs_server["ActiveWorkers"], strict=True):
            assert_close_times(a, b, ("Started", "Deadline"))
        assert_close_times(ours_server, theirs_server, ("Started",))
        assert ours_server == theirs_server
        assert [w["TaskID"] for w in ours_server["ActiveWorkers"]] == [ids["active"]]
        assert ours_server["Queues"] == {q: 3}
        assert ours_server["Concurrency"] == 2
        inspector.unpause_queue(q)


def _memory_usages(go: Go, redis_url: str, *, groups: bool) -> list[tuple[int, int]]:
    """(ours, Go's) memory estimates of queues of several sizes, as pending, scheduled and grouped."""
    pairs = []
    with Client(redis_url) as client, Inspector(redis_url) as inspector:
        for n in (1, 3, 25):
            q = unique_queue(f"memory-{n}")
            for k in range(n):
                client.enqueue(Task("t", b"x" * (k * 13 % 50)), queue=q)
                client.enqueue_in(60, Task("t", b"y" * k), queue=q)
                if groups:
                    client.enqueue(Task("t", b"z" * k), queue=q, group=f"g{k % 3}")
            pairs.append(
                (inspector.get_queue_info(q).memory_usage, go.inspect("queue-info", q)["MemoryUsage"])
            )
    return pairs


def test_memory_usage_agrees_without_groups(go: Go, real_redis_url: str) -> None:
    for ours, theirs in _memory_usages(go, real_redis_url, groups=False):
        assert ours == theirs


def test_memory_usage_agrees_with_groups(go: Go, real_redis_url: str) -> None:
    for ours, theirs in _memory_usages(go, real_redis_url, groups=True):
        assert ours == theirs


def test_memory_usage_agrees_beyond_the_sample(go: Go, real_redis_url: str) -> None:
    found = []
    with Client(real_redis_url) as client, Inspector(real_redis_url) as inspector:
        for n in (21, 23, 29, 41, 47):
            q = unique_queue(f"memory-sampled-{n}")
            client.enqueue_many([Task("t", b"x" * (k * 7 % 61)) for k in range(n)], queue=q)
            client.enqueue_many([Task("t", b"y" * (k * 11 % 53)) for k in range(n)], queue=q, process_in=60)
            client.enqueue_many([Task("t", b"z" * (k * 5 % 47)) for k in range(n)], queue=q, group="g")
            found.append(
                (inspector.get_queue_info(q).memory_usage, go.inspect("queue-info", q)["MemoryUsage"])
            )
    assert all(ours == theirs for ours, theirs in found), found


def _cli_ids(output: str) -> list[str]:
    """The first column of a CLI table (the rows after the ``--`` underline)."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("--"))
    return [line.split()[0] for line in lines[start + 1 :] if line.strip()]


def test_go_cli_reads_state_written_by_asynq_py(go: Go, real_redis_url: str, tmp_path: Path) -> None:
    """Every record here comes from asynq-py: its client, its server, its inspector."""
    q = unique_queue("cli")
    with (
        Client(real_redis_url) as client,
        Inspector(real_redis_url) as inspector,
        _server("py", go, real_redis_url, tmp_path, q) as server,
    ):
        ids = _seed(client, inspector, server, q)

        stats = json.loads(go.cli("stats", "--json"))
        entry = next(e for e in stats["queues"] if e["Queue"] == q)
        ours = queue_json(inspector.get_queue_info(q))
        assert abs(entry.pop("Latency") / 1e9 - ours.pop("Latency")) < 3
        cli_time = datetime.fromisoformat(entry.pop("Timestamp")).timestamp()
        assert abs(cli_time - ours.pop("Timestamp")) < 5
        assert entry == ours

        for state in STATES:
            listed = _cli_ids(go.cli("task", "ls", "-q", q, "-s", state))
            assert listed == [t.id for t in inspector.list_tasks(q, state, page_size=100)], state
        grouped = go.cli("task", "ls", "-q", q, "-s", "aggregating", "-g", "g")
        assert _cli_ids(grouped) == [t.id for t in inspector.list_aggregating_tasks(q, "g")]
        assert "non-printable bytes" in go.cli("task", "ls", "-q", q, "-s", "pending")

        shown = go.cli("task", "inspect", "-q", q, "-i", ids["completed"])
        assert ids["completed"] in shown, shown
        assert "completed" in shown, shown
        assert "res" in shown, shown
        queue_view = go.cli("queue", "inspect", q)
        assert re.search(r"Size:\s+10\b", queue_view), queue_view
        assert re.search(r"Paused:\s+true\b", queue_view), queue_view
        assert q in go.cli("queue", "ls").split()
        assert go.cli("group", "ls", "-q", q).split() == ["g"]
        history = go.cli("queue", "history", q, "-x", "1")
        assert re.search(rf"{datetime.now(UTC).date().isoformat()}\s+4\s+2\b", history), history

        # Pause and unpause through Go's CLI, seen by asynq-py.
        go.cli("queue", "unpause", q)
        assert inspector.get_queue_info(q).paused is False
        go.cli("queue", "pause", q)
        assert inspector.get_queue_info(q).paused is True

        wait_for(
            lambda: any(s.pid == server.pid and s.active_workers for s in inspector.servers()),
            timeout=12,
            interval=0.3,
            what="a heartbeat with the running task",
        )
        listing = go.cli("server", "ls")
        row = next(line for line in listing.splitlines() if re.search(rf"\b{server.pid}\b", line))
        assert "active" in row, listing
        assert "1/2" in row, listing
        assert f"{q}:3" in row, listing
        inspector.unpause_queue(q)


GO_PARSES = (
    "MaxRetry(",
    "Queue(",
    "Timeout(",
    "Deadline(",
    "Unique(",
    "ProcessAt(",
    "ProcessIn(",
    "Retention(",
)
"""The option strings Go v0.26.0's Inspector parses back; it drops TaskID, Group and Header."""


def test_go_reads_asynq_py_scheduler(go: Go, real_redis_url: str) -> None:
    q = unique_queue("py-cron")
    scheduler = Scheduler(real_redis_url, heartbeat_interval_s=1)
    tick_id = scheduler.register("@every 1s", Task("tick", "hello"), queue=q, max_retry=2, timeout=90)
    yearly_id = scheduler.register(
        "0 0 1 1 *",
        Task("yearly"),
        queue=q,
        max_retry=3,
        timeout=5400,
        deadline=datetime(2031, 2, 3, 4, 5, 6, tzinfo=UTC),
        unique=3600,
        process_at=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
        retention=7200.5,
        group="g",
        task_id="fixed",
        headers={"k": "v"},
    )
    mine = {tick_id, yearly_id}
    scheduler.start()
    try:
        with Inspector(real_redis_url) as inspector:
            wait_for(
                lambda: len(inspector.list_scheduler_enqueue_events(tick_id)) >= 2, timeout=10, what="2 ticks"
            )

            def both_listed():
                before = [e for e in inspector.scheduler_entries() if e.id in mine]
                theirs = [e for e in go.inspect("cron-entries") if e["ID"] in mine]
                ours = [e for e in inspector.scheduler_entries() if e.id in mine]
                return (ours, theirs) if len(theirs) == len(ours) == 2 and before == ours else None

            ours, theirs = wait_for(both_listed, timeout=10, what="stable entries")
            by_id = {e["ID"]: e for e in theirs}
            for e in ours:
                t = by_id[e.id]
                assert (t["Spec"], t["TaskType"]) == (e.spec, e.task_type)
                assert t["TaskPayload"] == (b64(e.task_payload) if e.task_payload else None)
                # Go re-prints what it parsed: our strings must be exactly Go's Option.String().
                assert t["Opts"] == [o for o in e.options if o.startswith(GO_PARSES)]
                assert e.next_enqueue_at is not None
                assert abs(e.next_enqueue_at.timestamp() - t["Next"]) < 1e-3
                if t["Prev"] is None:
                    assert e.prev_enqueue_at is None
                else:
                    assert e.prev_enqueue_at is not None
                    assert abs(e.prev_enqueue_at.timestamp() - t["Prev"]) < 1e-3
            yearly = by_id[yearly_id]
            assert yearly["Prev"] is None
            assert yearly["TaskPayload"] is None
            assert yearly["Opts"] == [
                "MaxRetry(3)",
                f'Queue("{q}")',
                "Timeout(1h30m0s)",
                "Deadline(Mon Feb  3 04:05:06 UTC 2031)",
                "Unique(1h0m0s)",
                "ProcessAt(Wed Jan  2 03:04:05 UTC 2030)",
                "Retention(2h0m0.5s)",
            ]
            assert by_id[tick_id]["Opts"] == ["MaxRetry(2)", f'Queue("{q}")', "Timeout(1m30s)"]
            assert by_id[tick_id]["Prev"] is not None

            listing = go.cli("cron", "ls")
            rows = {
                line.split()[0]: line
                for line in listing.splitlines()
                if line.split()[:1] in ([tick_id], [yearly_id])
            }
            assert set(rows) == mine, listing
            assert "@every 1s" in rows[tick_id]
            assert "tick" in rows[tick_id]
            assert "hello" in rows[tick_id]
            assert "N/A" in rows[yearly_id], listing

            history = go.inspect("cron-history", tick_id)
            events = inspector.list_scheduler_enqueue_events(tick_id, page_size=1000)
            common = min(len(history), len(events))
            assert common >= 2
            assert [e.task_id for e in events][-common:] == [h["TaskID"] for h in history][-common:]
            assert history[-1]["TaskID"] in go.cli("cron", "history", tick_id)
            task = go.inspect("task", q, history[0]["TaskID"])
            assert (task["type"], unb64(task["payload_b64"]), task["max_retry"], task["timeout_s"]) == (
                "tick",
                b"hello",
                2,
                90,
            )
    finally:
        scheduler.shutdown()
    # Shut down: the entries are withdrawn and, with no peer left, the history deleted (as Go does).
    assert not [e for e in go.inspect("cron-entries") if e["ID"] in mine]
    assert go.inspect("cron-history", tick_id) == []


def test_python_inspector_reads_go_scheduler(go: Go, real_redis_url: str, tmp_path: Path) -> None:
    """The reverse direction needs no asynq-py scheduler: Go's entries and history read by us."""
    q = unique_queue("cron")
    opts = json.dumps({"queue": q, "max_retry": 2, "timeout_s": 90})
    args = [
        str(go.tools["goscheduler"]),
        "-redis",
        real_redis_url,
        "-heartbeat",
        "1s",
        "-entry",
        f"@every 1s|tick|hello|{opts}",
        "-entry",
        f"0 0 1 1 *|yearly||{json.dumps({'queue': q})}",
    ]
    out_path = tmp_path / "goscheduler.out"
    with out_path.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.DEVNULL)
    try:

        def lines() -> list[dict[str, Any]]:
            return [json.loads(line) for line in out_path.read_text().splitlines() if line.strip()]

        started = wait_for(
            lambda: [line for line in lines() if line.get("event") == "started"], timeout=10, what="started"
        )[0]
        entry_ids = {e["type"]: e["id"] for e in started["entries"]}
        wait_for(
            lambda: sum(line.get("event") == "enqueued" for line in lines()) >= 2,
            timeout=10,
            what="2 enqueues",
        )
        with Inspector(real_redis_url) as inspector:

            def both_listed():
                # The scheduler rewrites its entries (next/prev times) every second: keep a pair
                # of readings only if ours did not change around Go's.
                before = [e for e in inspector.scheduler_entries() if e.id in entry_ids.values()]
                theirs = [e for e in go.inspect("cron-entries") if e["ID"] in entry_ids.values()]
                ours = [e for e in inspector.scheduler_entries() if e.id in entry_ids.values()]
                return (ours, theirs) if len(theirs) == len(ours) == 2 and before == ours else None

            ours, theirs = wait_for(both_listed, timeout=10, what="the entries in Redis")
            by_id = {e["ID"]: e for e in theirs}
            for e in ours:
                t = by_id[e.id]
                assert (e.spec, e.task_type) == (t["Spec"], t["TaskType"])
                assert (t["TaskPayload"] is None) == (e.task_payload == b"")
                assert list(e.options) == t["Opts"]
                assert e.next_enqueue_at is not None
                assert abs(e.next_enqueue_at.timestamp() - t["Next"]) < 1e-3
                if t["Prev"] is None:
                    assert e.prev_enqueue_at is None
                else:
                    assert e.prev_enqueue_at is not None
                    assert abs(e.prev_enqueue_at.timestamp() - t["Prev"]) < 1e-3
            tick = next(e for e in ours if e.task_type == "tick")
            assert sorted(tick.options) == sorted(["MaxRetry(2)", f'Queue("{q}")', "Timeout(1m30s)"])
            assert next(e for e in ours if e.task_type == "yearly").prev_enqueue_at is None

            history = go.inspect("cron-history", entry_ids["tick"])
            events = inspector.list_scheduler_enqueue_events(entry_ids["tick"], page_size=1000)
            # The scheduler may add an event between the two reads; compare the common part.
            common = min(len(history), len(events))
            assert common >= 2
            ours_events = [(e.task_id, e.enqueued_at.timestamp()) for e in events]
            theirs_events = [(e["TaskID"], e["EnqueuedAt"]) for e in history]
            assert ours_events[-common:] == [
                (i, pytest.approx(t, abs=1e-3)) for i, t in theirs_events[-common:]
            ]
            ticked = inspector.get_task_info(q, events[-1].task_id)
            assert (ticked.type, bytes(ticked.payload), ticked.max_retry) == ("tick", b"hello", 2)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=RUN_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)
