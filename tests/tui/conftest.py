"""Fixtures of the dashboard tests: Go-shaped Redis seeds, a stub inspector, and Pilot helpers.

Pilot tests run the app against the session's real Redis (flushed per test) seeded with tasks in
every state; snapshot tests run it against ``StubInspector``, whose data and clock are fixed so the
SVGs are stable.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import redis
from helpers import wait_for_async
from rich.text import Text
from seed import message, seed_task
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from asynq_py.engine import (
    DailyStats,
    GroupInfo,
    LimitsInfo,
    Payload,
    QueueInfo,
    QueueLimits,
    QueueNotFoundError,
    Rate,
    RedisUnavailableError,
    SchedulerEnqueueEvent,
    SchedulerEntryInfo,
    ServerInfo,
    TaskInfo,
    TaskNotFoundError,
    TaskState,
    TaskStateError,
    WorkerInfo,
    keys,
)
from asynq_py.engine import wire as wire_format
from asynq_py.tui import DashboardApp
from asynq_py.tui.fetch import InspectorLike

NOW = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
"""The fixed "now" of every snapshot."""

WAIT_S = 10.0
"""The longest any test waits for the dashboard to show something."""


# ---- Pilot helpers ---------------------------------------------------------------------------


def _plain(value: Any) -> str:
    if isinstance(value, Text):
        return value.plain
    return str(value)


def table_rows(app: DashboardApp, selector: str) -> list[list[str]]:
    """Return the plain text of every row of a table on the current screen."""
    table = app.screen.query_one(selector, DataTable)
    return [[_plain(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def table_keys(app: DashboardApp, selector: str) -> list[str]:
    """Return the row keys of a table on the current screen, in display order."""
    table = app.screen.query_one(selector, DataTable)
    return [str(row.key.value) for row in table.ordered_rows]


def table_labels(app: DashboardApp, selector: str) -> list[str]:
    """Return the column labels of a table on the current screen."""
    table = app.screen.query_one(selector, DataTable)
    return [c.label.plain.strip() for c in table.ordered_columns]


def static_text(app: DashboardApp, selector: str) -> str:
    """Return the plain text of a ``Static`` on the current screen."""
    return _plain(app.screen.query_one(selector, Static).content)


def screen_text(app: DashboardApp) -> str:
    """Return the plain text of every visible ``Static`` and table on the current screen."""
    parts: list[str] = []
    for widget in app.screen.query("*"):
        if not widget.display:
            continue
        if isinstance(widget, DataTable):
            parts.append(" ".join(_plain(c.label) for c in widget.ordered_columns))
            parts.extend(" ".join(_plain(c) for c in widget.get_row_at(i)) for i in range(widget.row_count))
        elif isinstance(widget, Static):
            parts.append(_plain(widget.content))
    return "\n".join(parts)


async def wait_until(pilot: Pilot[Any], condition: Callable[[], object], timeout: float = WAIT_S) -> None:
    """Let the app run until ``condition()`` is true (an exception means "not yet": the screen may
    not have its widgets); on timeout the condition's last exception is re-raised."""
    await wait_for_async(condition, timeout=timeout, what=str(condition), interval=0.02, pause=pilot.pause)


@dataclass
class UI:
    """The helpers above, handed to tests as one fixture (test modules cannot import conftest)."""

    rows: Callable[..., list[list[str]]] = table_rows
    keys: Callable[..., list[str]] = table_keys
    labels: Callable[..., list[str]] = table_labels
    static: Callable[..., str] = static_text
    text: Callable[..., str] = screen_text
    wait: Callable[..., Any] = wait_until


@pytest.fixture
def ui() -> UI:
    """Pilot helpers: table rows and keys, screen text, and a bounded wait."""
    return UI()


# ---- real Redis, seeded as Go would leave it -------------------------------------------------


@pytest.fixture
def tui_url(real_redis_url: str) -> Iterator[str]:
    """The session's real Redis, emptied for this test."""
    r = redis.Redis.from_url(real_redis_url, socket_timeout=5)
    r.flushdb()
    r.close()
    yield real_redis_url


