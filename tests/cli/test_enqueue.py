"""``asynq-py enqueue``: one task, its options, its errors, and ``--batch``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from asynq_py.engine import TaskState

pytestmark = pytest.mark.real


def only_task(inspector, queue="default", state="pending"):
    tasks = inspector.list_tasks(queue, state)
    assert len(tasks) == 1, tasks
    return tasks[0]


def test_prints_only_the_id_on_stdout(cli, inspector):
    run = cli("enqueue", "email:send", "--payload", '{"to": "a@example.com"}').check()
    task_id = run.stdout.strip()
    assert run.stdout == task_id + "\n"
    assert "enqueued task" in run.stderr
    info = inspector.get_task_info("default", task_id)
    assert info.type == "email:send"
    assert bytes(info.payload) == b'{"to":"a@example.com"}'  # canonical, as Task(type, dict) stores it
    assert info.state is TaskState.PENDING


def test_json_prints_the_task_record(cli, inspector):
    run = cli("enqueue", "t", "-q", "mail", "--json", "--payload", "[1,2]", "--max-retry", "3").check()
    record = json.loads(run.stdout)
    assert record["queue"] == "mail"
    assert record["state"] == "pending"
    assert record["payload"] == "[1,2]"
    assert record["payload_encoding"] == "utf-8"
    assert record["max_retry"] == 3
    assert inspector.get_task_info("mail", record["id"]).max_retry == 3


def test_global_json_flag_works_too(cli):
    run = cli("--json", "enqueue", "t").check()
    assert json.loads(run.stdout)["type"] == "t"


def test_payload_from_file_and_stdin(cli, inspector, tmp_path):
    path = tmp_path / "p.json"
    path.write_text('{"a": 1}\n')
    first = cli("enqueue", "t", "--payload", f"@{path}").check().stdout.strip()
    second = cli("enqueue", "t", "--payload", "-", input='  {"b": 2}\n').check().stdout.strip()
    assert bytes(inspector.get_task_info("default", first).payload) == b'{"a":1}'
    assert bytes(inspector.get_task_info("default", second).payload) == b'{"b":2}'


def test_raw_payload_keeps_bytes(cli, inspector):
    task_id = (
        cli("enqueue", "t", "--raw", "--payload", "-", input=b"\x00\xffnot json\n").check().stdout.strip()
    )
    assert bytes(inspector.get_task_info("default", task_id).payload) == b"\x00\xffnot json\n"


def test_malformed_json_payload_gives_position_and_stores_nothing(cli, inspector):
    run = cli("enqueue", "t", "--payload", '{"a": 1,, "b": 2}').check(2)
    assert "line 1, column 9" in run.error
    assert run.stdout == ""
    assert inspector.queues() == []


def test_missing_payload_file(cli, inspector):
    run = cli("enqueue", "t", "--payload", "@/no/such/file.json").check(2)
    assert "cannot read payload file" in run.error
    assert inspector.queues() == []


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("5m", 300), ("24h", 86400), ("1h30m", 5400), ("2d", 172800), ("1.5h", 5400)],
)
def test_durations(cli, inspector, text, seconds):
    task_id = cli("enqueue", "t", "--timeout", text).check().stdout.strip()
    assert inspector.get_task_info("default", task_id).timeout == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["5", "5x", "-5m", "m", "1h-", ""])
def test_bad_durations_are_refused(cli, inspector, text):
    run = cli("enqueue", "t", "--in", text).check(2)
    assert "--in" in run.error
    assert inspector.queues() == []


def test_in_schedules(cli, inspector):
    task_id = cli("enqueue", "t", "--in", "5m").check().stdout.strip()
    info = only_task(inspector, state="scheduled")
    assert info.id == task_id
    delay = (info.next_process_at - datetime.now(UTC)).total_seconds()
    assert 290 < delay <= 300


def test_at_with_zone_and_relative(cli, inspector):
    when = (datetime.now(UTC) + timedelta(hours=3)).replace(microsecond=0)
    cli("enqueue", "t", "--at", when.astimezone().isoformat()).check()
    cli("enqueue", "t", "--at", "+2h").check()
    times = sorted(t.next_process_at for t in inspector.list_tasks("default", "scheduled"))
    assert times[1] == when
    assert abs((times[0] - datetime.now(UTC)).total_seconds() - 7200) < 10


def test_time_without_zone_is_refused(cli, inspector):
    run = cli("enqueue", "t", "--at", "2030-01-02T10:00:00").check(2)
    assert "no time zone" in run.error
    assert inspector.queues() == []


def test_in_and_at_together_are_refused(cli):
    assert "not both" in cli("enqueue", "t", "--in", "5m", "--at", "+1h").check(2).error


def test_every_option_reaches_the_task(cli, inspector):
    deadline = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    args = [
        "enqueue",
        "t",
        "-q",
        "q1",
        "--id",
        "my-id",
        "--retention",
        "1h",
        "--deadline",
        deadline.isoformat(),
    ]
    args += ["--unique", "10m", "-H", "trace=abc", "--header", "k=v=w"]
    cli(*args).check()
    info = inspector.get_task_info("q1", "my-id")
    assert info.retention == timedelta(hours=1)
    assert info.deadline == deadline
    assert info.headers == {"trace": "abc", "k": "v=w"}
    assert info.unique_key


def test_group_makes_an_aggregating_task(cli, inspector):
    cli("enqueue", "t", "--group", "g1").check()
    assert [g.group for g in inspector.groups("default")] == ["g1"]
    assert only_task_in_group(inspector)


def only_task_in_group(inspector):
    return len(inspector.list_tasks("default", "aggregating", group="g1")) == 1


def test_bad_header(cli):
    assert "KEY=VALUE" in cli("enqueue", "t", "-H", "novalue").check(2).error


def test_duplicate_id_and_unique_are_conflicts(cli, inspector):
    cli("enqueue", "t", "--id", "x").check()
    assert "already used" in cli("enqueue", "t", "--id", "x").check(4).error
    cli("enqueue", "u", "--unique", "1h", "--payload", "1").check()
    assert "already exists" in cli("enqueue", "u", "--unique", "1h", "--payload", "1").check(4).error
    assert inspector.get_queue_info("default").size == 2


def test_invalid_queue_name_is_bad_input(cli, inspector):
    run = cli("enqueue", "t", "-q", "a{b}").check(2)
    assert "queue name" in run.error
    assert inspector.queues() == []


def test_type_or_batch_is_required(cli):
    assert "TYPE" in cli("enqueue").check(2).error
    assert "--batch" in cli("enqueue", "t", "--batch", "-").check(2).error


def write_lines(path, lines):
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return str(path)


def test_batch_from_file(cli, inspector, tmp_path):
    lines: list[dict[str, object]] = [{"type": "a", "payload": {"n": i}} for i in range(25)]
    lines.append({"type": "b", "queue": "other", "payload": "text", "in": "1h", "max_retry": 2})
    lines.append({"type": "c", "payload": "AAEC", "payload_encoding": "base64", "headers": {"h": "1"}})
    run = cli("enqueue", "--batch", write_lines(tmp_path / "t.ndjson", lines), "--batch-size", "10").check()
    ids = run.stdout.split()
    assert len(ids) == 27
    assert "enqueued 27 of 27 tasks" in run.stderr
    assert inspector.get_queue_info("default").size == 26
    other = inspector.get_task_info("other", ids[25])
    assert other.state is TaskState.SCHEDULED
    assert other.max_retry == 2
    assert bytes(other.payload) == b'"text"'
    binary = inspector.get_task_info("default", ids[26])
    assert bytes(binary.payload) == b"\x00\x01\x02"
    assert binary.headers == {"h": "1"}
    assert bytes(inspector.get_task_info("default", ids[3]).payload) == b'{"n":3}'


def test_batch_tasks_to_run_now_are_pending(cli, inspector):
    cli("enqueue", "--batch", "-", input='{"type": "a"}\n{"type": "b"}\n').check()
    assert inspector.get_queue_info("default").pending == 2


def test_batch_from_stdin_with_command_line_defaults(cli, inspector):
    text = '{"type": "a"}\n\n{"type": "b", "queue": "override"}\n'
    run = cli("enqueue", "--batch", "-", "-q", "fromflag", "--json").check()
    assert run.stdout == ""  # stdin was empty
    run = cli("enqueue", "--batch", "-", "-q", "fromflag", "--json", input=text).check()
    records = [json.loads(line) for line in run.stdout.splitlines()]
    assert [r["queue"] for r in records] == ["fromflag", "override"]


def test_batch_with_a_malformed_line_stores_nothing(cli, inspector, tmp_path):
    path = tmp_path / "bad.ndjson"
    path.write_text('{"type": "a"}\n{"type": "b", "payload": {\n{"type": "c"}\n')
    run = cli("enqueue", "--batch", str(path)).check(2)
    errors = run.stderr.splitlines()
    assert errors[0].startswith("error: line 2: not valid JSON")
    assert errors[1:] == ["error: 1 bad line in the batch; nothing was stored"]
    assert inspector.queues() == []


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"payload": 1}', "'type'"),
        ('{"type": "a", "bogus": 1}', "unknown key 'bogus'"),
        ('{"type": "a", "in": "soon"}', "invalid duration"),
        ('{"type": "a", "at": "2030-01-01T00:00:00"}', "no time zone"),
        ('{"type": "a", "max_retry": -1}', "max_retry"),
        ('{"type": "a", "unique": 0.5}', "unique"),
        ('{"type": "a", "headers": {"k": 1}}', "headers"),
        ('{"type": "a", "payload": "%%%", "payload_encoding": "base64"}', "base64"),
        ("[1, 2]", "JSON object"),
    ],
)
def test_batch_line_errors(cli, inspector, line, message):
    run = cli("enqueue", "--batch", "-", input='{"type": "ok"}\n' + line + "\n").check(2)
    first, summary = run.stderr.splitlines()
    assert first.startswith("error: line 2: ")
    assert message in first
    assert summary == "error: 1 bad line in the batch; nothing was stored"
    assert inspector.queues() == []


def test_batch_reports_each_duplicate_and_stores_the_rest(cli, inspector):
    cli("enqueue", "t", "--id", "taken").check()
    text = '{"type": "a"}\n{"type": "b", "id": "taken"}\n{"type": "c"}\n'
    run = cli("enqueue", "--batch", "-", input=text).check(4)
    assert run.error.startswith("error: line 2: task id 'taken' is already used")
    assert len(run.stdout.split()) == 2
    assert "enqueued 2 of 3 tasks; 1 failed" in run.stderr
    assert inspector.get_queue_info("default").size == 3


def test_batch_refuses_single_task_options(cli):
    assert "drop TYPE" in cli("enqueue", "t", "--batch", "-", input="").check(2).error
    assert "drop TYPE" in cli("enqueue", "--batch", "-", "--id", "x", input="").check(2).error
