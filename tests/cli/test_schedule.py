"""``asynq-py schedule add|ls|rm|history``, ``asynq-py scheduler`` and ``serve --schedules``.

The file commands are checked through the file itself (and the engine's reader of it); the running
scheduler through the engine's ``Inspector``, and as a real process stopped with SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from helpers import wait_for

from asynq_py.engine import Inspector, QueueNotFoundError, Scheduler, Task, TaskInfo, TomlScheduleSource

from .conftest import ASYNQ_PY

pytestmark = pytest.mark.real


def pending(inspector: Inspector, queue: str) -> list[TaskInfo]:
    try:
        return inspector.list_tasks(queue, "pending", page_size=1000)
    except QueueNotFoundError:
        return []


def processed(inspector: Inspector, queue: str) -> int:
    try:
        return inspector.get_queue_info(queue).processed
    except QueueNotFoundError:
        return 0


def records(run) -> list[dict[str, Any]]:
    return [json.loads(line) for line in run.stdout.splitlines()]


def schedule(cli, path: Path, *args: str, code: int = 0):
    """Run ``asynq-py schedule <command> --schedules PATH ...``."""
    command, *rest = args
    return cli("schedule", command, "--schedules", str(path), *rest).check(code)


@contextmanager
def process(env, *args: str, cwd: Path | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``asynq-py ARGS`` as a real process; it is killed at the end if it still runs."""
    proc = subprocess.Popen(
        [ASYNQ_PY, *args], env={**os.environ, **env}, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)


def terminate(proc: subprocess.Popen[bytes]) -> tuple[int, str, str]:
    """Send SIGTERM and return the exit code, stdout and stderr."""
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    return proc.returncode, out.decode(), err.decode()


# The file -------------------------------------------------------------------------------------------