@pytest.fixture
def r(tui_url: str) -> Iterator[redis.Redis]:
    """A raw client to the test database, for seeding and checking state."""
    client = redis.Redis.from_url(tui_url, socket_timeout=5)
    yield client
    client.close()


@dataclass
class Seeded:
    """What ``seed_every_state`` wrote."""

    now: float
    server_id: str = "0b1c2d3e-0000-4000-8000-000000000001"
    entry_id: str = "entry-every-minute"
    ids: dict[str, list[str]] = field(default_factory=dict)


def seed_every_state(r: redis.Redis) -> Seeded:
    """Seed queue "default" with tasks in every state, plus "critical", a paused "low", a server
    with one active worker, a scheduler entry with history, and today's counters."""
    now = time.time()
    s = Seeded(now=now)
    q = "default"
    seed_task(r, message("image:resize", b"\x89PNG\r\n\x1a\n", task_id="active-1"), "active", now=now)
    for i in (1, 2, 3):
        payload = f'{{"to":"user{i}@example.com"}}'.encode()
        seed_task(r, message("email:send", payload, task_id=f"pending-{i}"), "pending", now=now)
    seed_task(r, message("report:build", b'{"day":1}', task_id="scheduled-1"), "scheduled", score=now + 3600)
    retry = message(
        "webhook:post",
        b'{"url":"https://example.com"}',
        task_id="retry-1",
        retried=2,
        error_msg="connection refused",
        last_failed_at=int(now) - 60,
    )
    seed_task(r, retry, "retry", score=now + 300)
    archived = message(
        "pdf:render",
        b"%PDF",
        task_id="archived-1",
        retried=25,
        error_msg="boom",
        last_failed_at=int(now) - 3600,
    )
    seed_task(r, archived, "archived", score=now - 3600)
    done = message(
        "thumb:make", b'{"id":7}', task_id="completed-1", completed_at=int(now) - 10, retention=3600
    )
    seed_task(r, done, "completed", score=now + 3600, result=b'{"ok":true}')
    for i in (1, 2):
        agg = message("digest:add", f"item{i}".encode(), task_id=f"agg-{i}", group_key="digest")
        seed_task(r, agg, "aggregating", group="digest", score=now)
    seed_task(r, message("alert:page", b"{}", queue="critical", task_id="crit-1"), "pending", now=now)
    seed_task(r, message("cleanup", b"", queue="low", task_id="low-1"), "pending", now=now)
    r.set(keys.paused_key("low"), int(now))
    today = datetime.fromtimestamp(now, UTC)
    r.set(keys.processed_key(q, today), 10)
    r.set(keys.failed_key(q, today), 2)
    r.set(keys.processed_key(q, today - timedelta(days=1)), 4)
    s.ids = {
        "active": ["active-1"],
        "pending": ["pending-1", "pending-2", "pending-3"],
        "scheduled": ["scheduled-1"],
        "retry": ["retry-1"],
        "archived": ["archived-1"],
        "completed": ["completed-1"],
        "aggregating": ["agg-1", "agg-2"],
    }
    seed_server(r, s)
    seed_scheduler(r, s)
    return s


def seed_server(r: redis.Redis, s: Seeded) -> None:
    """Write a live server heartbeat running "active-1", as Go's heartbeater does."""
    host, pid = "worker-host", 4242
    started = datetime.fromtimestamp(s.now - 120, UTC)
    info = wire_format.ServerInfo(
        host=host,
        pid=pid,
        server_id=s.server_id,
        concurrency=4,
        queues={"default": 6, "critical": 3},
        strict_priority=False,
        status="active",
        started=started,
        active_worker_count=1,
    )
    worker = wire_format.WorkerInfo(
        host=host,
        pid=pid,
        server_id=s.server_id,
        task_id="active-1",
        task_type="image:resize",
        task_payload=b"\x89PNG",
        queue="default",
        started=started,
        deadline=datetime.fromtimestamp(s.now + 1800, UTC),
    )
    server_key = keys.server_info_key(host, pid, s.server_id)
    workers_key = keys.workers_key(host, pid, s.server_id)
    r.set(server_key, wire_format.encode_server_info(info), ex=30)
    r.hset(workers_key, "active-1", wire_format.encode_worker_info(worker))
    r.expire(workers_key, 30)
    r.zadd(keys.ALL_SERVERS, {server_key: int(s.now) + 30})
    r.zadd(keys.ALL_WORKERS, {workers_key: int(s.now) + 30})


