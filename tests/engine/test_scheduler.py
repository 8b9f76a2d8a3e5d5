"""Scheduler: spec parsing, entry ids, TOML schedules, and firing/history/HA on a real Redis."""

from __future__ import annotations

import asyncio
import logging
import math
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from helpers import wait_for

from asynq_py.engine import Inspector, LifecycleError, SimulatedClock, Task, TaskState, ValidationError, keys
from asynq_py.engine.cron import parse_spec
from asynq_py.engine.errors import RedisUnavailableError
from asynq_py.engine.periodic_manager import PeriodicTaskManager, TomlScheduleSource
from asynq_py.engine.scheduler import DEDUPE_MIN_RETENTION_S, Scheduler, _due_tick
from asynq_py.engine.wire import SchedulerEnqueueEvent, decode_scheduler_entry, encode_scheduler_event

UNREACHABLE = "redis://127.0.0.1:9/0"
"""Registering needs no Redis; nothing listens on the discard port."""


def ts(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


# Spec parsing ---------------------------------------------------------------------------------

# Wednesday 2024-01-03 10:15:30 UTC
T0 = ts(2024, 1, 3, 10, 15, 30)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("@yearly", ts(2025, 1, 1)),
        ("@annually", ts(2025, 1, 1)),
        ("@monthly", ts(2024, 2, 1)),
        ("@weekly", ts(2024, 1, 7)),
        ("@daily", ts(2024, 1, 4)),
        ("@midnight", ts(2024, 1, 4)),
        ("@hourly", ts(2024, 1, 3, 11)),
        ("*/20 * * * *", ts(2024, 1, 3, 10, 20)),
        ("0 9 * * MON-FRI", ts(2024, 1, 4, 9)),
        ("0 0 ? * *", ts(2024, 1, 4)),
        ("15 10 3 JAN *", ts(2025, 1, 3, 10, 15)),
    ],
)
def test_next_after(spec: str, expected: float) -> None:
    assert parse_spec(spec).next_after(T0) == expected


def test_descriptors_equal_their_expressions() -> None:
    assert (
        parse_spec("@daily").canonical
        == parse_spec("@midnight").canonical
        == parse_spec("0 0 * * *").canonical
    )
    assert parse_spec("@yearly").canonical == parse_spec("@annually").canonical


def test_every_counts_from_the_epoch_in_whole_seconds() -> None:
    s = parse_spec("@every 1m30s")
    assert s.every_s == 90
    assert s.expression is None
    nxt = s.next_after(T0)
    assert nxt % 90 == 0
    assert T0 < nxt <= T0 + 90
    assert s.next_after(nxt) == nxt + 90  # strictly after
    assert parse_spec("@every 500ms").every_s == 1  # robfig rounds up to a second
    assert parse_spec("@every 2.9s").every_s == 2  # and truncates
    assert parse_spec("TZ=Asia/Tokyo @every 1h").next_after(T0) == ts(2024, 1, 3, 11)


def test_time_zone_prefix_and_location() -> None:
    winter, summer = ts(2024, 1, 2, 12), ts(2024, 7, 3)
    ny = parse_spec("CRON_TZ=America/New_York 0 9 * * *")
    assert ny.next_after(winter) == ts(2024, 1, 2, 14)
    assert ny.next_after(summer) == ts(2024, 7, 3, 13)
    assert parse_spec("TZ=America/New_York 0 9 * * *").next_after(summer) == ts(2024, 7, 3, 13)
    assert parse_spec("0 9 * * *", "Asia/Tokyo").next_after(winter) == ts(2024, 1, 3, 0)
    assert parse_spec("TZ=UTC 0 9 * * *", "Asia/Tokyo").next_after(winter) == ts(2024, 1, 3, 9)
    assert parse_spec("TZ=Europe/Berlin @daily").canonical == "Europe/Berlin 0 0 * * *"