def test_add_ls_rm_round_trip(cli, tmp_path):
    path = tmp_path / "conf" / "schedules.toml"
    ping = schedule(cli, path, "add", "@every 1m", "ping:tick").stdout.strip()
    run = schedule(
        cli, path, "add", "0 3 * * *", "report:nightly", "--id", "nightly", "-q", "reports",
        "--max-retry", "3", "--timeout", "10m", "--unique", "1h", "--retention", "2d",
        "--payload", '{"team": "ops", "sizes": [1, 2]}', "--json",
    )  # fmt: skip
    [added] = records(run)
    assert added["id"] == "nightly"
    assert added["status"] is None
    assert added["schedulers"] == []
    assert added["payload"] == '{"sizes":[1,2],"team":"ops"}'
    assert added["next_enqueue_at"].endswith("03:00:00Z")
    assert added["options"] == [
        "MaxRetry(3)", 'Queue("reports")', "Timeout(10m0s)", "Unique(1h0m0s)", "Retention(48h0m0s)"
    ]  # fmt: skip
    assert "added entry nightly" in run.stderr

    nightly = {
        "id": "nightly", "spec": "0 3 * * *", "type": "report:nightly", "queue": "reports", "max_retry": 3,
        "timeout": "10m0s", "unique": "1h0m0s", "retention": "48h0m0s",
        "payload": {"team": "ops", "sizes": [1, 2]},
    }  # fmt: skip
    text = path.read_text()
    assert text.startswith("# ")
    assert "[[schedule]]" in text
    assert tomllib.loads(text) == {"schedule": [{"spec": "@every 1m", "type": "ping:tick"}, nightly]}
    loaded = TomlScheduleSource(path).load()  # what the scheduler will read
    assert [c.entry_id for c in loaded] == [None, "nightly"]
    assert loaded[1].task.raw_payload == b'{"sizes":[1,2],"team":"ops"}'

    listed = records(schedule(cli, path, "ls", "--json"))
    assert [(e["id"], e["status"], e["spec"]) for e in listed] == [
        (ping, "not_running", "@every 1m"), ("nightly", "not_running", "0 3 * * *")
    ]  # fmt: skip
    assert listed[0]["next_enqueue_at"] is not None
    assert listed[0]["prev_enqueue_at"] is None
    table = schedule(cli, path, "ls").stdout
    assert "nightly" in table
    assert ping in table
    assert "not running" in table

    before = path.read_bytes()
    assert "already has the same entry" in schedule(cli, path, "add", "@every 1m", "ping:tick", code=4).error
    assert (
        "already has an entry with this id"
        in schedule(cli, path, "add", "@daily", "x", "--id", "nightly", code=4).error
    )
    assert "'nope'" in schedule(cli, path, "rm", "nightly", "nope", code=3).error
    assert path.read_bytes() == before

    run = schedule(cli, path, "rm", "nightly")
    assert run.stdout == ""
    assert "removed entry nightly" in run.stderr
    assert tomllib.loads(path.read_text()) == {"schedule": [{"spec": "@every 1m", "type": "ping:tick"}]}
    schedule(cli, path, "rm", ping)
    assert tomllib.loads(path.read_text()) == {}
    assert TomlScheduleSource(path).load() == []
    assert "no schedules file" in schedule(cli, tmp_path / "missing.toml", "rm", ping, code=3).error


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("61 * * * *", 'bad cron spec "61 * * * *": minute field "61" out of range 0-59'),
        ("0 24 * * *", 'hour field "24" out of range 0-23'),
        ("0 0 32 * *", 'day-of-month field "32" out of range 1-31'),
        ("0 0 * 13 *", 'month field "13" out of range 1-12'),
        ("0 0 * * 8", 'day-of-week field "8" out of range 0-7'),
        ("* * * *", "expected 5 fields"),
        ("@every 0s", "must be positive"),
        ("@fortnightly", 'unknown descriptor "@fortnightly"'),
    ],
)
def test_a_bad_spec_is_refused_and_nothing_is_written(cli, tmp_path, spec, message):
    path = tmp_path / "schedules.toml"
    assert message in schedule(cli, path, "add", spec, "report", code=2).error
    assert not path.exists()
    schedule(cli, path, "add", "@daily", "report")
    before = path.read_bytes()
    run = schedule(cli, path, "add", spec, "report", code=2)
    assert message in run.error
    assert run.stdout == ""
    assert path.read_bytes() == before


def test_other_bad_input_is_refused(cli, tmp_path):
    path = tmp_path / "schedules.toml"
    assert "at least 1s" in schedule(cli, path, "add", "@daily", "t", "--unique", "500ms", code=2).error
    assert "queue name" in schedule(cli, path, "add", "@daily", "t", "-q", "a{b}", code=2).error
    assert "not valid JSON" in schedule(cli, path, "add", "@daily", "t", "-p", "{", code=2).error
    binary = tmp_path / "payload.bin"
    binary.write_bytes(b"\xff\x00")
    assert "UTF-8" in schedule(cli, path, "add", "@daily", "t", "--raw", "-p", f"@{binary}", code=2).error
    assert not path.exists()


@pytest.mark.parametrize(
    ("args", "stored", "payload"),
    [
        (["-p", '{"b": 1, "a": {"c": [true]}}'], {"b": 1, "a": {"c": [True]}}, b'{"a":{"c":[true]},"b":1}'),
        (["-p", "[1, 2]"], [1, 2], b"[1,2]"),
        (["-p", '"hello"'], '"hello"', b'"hello"'),
        (["-p", '{"a": null}'], '{"a":null}', b'{"a":null}'),  # TOML has no null: kept as (canonical) text
        (["--raw", "-p", "plain text"], "plain text", b"plain text"),
        ([], None, None),
    ],
)
def test_payloads(cli, tmp_path, args, stored, payload):
    path = tmp_path / "schedules.toml"
    schedule(cli, path, "add", "@daily", "t", *args)
    [table] = tomllib.loads(path.read_text())["schedule"]
    assert table.get("payload") == stored
    assert TomlScheduleSource(path).load()[0].task.raw_payload == payload


