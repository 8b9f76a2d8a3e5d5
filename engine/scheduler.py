"""``Scheduler``: enqueues tasks on cron specs, as Go asynq's scheduler does (docs/wire.md §5.8).

Each entry pairs a spec (see ``cron``) with a task and enqueue options. When a tick comes due the
scheduler enqueues the task through ``AsyncClient`` and records a ``SchedulerEnqueueEvent`` in the
entry's history; every heartbeat it publishes its entries, with their next and previous enqueue
times, where Go's ``asynq cron ls`` and our ``Inspector.scheduler_entries`` read them.

Several schedulers may run the same entries for high availability (reliability spec R13); each
tick is still enqueued once:

- an entry's id is derived from its content (spec, task, options), or is the name given at
  ``register``, so every scheduler gives the same entry the same id, and they share its history;
- ``@every`` ticks are counted from the Unix epoch, so every scheduler has the same ticks;
- a tick's task id is ``<entry id>:<tick Unix seconds>``, kept (``retention``) well past the time
  any peer could still fire that tick, so a peer's enqueue of the same tick fails with
  ``TaskIdConflictError``, which counts as a duplicate and records no event.

A tick that comes due while no scheduler runs is skipped, not caught up. ``docs/scheduler.md`` has
the details and the trade-offs.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import json
import logging
import math
import os
import signal
import socket
import threading
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Unpack

from . import keys, rdb, rdb_inspect
from .broker import AsyncBroker
from .calls import Command
from .client import AsyncClient
from .clock import Clock, RealClock
from .config import RedisConnOpt
from .cron import Schedule, parse_spec, zone
from .errors import (
    AsynqError,
    DuplicateTaskError,
    LifecycleError,
    TaskIdConflictError,
    ValidationError,
)
from .eventloop import DEFAULT_EVENT_LOOP, check_event_loop, loop_factory
from .eventloop import run as run_on_loop
from .gotime import format_options
from .info import SchedulerEntryInfo
from .options import (
    EnqueueOptions,
    Options,
    merge_options,
    parse_options,
    validate_task_id,
    validate_task_type,
)
from .ratelimit import RateLimitedLog
from .task import Task, TaskInfo
from .wire import SchedulerEnqueueEvent, SchedulerEntry, encode_scheduler_entry, encode_scheduler_event

__all__ = [
    "DEDUPE_MIN_RETENTION_S",
    "ENTRY_ID_NAMESPACE",
    "PostEnqueueHook",
    "PreEnqueueHook",
    "Scheduler",
    "SchedulerStats",
]

ENTRY_ID_NAMESPACE = uuid.UUID("c2c04092-2cbc-4557-a991-e6c6004f2004")
"""UUIDv5 namespace of derived entry ids; changing it would change every entry id."""
DEDUPE_MIN_RETENTION_S = 60
"""Least time a scheduled task is kept after it completes, so a late peer's enqueue still conflicts."""
_RETRY_DELAY_S = 1.0
"""Wait before enqueueing a tick again after Redis failed."""
_MAX_CATCH_UP_STEPS = 10_000
"""Ticks walked to find the latest due one after a stall; beyond that the scheduler resynchronizes."""

PreEnqueueHook = Callable[[Task, dict[str, Any]], object]
"""Called before each enqueue with the task and its options (Go's PreEnqueueFunc); may be async."""
PostEnqueueHook = Callable[[TaskInfo | None, AsynqError | None], object]
"""Called after each enqueue with its info, or the error (Go's PostEnqueueFunc); may be async."""


@dataclass(frozen=True, slots=True)
class SchedulerStats:
    """What a scheduler did since it started."""

    enqueued: int = 0
    """Ticks this scheduler enqueued."""
    duplicates: int = 0
    """Ticks already enqueued (by a peer, or held by a unique lock or the user's task id)."""
    missed: int = 0
    """Ticks skipped because they could not be enqueued before the next one or the grace period."""
    errors: int = 0
    """Failed enqueue attempts (each retried while the tick is current)."""