def test_daylight_saving_follows_debian_cron() -> None:
    skipped = parse_spec("CRON_TZ=America/New_York 30 2 * * *")  # 02:30 does not exist on 2024-03-10
    assert skipped.next_after(ts(2024, 3, 9, 12)) == ts(2024, 3, 10, 7)  # 03:00 EDT, right after the jump
    repeated = parse_spec("CRON_TZ=America/New_York 30 1 * * *")  # 01:30 happens twice on 2024-11-03
    first = repeated.next_after(ts(2024, 11, 2, 12))
    assert first == ts(2024, 11, 3, 5, 30)
    assert repeated.next_after(first) == ts(2024, 11, 4, 6, 30)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("61 * * * *", 'bad cron spec "61 * * * *": minute field "61" out of range 0-59'),
        ("* 24 * * *", 'hour field "24" out of range 0-23'),
        ("* * 0 * *", 'day-of-month field "0" out of range 1-31'),
        ("* * * 13 *", 'month field "13" out of range 1-12'),
        ("* * * * 9", 'day-of-week field "9" out of range 0-7'),
        ("1-70 * * * *", 'minute field "1-70" out of range 0-59'),
        ("*/x * * * *", 'minute field "*/x" is not valid'),
        ("* * * * FUNDAY", 'day-of-week field "FUNDAY" is not valid (want 0-7 or SUN-SAT'),
        ("0 0 31 2 *", 'day-of-month field "31" never occurs in month field "2"'),
        ("* * * *", "expected 5 fields"),
        ("0 * * * * *", "expected 5 fields (minute hour day-of-month month day-of-week), found 6"),
        ("", "empty spec"),
        ("TZ=UTC", "empty spec"),
        ("@fortnightly", 'unknown descriptor "@fortnightly"'),
        ("@every", "@every needs a duration"),
        ("@every 0s", 'duration "0s" must be positive'),
        ("@every -5m", 'duration "-5m" must be positive'),
        ("@every 5 minutes", "in duration"),
        ("CRON_TZ=Mars/Olympus 0 * * * *", 'unknown time zone "Mars/Olympus"'),
    ],
)
def test_bad_specs_name_the_bad_part(spec: str, message: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse_spec(spec)
    assert message in str(err.value)
    assert str(err.value).startswith("bad cron spec ")


def test_due_tick_coalesces_late_ticks() -> None:
    every = parse_spec("@every 10s")
    assert _due_tick(every, 100.0, 100.0) == (100.0, 0)
    assert _due_tick(every, 100.0, 135.5) == (130.0, 3)
    minutely = parse_spec("* * * * *")
    start = ts(2024, 1, 3, 10, 0)
    assert _due_tick(minutely, start, start + 59) == (start, 0)
    assert _due_tick(minutely, start, start + 185) == (start + 180, 3)
    assert _due_tick(minutely, start, start + 60 * 20_000) is None  # too far: resynchronize


# Entries (no Redis needed) ---------------------------------------------------------------------


def test_entry_ids_are_derived_from_content() -> None:
    a, b = Scheduler(UNREACHABLE), Scheduler(UNREACHABLE)
    task = Task("report", {"team": "ops"})
    first = a.register("@daily", task, queue="reports", timeout=600)
    assert (
        b.register(
            "0 0 * * *", Task("report", {"team": "ops"}), queue="reports", timeout=timedelta(minutes=10)
        )
        == first
    )
    assert uuid.UUID(first).version == 5
    assert a.register("@daily", Task("report", {"team": "dev"}), queue="reports", timeout=600) != first
    assert a.register("@hourly", task, queue="reports", timeout=600) != first
    assert a.register("@daily", task, queue="other", timeout=600) != first
    assert a.register("@daily", task, entry_id="nightly-report") == "nightly-report"
    assert (
        Scheduler(UNREACHABLE, location="Europe/Berlin").register(
            "@daily", task, queue="reports", timeout=600
        )
        != first
    )
    with pytest.raises(ValidationError, match="already registered"):
        a.register("@daily", task, queue="reports", timeout=600)
    a.unregister(first)
    with pytest.raises(ValidationError, match="no scheduler entry"):
        a.unregister(first)
    with pytest.raises(ValidationError, match="unknown enqueue option"):
        a.register("@daily", task, colour="red")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="minute field"):
        a.register("99 * * * *", task)