def seed_scheduler(r: redis.Redis, s: Seeded) -> None:
    """Write a live scheduler with one entry and three enqueue events, as Go's scheduler does."""
    entry = wire_format.SchedulerEntry(
        id=s.entry_id,
        spec="@every 1m",
        task_type="report:hourly",
        task_payload=b'{"kind":"hourly"}',
        enqueue_options=('Queue("default")',),
        next_enqueue=datetime.fromtimestamp(s.now + 30, UTC),
        prev_enqueue=datetime.fromtimestamp(s.now - 30, UTC),
    )
    key = keys.scheduler_entries_key("sched-1")
    r.rpush(key, wire_format.encode_scheduler_entry(entry))
    r.zadd(keys.ALL_SCHEDULERS, {key: int(s.now) + 30})
    for i in range(3):
        when = s.now - 30 - 60 * i
        ev = wire_format.SchedulerEnqueueEvent(
            task_id=f"cron-task-{i}", enqueued_at=datetime.fromtimestamp(when, UTC)
        )
        r.zadd(keys.scheduler_history_key(s.entry_id), {wire_format.encode_scheduler_event(ev): int(when)})


@pytest.fixture
def seeded(r: redis.Redis) -> Seeded:
    """The test database seeded by ``seed_every_state``."""
    return seed_every_state(r)


# ---- a stub inspector with fixed data, for snapshots ----------------------------------------


def _info(queue: str, **counts: int) -> QueueInfo:
    states = ("pending", "active", "scheduled", "retry", "archived", "completed", "aggregating")
    size = sum(counts.get(s, 0) for s in states)
    return QueueInfo(
        queue=queue,
        memory_usage=counts.get("memory", 1234 * max(size, 1)),
        latency=timedelta(seconds=counts.get("latency", 0)),
        size=size,
        groups=counts.get("groups", 0),
        pending=counts.get("pending", 0),
        active=counts.get("active", 0),
        scheduled=counts.get("scheduled", 0),
        retry=counts.get("retry", 0),
        archived=counts.get("archived", 0),
        completed=counts.get("completed", 0),
        aggregating=counts.get("aggregating", 0),
        processed=counts.get("processed", 0),
        failed=counts.get("failed", 0),
        processed_total=counts.get("processed", 0) * 10,
        failed_total=counts.get("failed", 0) * 10,
        paused=bool(counts.get("paused", 0)),
        timestamp=NOW,
    )


def stub_task(
    task_id: str, state: TaskState, task_type: str = "email:send", payload: bytes = b"", **kw: Any
) -> TaskInfo:
    """Build a ``TaskInfo`` as the inspector would return it."""
    base = TaskInfo(
        id=task_id,
        queue=kw.pop("queue", "default"),
        type=task_type,
        payload=Payload(payload),
        headers=kw.pop("headers", {}),
        state=state,
        max_retry=25,
        retried=0,
        last_error="",
        last_failed_at=None,
        timeout=timedelta(minutes=30),
        deadline=None,
        group="",
        next_process_at=NOW if state is TaskState.PENDING else None,
        retention=None,
        completed_at=None,
    )
    return replace(base, **kw)


HOSTILE = "\x1b[2J\x1b[31mred\x1b]0;pwned\x07 [bold]not markup[/bold] \u202ebidi\u202c \x00\x9b".encode()
"""A payload full of terminal escape sequences, Rich markup and invisible characters (valid UTF-8)."""