@dataclass(eq=False, slots=True)
class _Entry:
    """A registered entry and its firing state (touched only by the scheduler's loop once running)."""

    id: str
    fingerprint: str
    schedule: Schedule
    task: Task
    options: dict[str, Any]
    merged: EnqueueOptions
    option_strings: tuple[str, ...]
    next_tick: float
    prev_tick: float | None = None
    busy: bool = False
    retry_at: float = 0.0


def _utc(t: float | None) -> datetime | None:
    return None if t is None or not math.isfinite(t) else datetime.fromtimestamp(t, UTC)


def _option_mapping(opts: EnqueueOptions) -> dict[str, object]:
    values: dict[str, object] = {f.name: getattr(opts, f.name) for f in dataclasses.fields(opts)}
    values["headers"] = dict(sorted(opts.headers)) if opts.headers else None
    return values


def _fingerprint(schedule: Schedule, task: Task, option_strings: tuple[str, ...]) -> str:
    """Return the UUIDv5 of everything that makes an entry fire what it fires."""
    seed = {
        "schedule": schedule.canonical,
        "type": task.type,
        "payload": None if task.raw_payload is None else task.raw_payload.hex(),
        "headers": sorted(task.headers.items()),
        "options": list(option_strings),
    }
    return str(uuid.uuid5(ENTRY_ID_NAMESPACE, json.dumps(seed, sort_keys=True, separators=(",", ":"))))