def test_entries_carry_go_option_strings() -> None:
    s = Scheduler(UNREACHABLE)
    s.register("@every 30s", Task("t", b"p", max_retry=3), queue="critical", timeout=90, unique=60)
    (info,) = s.entries()
    assert info.options == ("MaxRetry(3)", 'Queue("critical")', "Timeout(1m30s)", "Unique(1m0s)")
    assert info.prev_enqueue_at is None
    assert info.next_enqueue_at is not None
    assert info.scheduler_id == s.scheduler_id
    assert s.scheduler_id.count(":") >= 2


def test_tick_options_make_ticks_idempotent() -> None:
    s = Scheduler(UNREACHABLE, misfire_grace_s=60)
    derived = s.register("@every 1s", Task("a"), queue="q")
    tick = 1_700_000_000.0
    options = s._tick_options(s._entries[derived], tick)
    assert options == {"queue": "q", "task_id": f"{derived}:1700000000", "retention": timedelta(seconds=60)}
    hourly = s.register("@hourly", Task("b"), retention=timedelta(days=1))
    assert s._tick_options(s._entries[hourly], ts(2024, 1, 1, 10))["retention"] == timedelta(days=1)
    daily = s.register("@daily", Task("c"))
    assert s._tick_options(s._entries[daily], ts(2024, 1, 1))["retention"] == timedelta(seconds=120)
    own = s.register("@every 1s", Task("d"), task_id="singleton")
    assert s._tick_options(s._entries[own], tick) == {"task_id": "singleton"}


# TOML schedules ------------------------------------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def test_toml_source_reads_entries(tmp_path: Path) -> None:
    source = TomlScheduleSource(write(tmp_path / "s.toml", """
        [[schedule]]
        id = "nightly"
        spec = "CRON_TZ=Europe/Berlin 0 3 * * *"
        type = "report:nightly"
        payload = { team = "ops", sizes = [1, 2] }
        queue = "reports"
        max_retry = 3
        timeout = "10m"
        unique = "1h"
        retention = "24h"

        [[schedule]]
        spec = "@every 30s"
        type = "ping"
        payload = "hello"

        [[schedule]]
        spec = "@hourly"
        type = "bare"
    """))  # fmt: skip
    nightly, ping, bare = source.load()
    assert (nightly.entry_id, nightly.spec, nightly.task.type) == (
        "nightly",
        "CRON_TZ=Europe/Berlin 0 3 * * *",
        "report:nightly",
    )
    assert bytes(nightly.task.payload) == b'{"sizes":[1,2],"team":"ops"}'
    assert nightly.options == {
        "queue": "reports", "max_retry": 3, "timeout": timedelta(minutes=10),
        "unique": timedelta(hours=1), "retention": timedelta(hours=24),
    }  # fmt: skip
    assert (ping.entry_id, bytes(ping.task.payload), ping.options) == (None, b"hello", {})
    assert bare.task.raw_payload is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('spec = "@daily"\ntype = "t"\ncolour = "red"', "[[schedule]] #1: unknown keys ['colour']"),
        ('spec = "@daily"', "[[schedule]] #1: missing key 'type'"),
        ('id = "x"\nspec = "@daily"\ntype = "t"\ntimeout = "5 minutes"', "#1 (id \"x\"): key 'timeout': "),
        ('spec = "@daily"\ntype = "t"\ntimeout = 300', "key 'timeout': must be a string, got an integer"),
        ('spec = "@daily"\ntype = "t"\nmax_retry = "3"', "key 'max_retry': must be an integer, got a string"),
        (
            'spec = "@daily"\ntype = "t"\nmax_retry = true',
            "key 'max_retry': must be an integer, got a boolean",
        ),
        ('spec = "@daily"\ntype = "t"\nunique = "500ms"', "key 'unique': unique must be at least 1s"),
        ('spec = "@daily"\ntype = "t"\nqueue = "a{b}"', "key 'queue': queue name"),
        ('spec = "61 0 * * *"\ntype = "t"', "key 'spec': bad cron spec \"61 0 * * *\": minute field"),
        ('spec = "@daily"\ntype = " "', "key 'type': task type must not be blank"),
        ('spec = "@daily"\ntype = "t"\npayload = 5', "key 'payload': must be a string, table or array"),
        (
            'spec = "@daily"\ntype = "t"\npayload = { when = 1979-05-27T07:32:00Z }',
            "key 'payload': payload cannot",
        ),
    ],
)
def test_toml_source_errors_name_entry_and_key(tmp_path: Path, body: str, message: str) -> None:
    path = write(tmp_path / "s.toml", "[[schedule]]\n" + body + "\n")
    with pytest.raises(ValidationError) as err:
        TomlScheduleSource(path).load()
    assert message in str(err.value)
    assert str(path) in str(err.value)