def test_edits_keep_the_rest_of_the_file(cli, tmp_path):
    path = tmp_path / "schedules.toml"
    path.write_text(
        "# Our schedules\n\n"
        "# pings\n"
        '[[schedule]]\nspec = "@every 30s"  # often\ntype = "health:ping"\npayload = { target = "api" }\n\n'
        "# the report,\n# nightly\n"
        '[[schedule]]\nid = "nightly"\nspec = "0 3 * * *"\ntype = "report"\n\n'
        '[[schedule]]\nspec = "@hourly"\ntype = "tick"\n# the end\n'
    )
    path.chmod(0o640)
    schedule(cli, path, "rm", "nightly")
    assert path.read_text() == (
        "# Our schedules\n\n"
        "# pings\n"
        '[[schedule]]\nspec = "@every 30s"  # often\ntype = "health:ping"\npayload = { target = "api" }\n\n'
        '[[schedule]]\nspec = "@hourly"\ntype = "tick"\n# the end\n'
    )
    before = path.read_text()
    run = schedule(cli, path, "add", "@weekly", "sweep")
    assert path.read_text() == before + '\n[[schedule]]\nspec = "@weekly"\ntype = "sweep"\n'
    assert "rewritten" not in run.stderr
    assert path.stat().st_mode & 0o777 == 0o640

    link = tmp_path / "link.toml"
    link.symlink_to(path)
    sweep = records(schedule(cli, link, "ls", "--json"))[-1]["id"]
    schedule(cli, link, "rm", sweep)  # edits the file the link points to; the link stays
    assert link.is_symlink()
    assert path.read_text() == before

    inline = tmp_path / "inline.toml"
    inline.write_text('# mine\nschedule = [{ spec = "@daily", type = "a" }]\n')
    run = schedule(cli, inline, "add", "@weekly", "b")
    assert "rewritten whole" in run.stderr
    assert tomllib.loads(inline.read_text())["schedule"] == [
        {"spec": "@daily", "type": "a"}, {"spec": "@weekly", "type": "b"}
    ]  # fmt: skip


