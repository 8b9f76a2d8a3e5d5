"""``ls``, ``inspect``, ``retry``, ``kill``, ``delete``, ``cancel``: by id, from stdin, and ``--all``."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

import pytest
from seed import message, seed_many, seed_task

from asynq_py.cli import task as task_module
from asynq_py.engine import BulkProgress, TaskNotFoundError, TaskState
from asynq_py.engine.keys import CANCEL_CHANNEL

pytestmark = pytest.mark.real


def seed(r, state, n=1, queue="default", task_type="job", **fields):
    ids = []
    if state == "aggregating":
        fields.setdefault("group_key", "g1")
    for i in range(n):
        msg = message(task_type, f'{{"i":{i}}}'.encode(), queue=queue, **fields)
        kwargs: dict[str, Any] = {"group": msg.group_key} if state == "aggregating" else {}
        if state == "retry":
            kwargs["score"] = time.time() + 600
        ids.append(seed_task(r, msg, state, **kwargs))
    return ids


def test_ls_table_has_the_columns_of_the_state(cli, r):
    seed(r, "retry", error_msg="boom", retried=2, last_failed_at=int(time.time()) - 60)
    out = cli("ls", "retry").check().stdout
    for column in ("ID", "Queue", "Type", "Next Retry", "Last Error", "Last Failed", "Retried", "Max Retry"):
        assert column in out
    assert "boom" in out
    assert "in 10m" in out or "in 9m" in out


def test_ls_json_and_ids(cli, r, inspector):
    ids = seed(r, "pending", 3)
    records = [json.loads(line) for line in cli("ls", "pending", "--json").check().stdout.splitlines()]
    assert {rec["id"] for rec in records} == set(ids)
    assert all(rec["state"] == "pending" and rec["payload_encoding"] == "utf-8" for rec in records)
    assert set(cli("ls", "pending", "--ids").check().stdout.split()) == set(ids)
    assert "not both" in cli("ls", "pending", "--ids", "--json").check(2).error


def test_ls_limit_all_and_pages(cli, r):
    ids = seed(r, "pending", 7)
    limited = cli("ls", "pending", "--ids", "--limit", "3").check()
    assert len(limited.stdout.split()) == 3
    assert "use --limit N or --all" in limited.stderr
    everything = cli("ls", "pending", "--ids", "--all").check().stdout.split()
    assert sorted(everything) == sorted(ids)
    page2 = cli("ls", "pending", "--ids", "--page", "2", "--size", "3").check().stdout.split()
    assert page2 == everything[3:6]
    assert "not both" in cli("ls", "pending", "--limit", "2", "--all").check(2).error


def test_ls_pages_through_long_lists(cli, r):
    seed(r, "archived", 1203)
    assert len(cli("ls", "archived", "--ids", "--all").check().stdout.split()) == 1203


def test_ls_filters_by_queue_and_type(cli, r):
    seed(r, "pending", 2, queue="a", task_type="email:send")
    seed(r, "pending", 1, queue="a", task_type="sms:send")
    seed(r, "pending", 1, queue="b", task_type="email:bounce")
    rows = [
        json.loads(line)
        for line in cli("ls", "pending", "--json", "--type", "email:").check().stdout.splitlines()
    ]
    assert sorted((rec["queue"], rec["type"]) for rec in rows) == [
        ("a", "email:send"),
        ("a", "email:send"),
        ("b", "email:bounce"),
    ]
    only_b = cli("ls", "pending", "--ids", "-q", "b").check().stdout.split()
    assert len(only_b) == 1


def test_ls_unknown_queue_and_state(cli, r):
    seed(r, "pending")
    assert "not found" in cli("ls", "pending", "-q", "nope").check(3).error
    assert "'later' is not one of" in cli("ls", "later").check(2).error
    assert "no pending tasks" in cli("ls", "pending", "-q", "default", "--type", "zzz").check().stderr


def test_ls_aggregating_covers_every_group(cli, r):
    seed(r, "aggregating", 2)
    seed(r, "aggregating", group_key="g2")
    out = cli("ls", "aggregating", "--json").check().stdout.splitlines()
    assert sorted(json.loads(line)["group"] for line in out) == ["g1", "g1", "g2"]
    assert len(cli("ls", "aggregating", "--ids", "-g", "g2").check().stdout.split()) == 1
    assert "--group" in cli("ls", "pending", "-g", "g2").check(2).error


def test_ls_completed_shows_result(cli, r):
    msg = message("job", b"", completed_at=int(time.time()), retention=3600)
    seed_task(r, msg, "completed", score=time.time() + 3600, result=b"done!")
    out = cli("ls", "completed").check().stdout
    assert "Completed" in out
    assert "Result" in out
    assert "done!" in out


def test_inspect_finds_the_queue(cli, r):
    (task_id,) = seed(r, "scheduled", queue="somewhere")
    record = json.loads(cli("inspect", task_id, "--json").check().stdout)
    assert record["queue"] == "somewhere"
    assert record["state"] == "scheduled"
    out = cli("inspect", task_id).check().stdout
    assert "somewhere" in out
    assert '{"i":0}' in out


def test_inspect_ambiguous_and_missing_ids(cli, r):
    seed_task(r, message("job", queue="q1", task_id="same"), "pending")
    seed_task(r, message("job", queue="q2", task_id="same"), "pending")
    run = cli("inspect", "same").check(4)
    assert "q1, q2" in run.error
    assert json.loads(cli("inspect", "same", "-q", "q2", "--json").check().stdout)["queue"] == "q2"
    assert "not found in any queue" in cli("inspect", "nope").check(3).error
    assert "not found" in cli("inspect", "nope", "-q", "q1").check(3).error
    assert "not found" in cli("inspect", "same", "-q", "q3").check(3).error


def test_retry_kill_delete_by_id(cli, r, inspector):
    archived, retry, pending = seed(r, "archived")[0], seed(r, "retry")[0], seed(r, "pending")[0]
    assert "moved to pending" in cli("retry", archived).check().stderr
    assert inspector.get_task_info("default", archived).state is TaskState.PENDING
    cli("kill", retry, "-q", "default").check()
    assert inspector.get_task_info("default", retry).state is TaskState.ARCHIVED
    cli("delete", pending).check()
    with pytest.raises(TaskNotFoundError):
        inspector.get_task_info("default", pending)


def test_state_conflicts_and_partial_failures(cli, r, inspector):
    active = seed(r, "active")[0]
    pending = seed(r, "pending")[0]
    assert "active" in cli("delete", active).check(4).error
    run = cli("kill", "missing", pending).check(3)
    assert "task missing not found" in run.error
    assert inspector.get_task_info("default", pending).state is TaskState.ARCHIVED
    assert "already" in cli("kill", pending).check(4).error


def test_ids_from_stdin_pipe_between_commands(cli, r, inspector):
    seed(r, "retry", 5)
    ids = cli("ls", "retry", "--ids", "--all").check().stdout
    run = cli("kill", "-", input=ids).check()
    assert run.stdout == ""
    assert inspector.get_queue_info("default").archived == 5
    assert "no task ids" in cli("kill", "-", input="\n").check(2).error


def test_all_with_queue(cli, r, inspector):
    seed(r, "archived", 4)
    seed(r, "archived", 2, queue="other")
    run = cli("retry", "--all", "archived", "-q", "default").check()
    assert "4 archived tasks moved to pending" in run.stderr
    assert inspector.get_queue_info("default").pending == 4
    assert inspector.get_queue_info("other").archived == 2
    cli("delete", "--all", "archived", "-q", "other").check()
    assert inspector.get_queue_info("other").size == 0
    assert "no scheduled tasks" in cli("kill", "--all", "scheduled", "-q", "default").check().stderr


def test_all_aggregating_by_group(cli, r, inspector):
    seed(r, "aggregating", 3)
    seed(r, "aggregating", group_key="g2")
    cli("kill", "--all", "aggregating", "-q", "default", "-g", "g1").check()
    assert inspector.get_queue_info("default").archived == 3
    cli("kill", "--all", "aggregating", "-q", "default").check()
    assert inspector.get_queue_info("default").archived == 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["retry", "--all", "pending", "-q", "default"], "retry --all takes"),
        (["kill", "--all", "archived", "-q", "default"], "kill --all takes"),
        (["delete", "--all", "active", "-q", "default"], "delete --all takes"),
        (["delete", "--all", "pending"], "needs the queue"),
        (["delete", "x", "--all", "pending", "-q", "default"], "not both"),
        (["delete"], "no task ids"),
        (["delete", "x", "-q", "a", "-q", "b"], "one -q"),
        (["retry", "x", "-g", "g"], "--group"),
    ],
)
def test_bad_action_arguments(cli, r, args, message):
    seed(r, "pending")
    assert message in cli(*args).check(2).error


def test_all_on_unknown_queue(cli, r):
    assert "not found" in cli("delete", "--all", "pending", "-q", "nope").check(3).error


def test_confirmation_on_a_terminal(cli, r, inspector, monkeypatch):
    seed(r, "pending", 3)
    monkeypatch.setattr(task_module, "stdin_is_terminal", lambda: True)
    run = cli("delete", "--all", "pending", "-q", "default", input="n\n").check(1)
    assert "delete all 3 pending tasks in default?" in run.stderr
    assert "error: aborted; nothing was changed" in run.stderr  # the answer's newline is the terminal's
    assert inspector.get_queue_info("default").pending == 3
    cli("delete", "--all", "pending", "-q", "default", input="y\n").check()
    assert inspector.get_queue_info("default").pending == 0
    seed(r, "pending", 1)
    run = cli("delete", "--all", "pending", "-q", "default", "--yes").check()
    assert "?" not in run.stderr


def test_cancel_publishes_for_active_tasks_only(cli, r):
    active = seed(r, "active")[0]
    pending = seed(r, "pending")[0]
    pubsub = r.pubsub()
    pubsub.subscribe(CANCEL_CHANNEL)
    pubsub.get_message(timeout=1)
    assert "cancellation sent" in cli("cancel", active).check().stderr
    published = pubsub.get_message(timeout=2)
    assert published is not None
    assert published["data"] == active.encode()
    assert "not active" in cli("cancel", pending).check(4).error
    pubsub.close()


def test_kill_all_says_how_many_the_archive_limits_deleted(cli, r, inspector):
    seed_many(r, "default", "archived", 9995, score=time.time() - 100)
    seed_many(r, "default", "pending", 20)
    run = cli("kill", "--all", "pending", "-q", "default").check()
    said = "20 pending tasks archived (queue default); the archive's size and age limits deleted 16"
    assert f"{said} archived tasks" in run.stderr
    assert len(list(r.scan_iter(match="asynq:{default}:t:*", count=1000))) == 9999


def test_all_advances_the_bar_per_chunk_and_reports_an_interruption(r, inspector):
    seed_many(r, "default", "pending", 2500)
    steps: list[int] = []
    notes: list[str] = []
    task_module._bulk_one(
        notes.append, task_module._DELETE, inspector, "default", TaskState.PENDING, None, steps.append
    )
    assert steps == [1000, 1000, 500]
    assert notes == ["2500 pending tasks deleted (queue default)"]

    def stopped(i, q, s, g, p):
        p(BulkProgress(1000, 2500, 0))
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        task_module._bulk_one(
            notes.append,
            dataclasses.replace(task_module._KILL, bulk=stopped),
            inspector,
            "default",
            TaskState.PENDING,
            None,
            steps.append,
        )
    assert notes[-1] == "interrupted: 1000 pending tasks archived (queue default); the rest left as they were"


def test_ls_archived_shows_undecodable_tasks_marked(cli, r):
    seed(r, "archived")
    r.zadd("asynq:{default}:archived", {"bad": int(time.time())})
    r.hset("asynq:{default}:t:bad", mapping={"msg": b"\xff\xff\xff\xff", "state": "archived"})
    out = cli("ls", "archived").check().stdout
    line = next((line for line in out.splitlines() if "bad" in line.split()), out)
    assert "(undecodable)" in line
    assert "4 bytes that do not decode" in line
    records = {
        rec["id"]: rec for rec in map(json.loads, cli("ls", "archived", "--json").check().stdout.splitlines())
    }
    assert records["bad"]["raw_size"] == 4
    assert records["bad"]["decode_error"]
    assert [rec["decode_error"] for i, rec in records.items() if i != "bad"] == [None]