def test_toml_source_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="cannot read the schedule"):
        TomlScheduleSource(tmp_path / "missing.toml").load()
    with pytest.raises(ValidationError, match="not valid TOML"):
        TomlScheduleSource(write(tmp_path / "a.toml", "[[schedule]\n")).load()
    with pytest.raises(ValidationError, match="unknown top-level keys"):
        TomlScheduleSource(write(tmp_path / "b.toml", "[schedules]\n")).load()
    with pytest.raises(ValidationError, match="array of tables"):
        TomlScheduleSource(write(tmp_path / "c.toml", 'schedule = "x"\n')).load()
    assert TomlScheduleSource(write(tmp_path / "d.toml", "")).load() == []


# On a real Redis -----------------------------------------------------------------------------

FAST = {"heartbeat_interval_s": 0.5, "check_interval_s": 0.2}


@pytest.fixture
def raw(real_redis_url: str) -> Iterator[redis.Redis]:
    r = redis.Redis.from_url(real_redis_url)
    yield r
    r.close()


@pytest.fixture
def inspector(real_redis_url: str) -> Iterator[Inspector]:
    with Inspector(real_redis_url) as i:
        yield i


@pytest.fixture
def schedulers(real_redis_url: str) -> Iterator[Callable[..., Scheduler]]:
    """Make schedulers (started by the test); every one is shut down afterwards."""
    made: list[Scheduler] = []

    def make(cls: type[Scheduler] = Scheduler, *args: Any, **options: Any) -> Scheduler:
        s = cls(real_redis_url, *args, **{**FAST, **options})
        made.append(s)
        return s

    yield make
    for s in made:
        s.shutdown()


def task_ids(raw: redis.Redis, queue: str) -> list[str]:
    return sorted(i.decode() for i in raw.lrange(keys.pending_key(queue), 0, -1))


def ticks(raw: redis.Redis, queue: str, entry_id: str) -> list[int]:
    ids = task_ids(raw, queue)
    assert all(i.startswith(entry_id + ":") for i in ids), ids
    return sorted(int(i.rpartition(":")[2]) for i in ids)


real = pytest.mark.real


def advance_ticks(clock: SimulatedClock, start: float, count: int, done: Callable[[int], bool]) -> None:
    """Move ``clock`` past each of ``count`` one-second ticks after ``start`` (half-way to the next),
    waiting after each until ``done(n)`` says tick ``n`` was handled."""
    for n in range(1, count + 1):
        clock.set(start + n)
        wait_for(lambda n=n: done(n), timeout=5, what=f"tick {n}")


