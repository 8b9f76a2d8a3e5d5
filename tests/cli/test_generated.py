"""Generated files stay current: shell completions and docs/cli.md; and the JSON schemas hold."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from asynq_py.cli import docgen, schema
from asynq_py.cli.config import CONFIG_SCHEMA, config_record
from asynq_py.engine import (
    DailyStats,
    GroupInfo,
    Limit,
    LimitsInfo,
    Payload,
    QueueInfo,
    QueueLimits,
    Rate,
    SchedulerEnqueueEvent,
    SchedulerEntryInfo,
    ServerInfo,
    TaskInfo,
    TaskLimitInfo,
    TaskState,
    WorkerInfo,
)
from asynq_py.engine.settings import resolve

ROOT = Path(__file__).resolve().parents[2]
ASYNQ_PY = str(Path(sys.executable).with_name("asynq-py"))


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_are_current(shell):
    done = subprocess.run(
        [ASYNQ_PY, "--show-completion", shell],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"},
    )
    assert done.returncode == 0, done.stderr
    committed = (ROOT / "completions" / f"asynq-py.{shell}").read_text()
    assert done.stdout == committed, "completions drifted: run `make completions`"


def complete(words, cword, url):
    env = {
        **os.environ,
        "_ASYNQ_PY_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(cword),
        "ASYNQ_REDIS_URL": url,
    }
    done = subprocess.run([ASYNQ_PY], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


@pytest.mark.real
def test_queue_names_and_states_complete(r, client, real_redis_url):
    from asynq_py.engine import Task

    client.enqueue(Task("a"), queue="mail")
    client.enqueue(Task("a"), queue="media")
    client.enqueue(Task("a"), queue="other")
    assert complete("asynq-py ls pending -q m", 4, real_redis_url) == ["mail", "media"]
    assert complete("asynq-py pause ", 2, real_redis_url) == ["mail", "media", "other"]
    assert complete("asynq-py ls a", 2, real_redis_url) == ["active", "archived", "aggregating"]


def test_completion_gives_up_quickly_on_a_server_that_never_answers():
    # A listening socket that is never accepted: the kernel completes the TCP handshake, so the
    # completer connects and then waits for a reply that never comes (its socket timeout). The
    # same completion against a refused port costs the same start-up without the wait.
    with socket.socket() as silent, socket.socket() as closed:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        closed.bind(("127.0.0.1", 0))
        start = time.monotonic()
        assert complete("asynq-py pause ", 2, f"redis://127.0.0.1:{closed.getsockname()[1]}/0") == []
        refused = time.monotonic() - start
        start = time.monotonic()
        assert complete("asynq-py pause ", 2, f"redis://127.0.0.1:{silent.getsockname()[1]}/0") == []
        waited = time.monotonic() - start
        silent.setblocking(False)
        connection, _ = silent.accept()  # the completer did connect: this exercised the timeout
        connection.close()
    assert waited - refused < 3.0  # about COMPLETION_TIMEOUT_S, not the default socket timeouts


def test_docs_are_current():
    committed = (ROOT / "docs" / "cli.md").read_text()
    assert docgen.generate() == committed, (
        "docs/cli.md drifted: run `python -m asynq_py.cli.docgen docs/cli.md`"
    )


NOW = datetime(2026, 1, 2, 15, 4, 5, tzinfo=UTC)


def sample_records():
    task = TaskInfo(
        id="id",
        queue="q",
        type="t",
        payload=Payload(b"\xff"),
        headers={"h": "v"},
        state=TaskState.COMPLETED,
        max_retry=3,
        retried=1,
        last_error="err",
        last_failed_at=NOW,
        timeout=timedelta(seconds=5),
        deadline=NOW,
        group="g",
        next_process_at=NOW,
        retention=timedelta(hours=1),
        completed_at=NOW,
        result=b"ok",
    )
    queue = QueueInfo("q", 10, timedelta(seconds=1.5), 3, 0, 1, 1, 1, 0, 0, 0, 0, 4, 1, 9, 2, False, NOW)
    worker = WorkerInfo("id", "t", b"{}", "q", NOW, NOW)
    server = ServerInfo("sid", "host", 1, 10, {"q": 1}, False, NOW, "active", [worker])
    entry = SchedulerEntryInfo("e", "@every 1s", "t", b"", ('Queue("q")',), NOW, None)
    type_limit = TaskLimitInfo("pdf", Limit(concurrency=2), 1, 3, None)
    limits = LimitsInfo(
        "q",
        QueueLimits(rate=Rate(100, 60_000, 5), types={"pdf": Limit(2)}),
        4,
        250,
        [type_limit],
        1,
        9,
        [server],
        NOW,
    )
    return {
        "task": schema.task_record(task),
        "queue": schema.queue_record(queue),
        "daily": schema.daily_record(DailyStats("q", 4, 1, date(2026, 1, 2))),
        "group": schema.group_record("q", GroupInfo("g", 2)),
        "server": schema.server_record(server, None),
        "worker": schema.worker_record(worker),
        "stats": schema.stats_record([queue], None, NOW),
        "cron_entry": schema.cron_entry_record(entry),
        "cron_event": schema.cron_event_record("e", SchedulerEnqueueEvent("id", NOW)),
        "schedule_entry": schema.schedule_entry_record(entry, "running", ["host:1:uuid"], NOW, None),
        "limits": schema.limits_record(limits),
        "type_limit": schema.type_limit_record(type_limit),
        "config": config_record(
            resolve(redis=None, password=None, config=None, env={}, home=Path("/home/x"))
        ),
    }


def test_records_have_exactly_the_documented_fields():
    records = sample_records()
    for documented in (*schema.SCHEMAS, CONFIG_SCHEMA):
        assert list(records[documented.name]) == [f.name for f in documented.fields], documented.name


def test_record_values():
    records = sample_records()
    task = records["task"]
    assert task["payload"] == "/w=="
    assert task["payload_encoding"] == "base64"
    assert task["result"] == "ok"
    assert task["result_encoding"] == "utf-8"
    assert task["completed_at"] == "2026-01-02T15:04:05Z"
    assert task["timeout_s"] == 5
    assert task["retention_s"] == 3600
    assert records["queue"]["latency_s"] == 1.5
    assert records["queue"]["error_rate"] == 0.25
    assert records["stats"]["aggregate"]["size"] == 3
    assert records["cron_entry"]["prev_enqueue_at"] is None
    assert records["schedule_entry"]["schedulers"] == ["host:1:uuid"]
    assert records["schedule_entry"]["next_enqueue_at"] == "2026-01-02T15:04:05Z"
    assert records["limits"]["rate"] == {"count": 100, "period_ms": 60_000, "burst": 5, "text": "100/m"}
    assert records["limits"]["unenforced_by"] == ["host:1:sid"]
    assert records["limits"]["types"] == [records["type_limit"]]
    assert records["type_limit"]["rate"] is None