def _due_tick(schedule: Schedule, next_tick: float, now: float) -> tuple[float, int] | None:
    """Return the latest tick at or before ``now`` from ``next_tick`` on and how many it passed over.

    None means the scheduler is too far behind to walk the ticks; it should resynchronize.
    """
    if schedule.every_s is not None:
        skipped = int((now - next_tick) // schedule.every_s)
        return next_tick + skipped * schedule.every_s, skipped
    tick = next_tick
    for skipped in range(_MAX_CATCH_UP_STEPS):
        following = schedule.next_after(tick)
        if following > now:
            return tick, skipped
        tick = following
    return None


async def _wait(event: asyncio.Event, timeout_s: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(max(0.0, timeout_s)):
            await event.wait()


class Scheduler:
    """Enqueues tasks periodically and publishes its entries; safe to run several for availability.

    Args:
        redis: A Redis URL or ``RedisConnOpt`` (the scheduler opens its own connections).
        location: Zone of cron specs without a ``TZ=`` prefix: a tzinfo or an IANA name (default UTC).
        clock: Time source (default the system clock).
        heartbeat_interval_s: How often the entries are published; they expire after twice this
            (default 10 s, as Go).
        logger: Where to log (default the ``asynq_py.scheduler`` logger).
        pre_enqueue: Called before each enqueue with the task and its options.
        post_enqueue: Called after each enqueue with the ``TaskInfo`` or the error, including the
            ``TaskIdConflictError`` a scheduler gets when a peer enqueued the tick first.
        misfire_grace_s: A tick not enqueued this long after its time (Redis down, process
            stalled) is skipped (default 60 s).
        check_interval_s: Longest sleep between looks at the clock, which bounds how late a tick
            fires after the clock jumps (default 1 s).
        event_loop: The event loop ``run`` and ``start`` create, as ``ServerConfig.event_loop``:
            ``asyncio``, ``uvloop`` or ``auto`` (uvloop where it can be imported; default ``asyncio``).
    """

    def __init__(
        self,
        redis: str | RedisConnOpt,
        *,
        location: tzinfo | str = UTC,
        clock: Clock | None = None,
        heartbeat_interval_s: float = 10.0,
        logger: logging.Logger | None = None,
        pre_enqueue: PreEnqueueHook | None = None,
        post_enqueue: PostEnqueueHook | None = None,
        misfire_grace_s: float = 60.0,
        check_interval_s: float = 1.0,
        event_loop: str = DEFAULT_EVENT_LOOP,
    ) -> None:
        if not isinstance(redis, str | RedisConnOpt):
            raise ValidationError("Scheduler needs a Redis URL or RedisConnOpt: it opens its own connections")
        for name, value in (
            ("heartbeat_interval_s", heartbeat_interval_s),
            ("misfire_grace_s", misfire_grace_s),
            ("check_interval_s", check_interval_s),
        ):
            if not value > 0:
                raise ValidationError(f"{name} must be positive, got {value!r}")
        check_event_loop(event_loop)
        self._event_loop = event_loop
        self._redis = redis
        self._location = zone(location)
        self._clock = clock or RealClock()
        self._heartbeat_s = heartbeat_interval_s
        self._log = logger or logging.getLogger("asynq_py.scheduler")
        self._limited = RateLimitedLog(self._log)
        self._pre_enqueue = pre_enqueue
        self._post_enqueue = post_enqueue
        self._grace_s = misfire_grace_s
        self._check_s = check_interval_s
        self.scheduler_id = f"{socket.gethostname() or 'unknown-host'}:{os.getpid()}:{uuid.uuid4()}"
        """``<host>:<pid>:<uuid4>``, under which the entries are published."""
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self._stats = SchedulerStats()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._wake: asyncio.Event | None = None
        self._changed: asyncio.Event | None = None
        self._closed: asyncio.Event | None = None
        self._stop_requested = False
        self._ran = False
        self._started = threading.Event()
        self._failure: BaseException | None = None
        self._thread: threading.Thread | None = None

    # Entries ---------------------------------------------------------------------------------

    def register(
        self, spec: str, task: Task, *, entry_id: str | None = None, **options: Unpack[Options]
    ) -> str:
        """Add an entry that enqueues ``task`` on ``spec``; return its id. Works before and while running.

        Args:
            spec: Five cron fields, a descriptor such as ``@daily``, or ``@every <duration>``,
                optionally after ``CRON_TZ=<zone> ``.
            task: The task to enqueue at each tick.
            entry_id: A stable name for the entry; by default the id is derived from the spec, task
                and options, so schedulers registering the same entry agree on it.
            **options: Enqueue options (see ``Client.enqueue``). With ``task_id`` every tick uses
                that id, as in Go, and a tick is skipped while the previous task still exists.

        Raises:
            ValidationError: a bad spec, option or id, or an entry with this id is already registered.
        """
        entry = self._build_entry(spec, task, entry_id, options)
        with self._lock:
            if entry.id in self._entries:
                raise ValidationError(f"scheduler entry {entry.id!r} is already registered")
            self._entries[entry.id] = entry
        self._notify()
        return entry.id

    def unregister(self, entry_id: str) -> None:
        """Remove an entry; a tick being enqueued finishes.

        Raises:
            ValidationError: no entry has this id.
        """
        with self._lock:
            if self._entries.pop(entry_id, None) is None:
                raise ValidationError(f"no scheduler entry {entry_id!r}")
        self._notify()

    def entries(self) -> list[SchedulerEntryInfo]:
        """Return this scheduler's entries, soonest first, as they are published."""
        return [
            SchedulerEntryInfo(
                e.id,
                e.schedule.spec,
                e.task.type,
                e.task.raw_payload or b"",
                e.option_strings,
                _utc(e.next_tick),
                _utc(e.prev_tick),
                self.scheduler_id,
            )
            for e in self._snapshot()
        ]

    @property
    def stats(self) -> SchedulerStats:
        """Counts of enqueued, duplicate and missed ticks and of errors since the start."""
        return self._stats

    def _build_entry(self, spec: str, task: Task, entry_id: str | None, options: Mapping[str, Any]) -> _Entry:
        schedule = parse_spec(spec, self._location)
        if not isinstance(task, Task):
            raise ValidationError(f"register needs a Task, got {type(task).__name__}")
        validate_task_type(task.type)
        merged = merge_options(task.options, parse_options(options))
        option_strings = tuple(format_options(_option_mapping(merged)))
        fingerprint = _fingerprint(schedule, task, option_strings)
        if entry_id is not None:
            validate_task_id(entry_id)
        return _Entry(
            id=entry_id or fingerprint,
            fingerprint=fingerprint,
            schedule=schedule,
            task=task,
            options=dict(options),
            merged=merged,
            option_strings=option_strings,
            next_tick=schedule.next_after(self._clock.now()),
        )

    def _snapshot(self) -> list[_Entry]:
        with self._lock:
            entries = list(self._entries.values())
        return sorted(entries, key=lambda e: (e.next_tick, e.id))

    def _notify(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._on_change)

    def _on_change(self) -> None:
        if self._wake is not None and self._changed is not None:
            self._wake.set()
            self._changed.set()

    # Blocking API ----------------------------------------------------------------------------

    def run(self) -> None:
        """Run until SIGTERM or SIGINT, then withdraw the entries and return.

        Raises:
            ValidationError: ``event_loop`` is ``uvloop`` and uvloop is not installed.
        """
        factory = loop_factory(self._event_loop)
        run_on_loop(self._run_with_signals(), factory)

    def start(self, timeout_s: float = 10.0) -> None:
        """Start on a background thread and return once the entries are published.

        Raises:
            LifecycleError: already started, or it did not start within ``timeout_s``.
            RedisUnavailableError: Redis could not be reached.
            ValidationError: ``event_loop`` is ``uvloop`` and uvloop is not installed.
        """
        if self._thread is not None:
            raise LifecycleError("the scheduler was already started")
        factory = loop_factory(self._event_loop)
        self._thread = threading.Thread(
            target=self._thread_main, args=(factory,), name="asynq-scheduler", daemon=True
        )
        self._thread.start()
        if not self._started.wait(timeout_s):
            raise LifecycleError("the scheduler did not start in time")
        if self._failure is not None:
            raise self._failure

    def shutdown(self, timeout_s: float = 30.0) -> None:
        """Stop enqueueing, withdraw the entries, and return once the background thread ended."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._request_stop)
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _thread_main(self, factory: Callable[[], asyncio.AbstractEventLoop] | None) -> None:
        try:
            run_on_loop(self._main(), factory)
        except BaseException as exc:  # reported to start(), or logged if it happens later
            if not self._started.is_set():
                self._failure = exc
                self._started.set()
            else:
                self._log.exception("the scheduler stopped with an error")

    # Asyncio API -----------------------------------------------------------------------------

    async def run_async(self) -> None:
        """Run on the current event loop until ``shutdown_async`` (no signal handling)."""
        await self._main()

    async def start_async(self) -> asyncio.Task[None]:
        """Start on the current event loop; return once the entries are published."""
        loop = asyncio.get_running_loop()
        ready = asyncio.Event()
        task = loop.create_task(self._main(ready))
        ready_wait = loop.create_task(ready.wait())
        try:
            await asyncio.wait({task, ready_wait}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready_wait.cancel()
        if task.done():
            task.result()  # raises what stopped it
        return task

    async def shutdown_async(self) -> None:
        """Stop the scheduler running on this loop and wait until it withdrew its entries."""
        self._request_stop()
        if self._closed is not None and self._loop is asyncio.get_running_loop():
            await self._closed.wait()

    # Internals -------------------------------------------------------------------------------

    def _request_stop(self) -> None:
        self._stop_requested = True
        if self._stopping is not None and self._wake is not None and self._changed is not None:
            self._stopping.set()
            self._wake.set()
            self._changed.set()

    async def _run_with_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._request_stop)
        try:
            await self._main()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

    async def _prepare(self) -> None:
        """Run once before the first heartbeat; an error here fails the start (a subclass hook)."""

    def _extra_loops(self, stopping: asyncio.Event) -> list[Awaitable[None]]:
        """Return more background loops to run until ``stopping`` (a subclass hook)."""
        return []

    async def _main(self, ready: asyncio.Event | None = None) -> None:
        """Run until asked to stop; set ``ready`` (and ``_started``) once the entries are published."""
        if self._ran:
            raise LifecycleError("a scheduler runs once; create a new one")
        self._ran = True
        self._loop = asyncio.get_running_loop()
        self._stopping, self._wake = asyncio.Event(), asyncio.Event()
        self._changed, self._closed = asyncio.Event(), asyncio.Event()
        if self._stop_requested:
            self._request_stop()
        broker = AsyncBroker(self._redis)
        client = AsyncClient(broker.redis, clock=self._clock)
        try:
            await broker.execute(Command(("PING",)))
            await self._prepare()
            await self._publish(broker)
        except BaseException:
            await broker.aclose()
            self._closed.set()
            raise
        loops = [self._tick_loop(client, broker), self._beat_loop(broker), *self._extra_loops(self._stopping)]
        background = [asyncio.ensure_future(c) for c in loops]
        self._log.info("scheduler %s started with %d entries", self.scheduler_id, len(self._entries))
        self._started.set()
        if ready is not None:
            ready.set()
        try:
            await self._stopping.wait()
        finally:
            self._log.info("scheduler %s shutting down", self.scheduler_id)
            self._request_stop()
            await asyncio.gather(*background, return_exceptions=True)
            await self._withdraw(broker)
            await broker.aclose()
            self._closed.set()
            self._log.info("scheduler %s shut down", self.scheduler_id)

    async def _tick_loop(self, client: AsyncClient, broker: AsyncBroker) -> None:
        assert self._stopping is not None
        assert self._wake is not None
        firing: set[asyncio.Task[None]] = set()
        while not self._stopping.is_set():
            self._wake.clear()
            now = self._clock.now()
            wake_at = now + self._check_s
            for entry in self._snapshot():
                if entry.busy:
                    continue
                due = max(entry.next_tick, entry.retry_at)
                if due > now:
                    wake_at = min(wake_at, due)
                    continue
                tick = self._choose_tick(entry, now)
                if tick is None:
                    wake_at = min(wake_at, entry.next_tick)
                    continue
                entry.busy = True
                fire = asyncio.ensure_future(self._fire(client, broker, entry, tick))
                firing.add(fire)
                fire.add_done_callback(firing.discard)
            await _wait(self._wake, wake_at - self._clock.now())
        await asyncio.gather(*firing, return_exceptions=True)

    def _choose_tick(self, entry: _Entry, now: float) -> float | None:
        """Return the tick to enqueue now, skipping (and counting) older ones; None if all are too late."""
        found = _due_tick(entry.schedule, entry.next_tick, now)
        if found is None or now - found[0] > self._grace_s:
            self._count(missed=1 if found is None else found[1] + 1)
            self._limited.log(
                logging.WARNING, f"missed {entry.id}", "scheduler entry %s (%s) missed ticks up to %s",
                entry.id, entry.schedule.spec, _utc(now),
            )  # fmt: skip
            entry.next_tick, entry.retry_at = entry.schedule.next_after(now), 0.0
            return None
        tick, skipped = found
        if skipped:
            self._count(missed=skipped)
            self._limited.log(
                logging.WARNING, f"missed {entry.id}", "scheduler entry %s (%s) skipped %d late ticks",
                entry.id, entry.schedule.spec, skipped,
            )  # fmt: skip
        entry.next_tick = tick
        return tick

    def _tick_options(self, entry: _Entry, tick: float) -> dict[str, Any]:
        """Return the enqueue options of one tick: the entry's, plus the dedupe id and retention."""
        options = dict(entry.options)
        if entry.merged.task_id is None:
            options["task_id"] = f"{entry.id}:{int(tick)}"
            # A peer fires this tick at most min(period, grace) after it; keep the task twice that
            # (and at least a minute, for clock skew) after it completes so the peer's enqueue conflicts.
            window = min(entry.schedule.period_after(tick), self._grace_s)
            keep = timedelta(seconds=max(2 * window, DEDUPE_MIN_RETENTION_S))
            options["retention"] = max(keep, entry.merged.retention or timedelta(0))
        return options

    async def _fire(self, client: AsyncClient, broker: AsyncBroker, entry: _Entry, tick: float) -> None:
        try:
            options = self._tick_options(entry, tick)
            await self._call_hook("pre_enqueue", self._pre_enqueue, entry.task, options)
            try:
                info = await client.enqueue(entry.task, **options)
            except (TaskIdConflictError, DuplicateTaskError) as exc:
                self._count(duplicates=1)
                self._log.debug("tick %s of entry %s was already enqueued: %s", _utc(tick), entry.id, exc)
                self._advance(entry, tick)
                await self._call_hook("post_enqueue", self._post_enqueue, None, exc)
                return
            except AsynqError as exc:
                self._count(errors=1)
                self._limited.log(
                    logging.ERROR, f"enqueue {entry.id}", "scheduler entry %s could not enqueue %r: %s",
                    entry.id, entry.task.type, exc,
                )  # fmt: skip
                if isinstance(exc, ValidationError):
                    self._advance(entry, tick)  # the same options will fail again
                else:
                    entry.retry_at = self._clock.now() + _RETRY_DELAY_S
                await self._call_hook("post_enqueue", self._post_enqueue, None, exc)
                return
            enqueued_at = self._clock.now()
            self._count(enqueued=1)
            self._advance(entry, tick)
            self._log.debug("scheduler entry %s enqueued task %s", entry.id, info.id)
            await self._call_hook("post_enqueue", self._post_enqueue, info, None)
            event = encode_scheduler_event(SchedulerEnqueueEvent(info.id, _utc(enqueued_at)))
            try:
                await broker.run(rdb.record_scheduler_event(entry.id, event, enqueued_at=enqueued_at))
            except AsynqError as exc:
                self._limited.log(logging.WARNING, "history", "could not record an enqueue event: %s", exc)
        except Exception:
            self._log.exception("scheduler entry %s failed unexpectedly", entry.id)
            self._advance(entry, tick)
        finally:
            entry.busy = False
            if self._wake is not None:
                self._wake.set()

    @staticmethod
    def _advance(entry: _Entry, tick: float) -> None:
        entry.prev_tick = tick
        entry.next_tick = entry.schedule.next_after(tick)
        entry.retry_at = 0.0

    def _count(self, **counts: int) -> None:
        """Add to the counters; the stats record is replaced, never changed, so readers see one state."""
        s = self._stats
        self._stats = dataclasses.replace(s, **{name: getattr(s, name) + n for name, n in counts.items()})

    async def _call_hook(self, name: str, hook: Callable[..., object] | None, *args: object) -> None:
        if hook is None:
            return
        try:
            result = hook(*args)
            if inspect.isawaitable(result):
                await result
        except Exception:
            self._log.exception("the scheduler's %s hook failed", name)

    async def _beat_loop(self, broker: AsyncBroker) -> None:
        assert self._stopping is not None
        assert self._changed is not None
        while True:
            await _wait(self._changed, self._heartbeat_s)
            if self._stopping.is_set():
                return
            self._changed.clear()
            try:
                await self._publish(broker)
            except AsynqError as exc:
                self._limited.log(logging.ERROR, "beat", "scheduler heartbeat failed: %s", exc)

    async def _publish(self, broker: AsyncBroker) -> None:
        entries = [
            encode_scheduler_entry(
                SchedulerEntry(
                    id=info.id,
                    spec=info.spec,
                    task_type=info.task_type,
                    task_payload=info.task_payload,
                    enqueue_options=info.options,
                    next_enqueue=info.next_enqueue_at,
                    prev_enqueue=info.prev_enqueue_at,
                )
            )
            for info in self.entries()  # soonest first, as Go's cron lists them before LPUSHing
        ]
        ttl_s = max(1, math.ceil(2 * self._heartbeat_s))
        key = keys.scheduler_entries_key(self.scheduler_id)
        await broker.run(rdb.write_scheduler_entries(key, entries, now=self._clock.now(), ttl_s=ttl_s))

    async def _withdraw(self, broker: AsyncBroker) -> None:
        """Remove the published entries, and the history of entries no live peer publishes."""
        ids = [e.id for e in self._snapshot()]
        try:
            await broker.run(rdb.clear_scheduler_entries(keys.scheduler_entries_key(self.scheduler_id)))
            # Go deletes the history of its entries here. Peers running the same entries share their
            # ids and history, so only the last scheduler to publish an entry deletes it.
            peers = await broker.run(rdb_inspect.scheduler_entries(now=self._clock.now()))
            shared = {p.id for p in peers if p.scheduler_id != self.scheduler_id}
            await broker.run(rdb.clear_scheduler_history([i for i in ids if i not in shared]))
        except AsynqError as exc:
            self._log.warning("could not withdraw the scheduler entries: %s", exc)