@real
def test_entries_fire_on_time_and_record_history(schedulers, raw, inspector, queue) -> None:
    start = math.floor(time.time()) + 0.5
    clock = SimulatedClock(start)
    s = schedulers(clock=clock, check_interval_s=0.02)
    entry_id = s.register("@every 1s", Task("tick", b"p"), queue=queue)
    s.start()
    events = lambda: inspector.list_scheduler_enqueue_events(entry_id, page_size=100)  # noqa: E731
    # A tick is done once its event is recorded too (that follows the enqueue), before the clock moves.
    advance_ticks(clock, start, 3, lambda n: len(task_ids(raw, queue)) == n and len(events()) == n)
    seen = ticks(raw, queue, entry_id)
    assert seen == [int(start) + 1, int(start) + 2, int(start) + 3]  # one task per tick, none missed
    assert sorted(e.task_id for e in events()) == task_ids(raw, queue)
    for e in events():
        tick = int(e.task_id.rpartition(":")[2])
        assert e.enqueued_at is not None
        assert 0 <= e.enqueued_at.timestamp() - tick <= 0.5  # when the clock showed the tick due
    info = inspector.get_task_info(queue, f"{entry_id}:{seen[0]}")
    assert (info.type, bytes(info.payload), info.state) == ("tick", b"p", TaskState.PENDING)
    assert info.retention == timedelta(seconds=DEDUPE_MIN_RETENTION_S)
    assert s.stats.enqueued == 3
    assert s.stats.duplicates == 0


@real
def test_history_is_capped_at_1000(schedulers, raw, inspector, queue) -> None:
    s = schedulers()
    entry_id = s.register("@every 1s", Task("tick"), queue=queue)
    history = keys.scheduler_history_key(entry_id)
    old = {
        encode_scheduler_event(SchedulerEnqueueEvent(f"old-{n}", datetime.fromtimestamp(n, UTC))): n
        for n in range(1, 1001)
    }
    raw.zadd(history, old)
    s.start()
    wait_for(lambda: task_ids(raw, queue), timeout=5, what="a tick")
    oldest = next(iter(old))
    wait_for(lambda: raw.zscore(history, oldest) is None, timeout=5, what="the oldest event trimmed")
    assert raw.zcard(history) == 1000
    newest = inspector.list_scheduler_enqueue_events(entry_id, page_size=1)[0]
    assert newest.task_id in task_ids(raw, queue)


@real
def test_two_schedulers_enqueue_each_tick_once(schedulers, raw, inspector, queue) -> None:
    start = math.floor(time.time()) + 0.5
    clock = SimulatedClock(start)
    pair = [schedulers(clock=clock, check_interval_s=0.02), schedulers(clock=clock, check_interval_s=0.02)]
    entry_ids = {s.register("@every 1s", Task("ha", {"n": 1}), queue=queue, max_retry=2) for s in pair}
    (entry_id,) = entry_ids  # both derive the same id from the same entry
    for s in pair:
        s.start()
    handled = lambda: sum(s.stats.enqueued + s.stats.duplicates for s in pair)  # noqa: E731
    events = lambda: inspector.list_scheduler_enqueue_events(entry_id, page_size=100)  # noqa: E731
    # Both schedulers fired each tick, and the winner recorded its event, before the clock moves on.
    advance_ticks(clock, start, 3, lambda n: handled() == 2 * n and len(events()) == n)
    seen = ticks(raw, queue, entry_id)
    recorded = events()
    enqueued = sum(s.stats.enqueued for s in pair)
    for s in pair:
        s.shutdown()
    assert seen == [int(start) + 1, int(start) + 2, int(start) + 3]  # every tick, once
    assert enqueued == len(recorded) == 3  # one event per tick
    assert sum(s.stats.duplicates for s in pair) == 3  # the other one found each tick taken
    assert not raw.exists(keys.scheduler_history_key(entry_id))  # the last one out cleared it