HOSTILE_JSON = (
    b'{"msg":"\\u001b[2J\\u001b]0;pwned\\u0007 [bold]hi[/bold]","rtl":"\xe2\x80\xae","k\\u001b[31m":1}'
)
"""A JSON payload whose strings hold escape sequences, markup and a bidi override."""


def stub_world() -> tuple[dict[str, QueueInfo], dict[tuple[str, TaskState, str], list[TaskInfo]]]:
    """Return the stub's queues and tasks (key: queue, state, group)."""
    queues = {
        "default": _info(
            "default",
            active=1,
            pending=3,
            scheduled=1,
            retry=1,
            archived=1,
            completed=1,
            aggregating=2,
            groups=1,
            processed=120,
            failed=6,
            latency=42,
            memory=48_213,
        ),
        "critical": _info(
            "critical", pending=40, active=2, processed=900, failed=0, latency=3, memory=1_204_000
        ),
        "low": _info(
            "low", pending=7, scheduled=12, paused=1, processed=0, failed=0, latency=3700, memory=9_800
        ),
        "emails[bold]": _info("emails[bold]", retry=4, archived=9, processed=30, failed=13, memory=15_500),
    }
    t = TaskState
    tasks: dict[tuple[str, TaskState, str], list[TaskInfo]] = {
        ("default", t.ACTIVE, ""): [
            stub_task("7d1c3f0e-0000-4000-8000-00000000a001", t.ACTIVE, "image:resize", b"\x89PNG\r\n\x1a\n"),
        ],
        ("default", t.PENDING, ""): [
            stub_task(
                f"7d1c3f0e-0000-4000-8000-00000000p00{i}",
                t.PENDING,
                "email:send",
                f'{{"to":"user{i}@example.com","template":"welcome"}}'.encode(),
            )
            for i in (1, 2, 3)
        ],
        ("default", t.SCHEDULED, ""): [
            stub_task(
                "7d1c3f0e-0000-4000-8000-00000000s001",
                t.SCHEDULED,
                "report:build",
                HOSTILE_JSON,
                next_process_at=NOW + timedelta(hours=1),
                headers={"x-evil\x1b[1m": "\x1b]8;;http://x\x07link"},
            ),
        ],
        ("default", t.RETRY, ""): [
            stub_task(
                "7d1c3f0e-0000-4000-8000-00000000r001",
                t.RETRY,
                "webhook:post",
                b'{"url":"https://example.com/hook"}',
                retried=2,
                last_error="dial tcp 10.0.0.7:443: connect: connection refused",
                last_failed_at=NOW - timedelta(minutes=1),
                next_process_at=NOW + timedelta(minutes=5),
            ),
        ],
        ("default", t.ARCHIVED, ""): [
            stub_task(
                "7d1c3f0e-0000-4000-8000-00000000x001",
                t.ARCHIVED,
                "pdf:render",
                HOSTILE,
                retried=25,
                last_error="panic: \x1b[31mboom\x1b[0m [red]markup[/red]",
                last_failed_at=NOW - timedelta(hours=1),
            ),
        ],
        ("default", t.COMPLETED, ""): [
            stub_task(
                "7d1c3f0e-0000-4000-8000-00000000c001",
                t.COMPLETED,
                "thumb:make",
                b'{"id":7}',
                completed_at=NOW - timedelta(seconds=10),
                retention=timedelta(hours=1),
                result=b'{"ok":true,"px":128}',
                headers={"trace-id": "abc123", "tenant": "acme"},
            ),
        ],
        ("default", t.AGGREGATING, "digest"): [
            stub_task(
                f"7d1c3f0e-0000-4000-8000-00000000g00{i}",
                t.AGGREGATING,
                "digest:add",
                f"item{i}".encode(),
                group="digest",
            )
            for i in (1, 2)
        ],
    }
    return queues, tasks