def test_edits_at_the_same_time_take_turns(env, tmp_path):
    path = tmp_path / "schedules.toml"
    procs = [
        subprocess.Popen(
            [ASYNQ_PY, "schedule", "add", "--schedules", str(path), "@daily", f"job:{n}"],
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for n in range(6)
    ]
    try:
        results = [proc.communicate(timeout=60) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=10)
    assert [proc.returncode for proc in procs] == [0] * 6, results
    types = sorted(t["type"] for t in tomllib.loads(path.read_text())["schedule"])
    assert types == [f"job:{n}" for n in range(6)]
    assert [p.name for p in tmp_path.iterdir()] == ["schedules.toml"]  # no temporary files left


def test_a_bad_file_is_named(cli, tmp_path):
    path = tmp_path / "schedules.toml"
    path.write_text('[[schedule]]\nspec = "@daily"\ntype = "a"\ncolour = "red"\n')
    assert "unknown keys ['colour']" in schedule(cli, path, "ls", code=2).error
    assert "unknown keys ['colour']" in schedule(cli, path, "add", "@daily", "b", code=2).error
    twice = '[[schedule]]\nid = "x"\nspec = "@daily"\ntype = "a"\n'
    path.write_text(twice + "\n" + twice.replace("@daily", "@hourly"))
    assert "#2: entry id 'x' is used by #1 too" in schedule(cli, path, "ls", code=2).error
    path.write_bytes(b"\xff")
    assert "not UTF-8" in schedule(cli, path, "ls", code=2).error


def test_the_schedules_file_setting(cli, env, monkeypatch, tmp_path):
    folder = Path(env["XDG_CONFIG_HOME"]) / "asynq-py"

    def shown():
        record = json.loads(cli("config", "show", "--json").check().stdout)
        return record["schedules_path"], record["schedules_path_source"]

    assert shown() == (str(folder / "schedules.toml"), "default")
    cli("schedule", "add", "@daily", "a").check()
    assert tomllib.loads((folder / "schedules.toml").read_text())["schedule"][0]["type"] == "a"
    (folder / "config.toml").write_text('schedules = "more/mine.toml"\n')
    assert shown() == (str(folder / "more" / "mine.toml"), "config file")
    cli("schedule", "add", "@daily", "b").check()
    assert (folder / "more" / "mine.toml").is_file()
    monkeypatch.setenv("ASYNQ_SCHEDULES", str(tmp_path / "env.toml"))
    assert shown() == (str(tmp_path / "env.toml"), "ASYNQ_SCHEDULES")
    assert records(cli("schedule", "ls", "--json").check()) == []
    flagged = records(cli("schedule", "ls", "--json", "--schedules", str(folder / "schedules.toml")).check())
    assert [e["type"] for e in flagged] == ["a"]
    monkeypatch.delenv("ASYNQ_SCHEDULES")
    (folder / "config.toml").write_text("schedules = 5\n")
    assert "'schedules' must be a path" in cli("schedule", "ls").check(2).error


# Live schedulers ------------------------------------------------------------------------------------


def test_ls_joins_the_file_with_live_schedulers(cli, tmp_path, real_redis_url, r):
    path = tmp_path / "schedules.toml"
    ping = schedule(cli, path, "add", "@every 1s", "ping:tick").stdout.strip()
    schedule(cli, path, "add", "@daily", "report", "--id", "nightly")
    idle = schedule(cli, path, "add", "@hourly", "idle").stdout.strip()
    live = Scheduler(real_redis_url, heartbeat_interval_s=0.2)
    assert live.register("@every 1s", Task("ping:tick")) == ping  # the same entry has the same id
    live.register("@weekly", Task("report"), entry_id="nightly")  # an older version of the file's
    live.register("@every 1h", Task("other"), entry_id="elsewhere")
    live.start()
    try:

        def ping_fired():
            found = {e["id"]: e for e in records(schedule(cli, path, "ls", "--json"))}
            return found if found[ping]["prev_enqueue_at"] else None

        found = wait_for(ping_fired, what="a published previous run", timeout=20)
        assert list(found) == [ping, "nightly", idle, "elsewhere"]
        assert [found[i]["status"] for i in found] == ["running", "outdated", "not_running", "not_in_file"]
        assert found[ping]["schedulers"] == [live.scheduler_id]
        assert found[idle]["schedulers"] == []
        assert found[ping]["next_enqueue_at"] is not None
        assert found["nightly"]["spec"] == "@daily"  # the file's version
        assert found["elsewhere"]["spec"] == "@every 1h"
        table = schedule(cli, path, "ls").stdout
        for text in (
            "running",
            "outdated",
            "not running",
            "not in file",
            live.scheduler_id.rpartition(":")[0],
        ):
            assert text in table
    finally:
        live.shutdown()


def test_scheduler_process_enqueues_and_stops_on_sigterm(cli, env, tmp_path, inspector: Inspector):
    path = tmp_path / "schedules.toml"
    ping = schedule(cli, path, "add", "@every 1s", "ping:tick", "-q", "pings").stdout.strip()
    with process(env, "scheduler", "--schedules", str(path), "--sync-interval", "1s") as proc:
        tasks = wait_for(lambda: pending(inspector, "pings"), what="enqueued tasks", timeout=20)
        assert all(t.type == "ping:tick" and t.id.startswith(f"{ping}:") for t in tasks)
        wait_for(lambda: len(pending(inspector, "pings")) >= 3, what="3 tasks", timeout=20)

        [live] = inspector.scheduler_entries()
        assert live.id == ping
        assert f":{proc.pid}:" in live.scheduler_id

        def listed_with_prev():
            [entry] = records(schedule(cli, path, "ls", "--json"))
            return entry if entry["prev_enqueue_at"] else None

        entry = wait_for(listed_with_prev, what="the previous run in `schedule ls`", timeout=20)
        assert entry["status"] == "running"
        assert entry["schedulers"] == [live.scheduler_id]
        assert entry["next_enqueue_at"] > entry["prev_enqueue_at"]
        assert "running" in schedule(cli, path, "ls").stdout

        events = records(cli("schedule", "history", ping, "--limit", "2", "--json").check())
        assert len(events) == 2
        assert all(e["entry_id"] == ping for e in events)
        assert events[0]["enqueued_at"] >= events[1]["enqueued_at"]
        assert {e["task_id"] for e in events} <= {t.id for t in pending(inspector, "pings")}
        assert ping in cli("schedule", "history", ping).check().stdout

        added = schedule(cli, path, "add", "@hourly", "sweep").stdout.strip()  # picked up by the next sync
        wait_for(
            lambda: added in {e.id for e in inspector.scheduler_entries()},
            what="the reloaded file",
            timeout=20,
        )

        code, out, err = terminate(proc)
    assert code == 0, err
    assert out == ""  # logs go to stderr only
    assert "started with 1 entries" in err
    assert "Traceback" not in err
    assert inspector.scheduler_entries() == []


def test_scheduler_refuses_what_it_cannot_run(cli, tmp_path):
    missing = tmp_path / "missing.toml"
    assert "schedule add' creates it" in cli("scheduler", "--schedules", str(missing)).check(3).error
    bad = tmp_path / "bad.toml"
    bad.write_text('[[schedule]]\nspec = "61 * * * *"\ntype = "a"\n')
    error = cli("scheduler", "--schedules", str(bad)).check(2).error
    assert "key 'spec'" in error
    assert 'minute field "61"' in error
    bad.write_text('[[schedule]]\nspec = "@daily"\ntype = "a"\n')
    assert (
        "--sync-interval" in cli("scheduler", "--schedules", str(bad), "--sync-interval", "0s").check(2).error
    )
    assert "--log-level" in cli("scheduler", "--schedules", str(bad), "--log-level", "loud").check(2).error
    assert (
        "--sync-interval"
        in cli("serve", "x:y", "--schedules", str(bad), "--sync-interval", "soon").check(2).error
    )


APP = """
from asynq_py.engine import ServeMux

mux = ServeMux()


@mux.handle_func("ping:")
def ping(ctx, task):
    return None
"""


def test_serve_with_schedules_runs_the_worker_and_the_scheduler(cli, env, tmp_path, inspector: Inspector):
    (tmp_path / "pingapp.py").write_text(APP)
    path = tmp_path / "schedules.toml"
    ping = schedule(cli, path, "add", "@every 1s", "ping:tick").stdout.strip()
    args = (
        "serve",
        "pingapp.py:mux",
        "--schedules",
        str(path),
        "--concurrency",
        "2",
        "--shutdown-timeout",
        "2s",
    )
    with process(env, *args, cwd=tmp_path) as proc:
        [server] = wait_for(
            lambda: [s for s in inspector.servers() if s.pid == proc.pid], what="the server", timeout=20
        )
        assert server.concurrency == 2
        [live] = inspector.scheduler_entries()
        assert live.id == ping
        assert f":{proc.pid}:" in live.scheduler_id
        wait_for(lambda: processed(inspector, "default") >= 2, what="processed ticks", timeout=20)
        code, out, err = terminate(proc)
    assert code == 0, err
    assert out == ""
    assert "Traceback" not in err
    assert "scheduling 1 entries" in err
    assert inspector.scheduler_entries() == []
    assert [s for s in inspector.servers() if s.pid == proc.pid] == []