@real
def test_inspector_lists_entries_with_next_prev_and_options(schedulers, raw, inspector, queue) -> None:
    s = schedulers()
    every = s.register("@every 1s", Task("fast", b"x"), queue=queue, max_retry=3, timeout=60)
    yearly = s.register("@yearly", Task("slow"), queue=queue)
    s.start()
    mine = lambda: {e.id: e for e in inspector.scheduler_entries() if e.scheduler_id == s.scheduler_id}  # noqa: E731
    first = mine()
    assert set(first) == {every, yearly}
    assert first[yearly].prev_enqueue_at is None
    assert first[yearly].next_enqueue_at == datetime(datetime.now(UTC).year + 1, 1, 1, tzinfo=UTC)
    assert first[every].options == ("MaxRetry(3)", f'Queue("{queue}")', "Timeout(1m0s)")
    assert (first[every].spec, first[every].task_type, first[every].task_payload) == (
        "@every 1s",
        "fast",
        b"x",
    )
    later = wait_for(lambda: (e := mine().get(every)) and e.prev_enqueue_at and e, timeout=5, what="prev")
    assert later.next_enqueue_at - later.prev_enqueue_at == timedelta(seconds=1)
    # Go's zero time marks "never" on the wire, as Go's inspector expects.
    raw_entries = raw.lrange(keys.scheduler_entries_key(s.scheduler_id), 0, -1)
    assert {decode_scheduler_entry(r).id for r in raw_entries} == {every, yearly}
    assert 0 < raw.pttl(keys.scheduler_entries_key(s.scheduler_id)) <= 1000
    s.shutdown()
    assert not any(e.scheduler_id == s.scheduler_id for e in inspector.scheduler_entries())
    assert raw.zscore(keys.ALL_SCHEDULERS, keys.scheduler_entries_key(s.scheduler_id)) is None


@real
def test_shutdown_keeps_history_a_peer_still_publishes(schedulers, raw, queue) -> None:
    a, b = schedulers(), schedulers()
    shared = a.register("@every 1s", Task("shared"), queue=queue)
    b.register("@every 1s", Task("shared"), queue=queue)
    only_a = a.register("@every 1s", Task("only-a"), queue=queue)
    a.start()
    b.start()
    history = keys.scheduler_history_key
    wait_for(lambda: raw.exists(history(shared)) and raw.exists(history(only_a)), timeout=5, what="history")
    a.shutdown()
    assert raw.exists(history(shared))
    assert not raw.exists(history(only_a))
    b.shutdown()
    assert not raw.exists(history(shared))