class StubInspector(InspectorLike):
    """An in-memory ``AsyncInspector`` stand-in with fixed data; ``down`` makes every call fail.

    It subclasses the dashboard's ``InspectorLike`` protocol, so mypy checks every method against it.
    """

    def __init__(self, *, schedules: bool = True, servers: bool = True) -> None:
        self.queue_infos, self.tasks = stub_world()
        self.down = False
        self.limits: dict[str, LimitsInfo] = {}
        """Limits by queue (a queue not here has none)."""
        self.calls: list[tuple[Any, ...]] = []
        self._schedules = schedules
        self._servers = servers

    def _check(self, queue: str | None = None) -> None:
        if self.down:
            raise RedisUnavailableError(
                "cannot reach Redis: Error 111 connecting to 127.0.0.1:6379. Connection refused."
            )
        if queue is not None and queue not in self.queue_infos:
            raise QueueNotFoundError(f"queue {queue!r} not found", queue=queue)

    async def queues(self) -> list[str]:
        self._check()
        return sorted(self.queue_infos)

    async def groups(self, queue: str) -> list[GroupInfo]:
        self._check(queue)
        return sorted(
            (
                GroupInfo(group=g, size=len(ts))
                for (q, s, g), ts in self.tasks.items()
                if q == queue and s is TaskState.AGGREGATING
            ),
            key=lambda gi: gi.group,
        )

    async def get_queue_info(self, queue: str) -> QueueInfo:
        self._check(queue)
        return self.queue_infos[queue]

    async def get_queue_limits(self, queue: str) -> LimitsInfo:
        self._check(queue)
        active = self.queue_infos[queue].active
        return self.limits.get(queue, LimitsInfo(queue, QueueLimits(), active, None, [], 0, 0, [], NOW))

    async def history(self, queue: str, days: int = 7) -> list[DailyStats]:
        self._check(queue)
        today: date = NOW.date()
        return [
            DailyStats(
                queue=queue,
                processed=(i * 37) % 120 + (0 if i % 5 else 60) + 11,
                failed=(i * 7) % 11,
                date=today - timedelta(days=i),
            )
            for i in range(days)
        ]

    async def get_task_info(self, queue: str, task_id: str) -> TaskInfo:
        self._check(queue)
        for (q, _, _), ts in self.tasks.items():
            for task in ts:
                if q == queue and task.id == task_id:
                    return task
        raise TaskNotFoundError(f"task {task_id!r} not found", queue=queue, task_id=task_id)

    async def list_tasks(
        self,
        queue: str,
        state: TaskState | str,
        *,
        group: str | None = None,
        page: int = 1,
        page_size: int = 30,
    ) -> list[TaskInfo]:
        self._check(queue)
        found = self.tasks.get((queue, TaskState(state), group or ""), [])
        return found[(page - 1) * page_size : page * page_size]

    async def run_task(self, queue: str, task_id: str) -> None:
        self._check(queue)
        self.calls.append(("run_task", queue, task_id))

    async def archive_task(self, queue: str, task_id: str) -> None:
        self._check(queue)
        self.calls.append(("archive_task", queue, task_id))

    async def delete_task(self, queue: str, task_id: str) -> None:
        self._check(queue)
        self.calls.append(("delete_task", queue, task_id))

    async def run_all_tasks(self, queue: str, state: TaskState | str, *, group: str | None = None) -> int:
        self._check(queue)
        self.calls.append(("run_all_tasks", queue, state, group))
        return 0

    async def archive_all_tasks(self, queue: str, state: TaskState | str, *, group: str | None = None) -> int:
        self._check(queue)
        self.calls.append(("archive_all_tasks", queue, state, group))
        return 0

    async def delete_all_tasks(self, queue: str, state: TaskState | str, *, group: str | None = None) -> int:
        self._check(queue)
        self.calls.append(("delete_all_tasks", queue, state, group))
        return 0

    async def pause_queue(self, queue: str) -> None:
        self._check()
        if self.queue_infos[queue].paused:
            raise TaskStateError("already paused", queue=queue)
        self.queue_infos[queue] = replace(self.queue_infos[queue], paused=True)

    async def set_queue_limits(
        self,
        queue: str,
        *,
        task_type: str | None = None,
        concurrency: int | None = None,
        rate: Rate | str | None = None,
        burst: int | None = None,
    ) -> QueueLimits:
        self._check()
        info = await self.get_queue_limits(queue)
        new_rate = Rate.parse(rate) if isinstance(rate, str) else rate
        limits = info.limits.updated(task_type=task_type, concurrency=concurrency, rate=new_rate, burst=burst)
        self.limits[queue] = replace(info, limits=limits)
        return limits

    async def remove_queue_limits(self, queue: str, *, task_type: str | None = None) -> None:
        info = await self.get_queue_limits(queue)
        types = {t: limit for t, limit in info.limits.types.items() if t != task_type}
        limits = QueueLimits() if task_type is None else replace(info.limits, types=types)
        self.limits[queue] = replace(info, limits=limits)

    async def unpause_queue(self, queue: str) -> bool:
        self._check()
        self.queue_infos[queue] = replace(self.queue_infos[queue], paused=False)
        return True  # the wake-up went out

    async def cancel_processing(self, task_id: str) -> None:
        self._check()
        self.calls.append(("cancel_processing", task_id))

    async def servers(self) -> list[ServerInfo]:
        self._check()
        if not self._servers:
            return []
        started = NOW - timedelta(hours=3, minutes=12)
        worker = WorkerInfo(
            task_id="7d1c3f0e-0000-4000-8000-00000000a001",
            task_type="image:resize",
            task_payload=b"\x89PNG",
            queue="default",
            started=NOW - timedelta(seconds=42),
            deadline=NOW + timedelta(minutes=29),
        )
        web1 = ServerInfo(
            id="6f1a-0001",
            host="web-1",
            pid=4021,
            concurrency=10,
            queues={"default": 6, "critical": 3, "low": 1},
            strict_priority=False,
            started=started,
            status="active",
            active_workers=[worker],
        )
        web2 = ServerInfo(
            id="6f1a-0002",
            host="web-2",
            pid=977,
            concurrency=4,
            queues={"critical": 1},
            strict_priority=True,
            started=started - timedelta(days=1),
            status="stopped",
        )
        return [web1, web2]

    async def scheduler_entries(self) -> list[SchedulerEntryInfo]:
        self._check()
        if not self._schedules:
            return []
        minutely = SchedulerEntryInfo(
            id="5f2e-every-minute",
            spec="@every 1m",
            task_type="report:minutely",
            task_payload=b'{"kind":"minutely"}',
            options=('Queue("default")',),
            next_enqueue_at=NOW + timedelta(seconds=30),
            prev_enqueue_at=NOW - timedelta(seconds=30),
            scheduler_id="sched-1",
        )
        nightly = SchedulerEntryInfo(
            id="5f2e-nightly",
            spec="0 3 * * *",
            task_type="backup:run",
            task_payload=b"",
            options=('Queue("low")', "MaxRetry(3)"),
            next_enqueue_at=NOW + timedelta(hours=15),
            prev_enqueue_at=None,
            scheduler_id="sched-1",
        )
        return [minutely, nightly]

    async def list_scheduler_enqueue_events(
        self, entry_id: str, *, page: int = 1, page_size: int = 30
    ) -> list[SchedulerEnqueueEvent]:
        self._check()
        if entry_id != "5f2e-every-minute":
            return []
        return [
            SchedulerEnqueueEvent(task_id=f"cron-{i:04d}", enqueued_at=NOW - timedelta(seconds=30 + 60 * i))
            for i in range(5)
        ]


@pytest.fixture
def stub() -> StubInspector:
    """A stub inspector with the fixed snapshot data."""
    return StubInspector()


@pytest.fixture
def stub_factory() -> type[StubInspector]:
    """The stub class, for tests that need it without schedules or servers."""
    return StubInspector
