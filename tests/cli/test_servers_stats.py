"""``servers``, ``stats`` and ``cron``: heartbeats, the overview, and scheduler entries."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from datetime import UTC, datetime, timedelta

import pytest

from asynq_py.engine import Task, keys, rdb, wire
from asynq_py.engine.broker import Broker

from .conftest import ASYNQ_PY

pytestmark = pytest.mark.real


def beat(url, host="web-1", pid=4242, workers=()):
    """Write a server heartbeat (and its workers) the way a running server does."""
    now = time.time()
    started = datetime.now(UTC) - timedelta(minutes=5)
    info = wire.ServerInfo(
        host, pid, "sid-1", 10, {"critical": 6, "default": 3}, False, "active", started, len(workers)
    )
    encoded = {
        w: wire.encode_worker_info(
            wire.WorkerInfo(
                host,
                pid,
                "sid-1",
                w,
                "email:send",
                b'{"to":"x"}',
                "default",
                started,
                started + timedelta(hours=1),
            )
        )
        for w in workers
    }
    broker = Broker(url)
    try:
        plan = rdb.write_server_state(
            keys.server_info_key(host, pid, "sid-1"),
            keys.workers_key(host, pid, "sid-1"),
            wire.encode_server_info(info),
            encoded,
            now=now,
            ttl_s=30,
        )
        broker.run(plan)
    finally:
        broker.close()


def test_servers_none(cli, r):
    run = cli("servers").check()
    assert run.stdout == ""
    assert "no servers" in run.stderr
    assert cli("servers", "--json").check().stdout == ""


def test_servers_table_json_and_workers(cli, r, real_redis_url):
    beat(real_redis_url, workers=("t1", "t2"))
    out = cli("servers").check().stdout
    assert "web-1" in out
    assert "4242" in out
    assert "2/10" in out
    assert "critical:6 default:3" in out
    # The seeded times are fixed; the command runs a few seconds later on a loaded machine.
    assert re.search(r"\b5m(\ds)? ago", out)
    out = cli("servers", "--workers").check().stdout
    assert "t1" in out
    assert "email:send" in out
    assert re.search(r"in 5[45]m", out)
    (record,) = [json.loads(line) for line in cli("servers", "--json").check().stdout.splitlines()]
    assert record["host"] == "web-1"
    assert record["active_workers"] == 2
    assert record["queues"] == {"critical": 6, "default": 3}
    assert sorted(w["task_id"] for w in record["workers"]) == ["t1", "t2"]


def test_servers_watch_with_count(cli, r, real_redis_url):
    beat(real_redis_url)
    run = cli("servers", "--watch", "--interval", "10ms", "--count", "3", "--json").check()
    assert len(run.stdout.splitlines()) == 3


def test_stats(cli, client):
    client.enqueue(Task("a"), queue="q1")
    client.enqueue_in(600, Task("a"), queue="q2")
    record = json.loads(cli("stats", "--json").check().stdout)
    assert record["aggregate"]["pending"] == 1
    assert record["aggregate"]["scheduled"] == 1
    assert record["aggregate"]["size"] == 2
    assert [q["queue"] for q in record["queues"]] == ["q1", "q2"]
    assert "redis_version" in record["redis"]
    out = cli("stats").check().stdout
    for text in ("Tasks by state", "Today", "Redis", "redis_version", "q2"):
        assert text in out


def test_stats_watch_json_lines(cli, client):
    run = cli("stats", "--watch", "--count", "2", "--interval", "0.01s", "--json").check()
    assert [json.loads(line)["aggregate"]["size"] for line in run.stdout.splitlines()] == [0, 0]


def test_cron_entries_and_history(cli, r):
    entry = wire.SchedulerEntry(
        "entry-1",
        "@every 30s",
        "report",
        b"{}",
        ('Queue("critical")',),
        datetime.now(UTC) + timedelta(seconds=20),
        None,
    )
    r.rpush("asynq:schedulers:{sched-1}", wire.encode_scheduler_entry(entry))
    r.zadd("asynq:schedulers", {"asynq:schedulers:{sched-1}": time.time() + 30})
    event = wire.SchedulerEnqueueEvent("task-9", datetime.now(UTC) - timedelta(minutes=1))
    r.zadd(keys.scheduler_history_key("entry-1"), {wire.encode_scheduler_event(event): time.time() - 60})
    out = cli("cron", "ls").check().stdout
    assert "@every 30s" in out
    assert "never" in out
    assert "in 19s" in out or "in 20s" in out
    (record,) = [json.loads(line) for line in cli("cron", "ls", "--json").check().stdout.splitlines()]
    assert record["options"] == ['Queue("critical")']
    assert record["prev_enqueue_at"] is None
    (event_record,) = [
        json.loads(line) for line in cli("cron", "history", "entry-1", "--json").check().stdout.splitlines()
    ]
    assert event_record["task_id"] == "task-9"
    assert re.search(r"\b1m(\ds)? ago", cli("cron", "history", "entry-1").check().stdout)


def test_cron_ls_shows_the_true_next_run_when_the_heartbeat_is_older(env, r):
    entry = wire.SchedulerEntry(
        "stale-1", "@every 30s", "report", b"{}", (), datetime.now(UTC) - timedelta(seconds=3), None
    )
    r.rpush("asynq:schedulers:{sched-2}", wire.encode_scheduler_entry(entry))
    r.zadd("asynq:schedulers", {"asynq:schedulers:{sched-2}": time.time() + 30})
    done = subprocess.run(
        [ASYNQ_PY, "cron", "ls"], capture_output=True, text=True, timeout=60, env={**os.environ, **env}
    )
    assert done.returncode == 0, done.stderr
    (row,) = [line for line in done.stdout.splitlines() if "stale-1" in line]
    assert "ago" not in row, row
    assert re.search(r"\bin (\d+s|now)\b|\bnow\b", row), row