@real
def test_missed_ticks_are_skipped_not_caught_up(schedulers, raw, queue) -> None:
    period = 1000
    start = (math.floor(time.time()) // period + 1) * period + 1.0
    clock = SimulatedClock(start)
    s = schedulers(clock=clock, check_interval_s=0.02, misfire_grace_s=60)
    entry_id = s.register(f"@every {period}s", Task("slow"), queue=queue)
    s.start()
    first = start - 1 + period
    clock.set(first + period * 2 + 5)  # two periods late: only the latest tick is enqueued
    wait_for(lambda: task_ids(raw, queue), timeout=5, what="the latest tick")
    assert ticks(raw, queue, entry_id) == [int(first + period * 2)]
    assert s.stats.missed == 2
    clock.set(first + period * 3 + 61)  # past the grace period: skipped
    wait_for(lambda: s.stats.missed == 3, timeout=5, what="a missed tick")
    clock.set(first + period * 4)
    wait_for(lambda: len(task_ids(raw, queue)) == 2, timeout=5, what="the next tick")
    assert ticks(raw, queue, entry_id) == [int(first + period * 2), int(first + period * 4)]


def save(path: Path, text: str) -> None:
    """Replace ``path``'s content in one step, as editors save: ``write_text`` truncates first, and
    the manager could read the empty file (no entries) before the new content."""
    new = path.with_suffix(".new")
    new.write_text(text)
    new.replace(path)


@real
def test_editing_the_toml_file_changes_the_schedule(
    schedulers, raw, inspector, queue, tmp_path, caplog
) -> None:
    path = tmp_path / "schedule.toml"
    entry = 'spec = "@every 1s"\ntype = "{t}"\nqueue = "' + queue + '"\n'
    path.write_text("[[schedule]]\n" + entry.format(t="first"))
    manager = schedulers(PeriodicTaskManager, TomlScheduleSource(path), sync_interval_s=0.2)
    manager.start()
    types = lambda: {inspector.get_task_info(queue, i).type for i in task_ids(raw, queue)}  # noqa: E731
    wait_for(lambda: "first" in types(), timeout=5, what="the first entry")
    save(
        path,
        "[[schedule]]\n"
        + entry.format(t="second")
        + '\n[[schedule]]\nid = "named"\n'
        + entry.format(t="third"),
    )
    wait_for(lambda: {"second", "third"} <= types(), timeout=5, what="the edited entries")
    assert sorted(e.task_type for e in manager.entries()) == ["second", "third"]
    with caplog.at_level(logging.ERROR, logger="asynq_py.scheduler"):
        save(path, "[[schedule]]\nspec = 'every day'\ntype = 'x'\n")
        wait_for(lambda: "keeping the current entries" in caplog.text, timeout=5, what="the error")
    assert "key 'spec': bad cron spec \"every day\"" in caplog.text
    syncs = manager.syncs
    time.sleep(0.5)
    assert sorted(e.task_type for e in manager.entries()) == ["second", "third"]
    assert manager.syncs == syncs
    save(path, "")
    wait_for(lambda: not manager.entries(), timeout=5, what="all entries removed")


@real
def test_manager_start_fails_on_a_bad_file(real_redis_url, tmp_path) -> None:
    manager = PeriodicTaskManager(real_redis_url, TomlScheduleSource(tmp_path / "none.toml"))
    with pytest.raises(ValidationError, match="cannot read the schedule"):
        manager.start()
    manager.shutdown()


@real
async def test_async_lifecycle(real_redis_url, raw, queue) -> None:
    s = Scheduler(real_redis_url, **FAST)
    entry_id = s.register("@every 1s", Task("async"), queue=queue)
    await s.start_async()
    try:
        deadline = time.monotonic() + 5
        while not raw.llen(keys.pending_key(queue)):
            assert time.monotonic() < deadline, "no tick"
            await asyncio.sleep(0.05)
    finally:
        await s.shutdown_async()
    assert not raw.exists(keys.scheduler_entries_key(s.scheduler_id))
    assert not raw.exists(keys.scheduler_history_key(entry_id))


def test_start_fails_without_redis() -> None:
    s = Scheduler(UNREACHABLE)
    with pytest.raises(RedisUnavailableError):
        s.start()
    s.shutdown()


@real
def test_run_stops_on_sigterm(real_redis_url, raw, queue) -> None:
    code = textwrap.dedent(f"""
        from asynq_py.engine import Task
        from asynq_py.engine.scheduler import Scheduler
        s = Scheduler({real_redis_url!r}, heartbeat_interval_s=0.5)
        s.register("@every 1s", Task("signal"), queue={queue!r})
        print(s.scheduler_id, flush=True)
        s.run()
    """)
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            key = keys.scheduler_entries_key(proc.stdout.readline().strip())
            wait_for(lambda: raw.exists(key), timeout=10, what="the entries")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
            assert not raw.exists(key)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


def test_toml_source_refuses_non_utf8(tmp_path) -> None:
    from asynq_py.engine import TomlScheduleSource, ValidationError

    path = tmp_path / "s.toml"
    path.write_bytes(b'[[schedule]]\nspec = "@every 1s"\ntype = "\xff"\n')
    with pytest.raises(ValidationError, match="not UTF-8"):
        TomlScheduleSource(path).load()


@real
def test_starting_a_scheduler_twice_is_a_lifecycle_error(schedulers) -> None:
    s = schedulers()
    s.start()
    with pytest.raises(LifecycleError, match="already started"):
        s.start()
