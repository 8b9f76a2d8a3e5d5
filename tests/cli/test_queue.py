"""``queues``, ``queue inspect|rm``, ``pause``, ``unpause``, ``groups``, ``history``."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from seed import message, seed_task

from asynq_py.engine import QueueNotFoundError, Task

pytestmark = pytest.mark.real


def test_queues_table_and_json(cli, client):
    client.enqueue(Task("a"), queue="q1")
    client.enqueue(Task("a"), queue="q2")
    client.enqueue_in(600, Task("a"), queue="q2")
    out = cli("queues").check().stdout
    assert "q1" in out
    assert "q2" in out
    assert "Scheduled" in out
    records = [json.loads(line) for line in cli("queues", "--json").check().stdout.splitlines()]
    assert [(q["queue"], q["size"], q["pending"], q["scheduled"]) for q in records] == [
        ("q1", 1, 1, 0),
        ("q2", 2, 1, 1),
    ]
    assert records[0]["error_rate"] is None


def test_no_queues(cli, r):
    run = cli("queues").check()
    assert run.stdout == ""
    assert "no queues" in run.stderr


def test_queue_inspect(cli, client):
    client.enqueue(Task("a"), queue="q1")
    out = cli("queue", "inspect", "q1").check().stdout
    assert "Pending" in out
    assert "running" in out
    assert json.loads(cli("queue", "inspect", "q1", "--json").check().stdout)["pending"] == 1
    assert "not found" in cli("queue", "inspect", "nope").check(3).error


def test_pause_and_unpause(cli, client, inspector):
    client.enqueue(Task("a"), queue="q1")
    assert "paused queue q1" in cli("pause", "q1").check().stderr
    assert inspector.get_queue_info("q1").paused
    assert "already paused" in cli("pause", "q1").check().stderr
    assert "paused" in cli("queues").check().stdout
    cli("unpause", "q1").check()
    assert not inspector.get_queue_info("q1").paused
    assert "already unpaused" in cli("unpause", "q1").check().stderr


def test_pause_unknown_queue_is_not_found_and_the_rest_still_run(cli, client, inspector):
    client.enqueue(Task("a"), queue="q1")
    run = cli("pause", "typo", "q1").check(3)
    assert "typo" in run.error
    assert inspector.get_queue_info("q1").paused


def test_queue_rm(cli, client, inspector):
    client.enqueue(Task("a"), queue="full")
    client.enqueue(Task("a"), queue="full2")
    run = cli("queue", "rm", "full").check(4)
    assert "not empty" in run.error
    assert "--force full" in run.error
    cli("queue", "rm", "--force", "full").check()
    with pytest.raises(QueueNotFoundError):
        inspector.get_queue_info("full")
    assert "not found" in cli("queue", "rm", "nope").check(3).error
    cli("delete", "--all", "pending", "-q", "full2").check()
    assert "removed queue full2" in cli("queue", "rm", "full2").check().stderr


def test_queue_rm_refuses_active_tasks(cli, r, inspector):
    seed_task(r, message("a", queue="busy"), "active")
    cli("queue", "rm", "--force", "busy").check(4)
    assert inspector.get_queue_info("busy").active == 1


def test_groups(cli, r):
    seed_task(r, message("a", group_key="g1"), "aggregating", group="g1")
    seed_task(r, message("a", group_key="g1"), "aggregating", group="g1")
    seed_task(r, message("a", group_key="g2"), "aggregating", group="g2")
    records = [json.loads(line) for line in cli("groups", "default", "--json").check().stdout.splitlines()]
    assert sorted((g["group"], g["size"]) for g in records) == [("g1", 2), ("g2", 1)]
    assert "g2" in cli("groups", "default").check().stdout
    assert "not found" in cli("groups", "nope").check(3).error


def test_history(cli, r, client):
    client.enqueue(Task("a"))
    today = datetime.now(UTC).date().isoformat()
    r.set(f"asynq:{{default}}:processed:{today}", 10)
    r.set(f"asynq:{{default}}:failed:{today}", 3)
    records = [
        json.loads(line)
        for line in cli("history", "default", "--days", "3", "--json").check().stdout.splitlines()
    ]
    assert len(records) == 3
    assert records[0] == {"queue": "default", "date": today, "processed": 10, "failed": 3, "error_rate": 0.3}
    out = cli("history", "default").check().stdout
    assert "30.00%" in out
    assert today in out
    assert "--days" in cli("history", "default", "--days", "0").check(2).error


def test_unpause_without_the_wake_channel_succeeds_and_warns_once(cli, client, inspector, r):
    """A Redis user denied ``&asynq:wake:*`` can unpause: exit 0, one warning, queues unpaused."""
    r.execute_command("ACL", "SETUSER", "nowake", "reset", "on", ">pw", "~asynq:*", "+@all", "-@dangerous")
    try:
        for name in ("q1", "q2"):
            client.enqueue(Task("a"), queue=name)
            inspector.pause_queue(name)
        host, port = r.connection_pool.connection_kwargs["host"], r.connection_pool.connection_kwargs["port"]
        db = r.connection_pool.connection_kwargs.get("db", 0)
        run = cli("--redis", f"redis://nowake:pw@{host}:{port}/{db}", "unpause", "q1", "q2").check()
        assert run.stderr.count("warning: Redis denied publishing to the wake channel") == 1, run.stderr
        assert "unpaused queue q1" in run.stderr
        assert "unpaused queue q2" in run.stderr
        assert not inspector.get_queue_info("q1").paused
        assert not inspector.get_queue_info("q2").paused
    finally:
        r.execute_command("ACL", "DELUSER", "nowake")
