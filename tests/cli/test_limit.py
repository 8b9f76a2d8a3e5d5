"""``limit set|ls|rm``: change and list flow-control limits; one-line errors with their exit codes."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from asynq_py.engine import Limit, QueueLimits, Rate, keys, rdb, wire
from asynq_py.engine.broker import Broker

pytestmark = pytest.mark.real

LONG_QUEUE = "finance-reports-monthly-closing-q"
LONG_TYPE = "report:pdf:consolidated-balance-sheet"


def go_server(r, queues: dict[str, int]) -> None:
    """A live Go server: a heartbeat without the asynq-py marker."""
    info = wire.ServerInfo("go-box", 99, "go-sid", 10, queues, False, "active", datetime.now(UTC), 0)
    server_keys = (keys.server_info_key("go-box", 99, "go-sid"), keys.workers_key("go-box", 99, "go-sid"))
    Broker(r).run(
        rdb.write_server_state(*server_keys, wire.encode_server_info(info), {}, now=time.time(), ttl_s=30)
    )


def test_set_partial_updates_and_notes(cli, inspector):
    run = cli("limit", "set", "api", "--rate", "100/m").check()
    assert run.stdout == ""
    assert "limited queue api: rate 100/m" in run.stderr
    cli("limit", "set", "api", "--concurrency", "4", "--burst", "10").check()
    run = cli("limit", "set", "api", "--type", "report:pdf", "-c", "2").check()
    assert "limited type report:pdf in queue api: concurrency 2" in run.stderr
    assert inspector.get_queue_limits("api").limits == QueueLimits(
        4, Rate(100, 60_000, 10), {"report:pdf": Limit(concurrency=2)}
    )


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (("limit", "set", "q"), 2, "give a concurrency, a rate or a burst"),
        (("limit", "set", "q", "--rate", "10/d"), 2, "bad rate '10/d': use N/s, N/m or N/h"),
        (("limit", "set", "q", "--rate", "0/s"), 2, "rate must be from 1"),
        (("limit", "set", "q", "--concurrency", "0"), 2, "concurrency must be from 1"),
        (("limit", "set", "q", "--concurrency", "two"), 2, "'two' is not a valid int"),
        (("limit", "set", "q", "--burst", "3"), 2, "a burst needs a rate"),
        (("limit", "set", "q{x}", "-c", "1"), 2, "must not contain"),
        (("limit", "rm", "q"), 3, "queue 'q' has no limits"),
        (("limit", "rm", "q", "--type", "t"), 3, "queue 'q' has no limits for type 't'"),
    ],
)
def test_bad_input_is_one_line_with_its_exit_code(cli, r, args, code, needle):
    run = cli(*args).check(code)
    assert needle in run.error
    assert run.stdout == ""


def test_corrupt_limits_exit_1_and_rm_clears_them(cli, r):
    r.sadd(keys.ALL_QUEUES, "q")
    r.hset(keys.limits_key("q"), "concurrency", "many")
    assert "field 'concurrency' is 'many'" in cli("limit", "ls").check(1).error
    cli("limit", "rm", "q").check()
    cli("limit", "ls").check()


def test_ls_table_keeps_long_names_whole_and_json_has_every_figure(cli, inspector, r, monkeypatch):
    inspector.set_queue_limits(LONG_QUEUE, concurrency=2, rate="5/s", burst=3)
    inspector.set_queue_limits(LONG_QUEUE, task_type=LONG_TYPE, concurrency=1)
    r.lpush(keys.parked_key(LONG_QUEUE, LONG_TYPE), "p1", "p2")
    r.sadd(keys.parked_types_key(LONG_QUEUE), LONG_TYPE)
    r.set(keys.throttled_total_key(LONG_QUEUE), 7)
    r.set(keys.throttled_key(LONG_QUEUE, datetime.now(UTC)), 3)
    r.sadd(keys.ALL_QUEUES, "plain")
    monkeypatch.setenv("COLUMNS", "80")
    out = cli("limit", "ls").check().stdout
    assert LONG_QUEUE in out
    assert LONG_TYPE in out
    monkeypatch.setenv("COLUMNS", "250")
    wide = cli("limit", "ls").check().stdout
    row = next(line for line in wide.splitlines() if LONG_QUEUE in line and LONG_TYPE not in line)
    assert "0/2" in row
    assert "5/s burst 3" in row
    assert "now" in row
    type_row = next(line for line in wide.splitlines() if LONG_TYPE in line)
    assert "0/1" in type_row
    assert " 2 " in type_row  # parked
    records = [json.loads(line) for line in cli("limit", "ls", "--json").check().stdout.splitlines()]
    assert [rec["queue"] for rec in records] == [LONG_QUEUE, "plain"]
    first = records[0]
    assert (first["concurrency"], first["active"], first["throttled"], first["throttled_total"]) == (
        2,
        0,
        3,
        7,
    )
    assert first["rate"] == {"count": 5, "period_ms": 1000, "burst": 3, "text": "5/s"}
    assert first["next_slot_in_ms"] == 0
    assert first["types"] == [
        {"type": LONG_TYPE, "concurrency": 1, "active": 0, "parked": 2, "rate": None, "next_slot_in_ms": None}
    ]
    assert records[1]["rate"] is None
    only = [
        json.loads(line) for line in cli("limit", "ls", "-q", "plain", "--json").check().stdout.splitlines()
    ]
    assert [rec["queue"] for rec in only] == ["plain"]


def test_ls_warns_when_a_go_server_serves_a_limited_queue(cli, inspector, r):
    inspector.set_queue_limits("limited", concurrency=1)
    r.sadd(keys.ALL_QUEUES, "free")
    go_server(r, {"limited": 1, "free": 1})
    run = cli("limit", "ls").check()
    warnings = [line for line in run.stderr.splitlines() if line.startswith("warning: ")]
    assert warnings == [
        "warning: server go-box:99:go-sid serves limited queue limited without enforcing its limits "
        "(a Go asynq server, which does not know them)"
    ]
    records = [json.loads(line) for line in cli("limit", "ls", "--json").check().stdout.splitlines()]
    assert [rec["unenforced_by"] for rec in records] == [["go-box:99:go-sid"], ["go-box:99:go-sid"]]


def test_rm_a_type_then_the_queue(cli, inspector):
    inspector.set_queue_limits("q", concurrency=3)
    inspector.set_queue_limits("q", task_type="t", rate="1/s")
    run = cli("limit", "rm", "q", "--type", "t").check()
    assert "removed the limit of type t in queue q" in run.stderr
    assert inspector.get_queue_limits("q").limits == QueueLimits(concurrency=3)
    run = cli("limit", "rm", "q").check()
    assert "removed the limits of queue q" in run.stderr
    assert inspector.get_queue_limits("q").limits.is_empty


def test_ls_without_queues(cli, r):
    run = cli("limit", "ls").check()
    assert (run.stdout, run.stderr.strip()) == ("", "no queues")
