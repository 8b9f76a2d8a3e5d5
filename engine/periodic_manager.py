"""``PeriodicTaskManager``: a scheduler whose entries come from a source it reloads, as Go's does.

Every ``sync_interval_s`` the manager asks its ``ScheduleSource`` for the wanted entries and adds,
removes and replaces its own entries to match, without a restart. A source that fails (a missing
file, a bad value) is logged and the entries it had are kept; only the first load, at start, fails
the start.

``TomlScheduleSource`` reads ``[[schedule]]`` tables from a TOML file::

    [[schedule]]
    id = "nightly-report"         # optional: a stable entry id (default: derived from the entry)
    spec = "0 3 * * *"            # cron fields, a descriptor or "@every <duration>"
    type = "report:nightly"
    payload = { team = "ops" }    # a string, or a table/array stored as JSON (optional)
    queue = "reports"             # enqueue options (all optional):
    max_retry = 3                 #   an integer
    timeout = "10m"               #   Go durations: timeout, unique, retention
    unique = "1h"
    retention = "24h"
"""

from __future__ import annotations

import asyncio
import logging
import tomllib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from pathlib import Path
from typing import Any, Protocol

from .clock import Clock
from .config import RedisConnOpt
from .cron import parse_spec
from .errors import AsynqError, ValidationError
from .eventloop import DEFAULT_EVENT_LOOP
from .gotime import go_quote, parse_duration
from .options import parse_options, validate_task_id, validate_task_type
from .scheduler import PostEnqueueHook, PreEnqueueHook, Scheduler, _Entry
from .task import Task

__all__ = ["PeriodicTaskConfig", "PeriodicTaskManager", "ScheduleSource", "TomlScheduleSource"]


@dataclass(frozen=True, slots=True)
class PeriodicTaskConfig:
    """One wanted scheduler entry, as a source describes it."""

    spec: str
    """Cron fields, a descriptor or ``@every <duration>``."""
    task: Task
    """The task to enqueue at each tick."""
    options: Mapping[str, Any] = field(default_factory=dict)
    """Enqueue options (see ``Client.enqueue``)."""
    entry_id: str | None = None
    """A stable entry id; None derives it from the entry (see ``Scheduler.register``)."""


class ScheduleSource(Protocol):
    """Something that says which periodic tasks should run (Go's PeriodicTaskConfigProvider)."""

    def load(self) -> Sequence[PeriodicTaskConfig]:
        """Return the wanted entries; raise ``ValidationError`` if they cannot be read.

        Called on a worker thread, so it may block on files or the network.
        """
        ...


class PeriodicTaskManager(Scheduler):
    """A ``Scheduler`` that keeps its entries in step with a ``ScheduleSource``.

    It has the scheduler's lifecycle (``run``, ``start``/``shutdown``, ``run_async``,
    ``start_async``/``shutdown_async``). Entries added with ``register`` are left alone by syncs.

    Args:
        redis: A Redis URL or ``RedisConnOpt``.
        source: Where the entries come from, e.g. ``TomlScheduleSource("schedule.toml")``.
        sync_interval_s: How often the source is reloaded (default 180 s, as Go).
        **others: As for ``Scheduler``.
    """

    def __init__(
        self,
        redis: str | RedisConnOpt,
        source: ScheduleSource,
        *,
        sync_interval_s: float = 180.0,
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
        if not sync_interval_s > 0:
            raise ValidationError(f"sync_interval_s must be positive, got {sync_interval_s!r}")
        super().__init__(
            redis,
            location=location,
            clock=clock,
            heartbeat_interval_s=heartbeat_interval_s,
            logger=logger,
            pre_enqueue=pre_enqueue,
            post_enqueue=post_enqueue,
            misfire_grace_s=misfire_grace_s,
            check_interval_s=check_interval_s,
            event_loop=event_loop,
        )
        self._source = source
        self._sync_s = sync_interval_s
        self._managed: dict[str, str] = {}  # entry id -> fingerprint of what it fires
        self.syncs = 0
        """How many syncs applied the source (for tests and health)."""

    def sync(self) -> None:
        """Reload the source now and apply it (blocking).

        Raises:
            ValidationError: the source could not be read or holds a bad entry; nothing changed.
        """
        self._apply(self._source.load())

    def _apply(self, configs: Sequence[PeriodicTaskConfig]) -> None:
        wanted: dict[str, _Entry] = {}
        for n, config in enumerate(configs, 1):
            try:
                entry = self._build_entry(config.spec, config.task, config.entry_id, config.options)
            except ValidationError as exc:
                raise ValidationError(f"schedule entry {n} ({config.task.type}): {exc}") from None
            if entry.id in wanted:
                raise ValidationError(f"schedule entry {n}: entry id {entry.id!r} is used twice")
            wanted[entry.id] = entry
        with self._lock:
            taken = sorted(set(wanted) & (self._entries.keys() - self._managed.keys()))
            if taken:
                raise ValidationError(f"entry ids {taken} are already registered outside the schedule")
            changes = 0
            for entry_id, fingerprint in list(self._managed.items()):
                if entry_id not in wanted or wanted[entry_id].fingerprint != fingerprint:
                    del self._entries[entry_id], self._managed[entry_id]
                    changes += 1
            for entry_id, entry in wanted.items():
                if entry_id not in self._managed:
                    self._entries[entry_id] = entry
                    self._managed[entry_id] = entry.fingerprint
                    changes += 1
        self.syncs += 1
        if changes:
            self._log.info("schedule synced: %d entries, %d changes", len(wanted), changes)
            self._notify()

    async def _prepare(self) -> None:
        self._apply(await asyncio.to_thread(self._source.load))

    def _extra_loops(self, stopping: asyncio.Event) -> list[Awaitable[None]]:
        return [self._sync_loop(stopping)]

    async def _sync_loop(self, stopping: asyncio.Event) -> None:
        while not await _stopped_within(stopping, self._sync_s):
            try:
                self._apply(await asyncio.to_thread(self._source.load))
            except AsynqError as exc:
                self._log.error("schedule not reloaded, keeping the current entries: %s", exc)
            except Exception:
                self._log.exception("schedule not reloaded, keeping the current entries")


async def _stopped_within(stopping: asyncio.Event, seconds: float) -> bool:
    try:
        async with asyncio.timeout(seconds):
            await stopping.wait()
    except TimeoutError:
        return False
    return True


_DURATION_KEYS = ("timeout", "unique", "retention")
_KEYS = ("id", "spec", "type", "payload", "queue", "max_retry", *_DURATION_KEYS)


class TomlScheduleSource:
    """Reads ``[[schedule]]`` tables from a TOML file at each load (see the module docstring).

    Args:
        path: The file.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        """The file read at each load."""

    def load(self) -> list[PeriodicTaskConfig]:
        """Read the file and return its entries.

        Raises:
            ValidationError: the file cannot be read or parsed, or an entry has an unknown key or a
                bad value; the message names the file, the entry and the key.
        """
        try:
            with self.path.open("rb") as f:
                doc = tomllib.load(f)
        except OSError as exc:
            raise ValidationError(f"{self.path}: cannot read the schedule: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ValidationError(f"{self.path}: not valid TOML: {exc}") from None
        except UnicodeDecodeError as exc:
            raise ValidationError(f"{self.path}: not UTF-8 text: {exc.reason} at byte {exc.start}") from None
        unknown = sorted(doc.keys() - {"schedule"})
        if unknown:
            raise ValidationError(
                f"{self.path}: unknown top-level keys {unknown} (expected [[schedule]] tables)"
            )
        tables = doc.get("schedule", [])
        if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
            raise ValidationError(f"{self.path}: 'schedule' must be an array of tables ([[schedule]])")
        return [self._entry(n, table) for n, table in enumerate(tables, 1)]

    def _entry(self, n: int, table: dict[str, Any]) -> PeriodicTaskConfig:
        name = table.get("id")
        label = f"{self.path}: [[schedule]] #{n}" + (
            f" (id {go_quote(name)})" if isinstance(name, str) else ""
        )

        def fail(key: str, reason: str) -> ValidationError:
            return ValidationError(f"{label}: key {key!r}: {reason}")

        _check_keys(table, label, fail)
        options = _entry_options(table, fail)
        if name is not None:
            _checked(fail, "id", validate_task_id, name)
        spec = _checked(fail, "spec", parse_spec, table["spec"]).spec
        task_type = _checked(fail, "type", validate_task_type, table["type"])
        payload = table.get("payload")
        if payload is not None and not isinstance(payload, str | dict | list):
            raise fail("payload", f"must be a string, table or array, got {_toml_type(payload)}")
        task = _checked(fail, "payload", lambda p: Task(task_type, p), payload)
        return PeriodicTaskConfig(spec, task, options, name)


def _check_keys(table: dict[str, Any], label: str, fail: Callable[[str, str], ValidationError]) -> None:
    """Every key of a ``[[schedule]]`` table is known, the required ones are there, each of its type."""
    unknown = sorted(table.keys() - set(_KEYS))
    if unknown:
        raise ValidationError(f"{label}: unknown keys {unknown} (known: {', '.join(_KEYS)})")
    for key in ("spec", "type"):
        if key not in table:
            raise ValidationError(f"{label}: missing key {key!r}")
    for key in ("id", "spec", "type", "queue", *_DURATION_KEYS):
        if key in table and not isinstance(table[key], str):
            raise fail(key, f"must be a string, got {_toml_type(table[key])}")
    if "max_retry" in table and type(table["max_retry"]) is not int:
        raise fail("max_retry", f"must be an integer, got {_toml_type(table['max_retry'])}")


def _entry_options(table: dict[str, Any], fail: Callable[[str, str], ValidationError]) -> dict[str, Any]:
    """The enqueue options of a ``[[schedule]]`` table, each checked as the client would."""
    options: dict[str, Any] = {}
    for key in ("queue", "max_retry", *_DURATION_KEYS):
        if key in table:
            value = table[key]
            if key in _DURATION_KEYS:
                value = _checked(fail, key, parse_duration, value)
            _checked(fail, key, parse_options, {key: value})
            options[key] = value
    return options


def _checked(
    fail: Callable[[str, str], ValidationError], key: str, parse: Callable[[Any], Any], value: Any
) -> Any:
    """Return ``parse(value)``, turning its ``ValidationError`` into one that names the entry and key."""
    try:
        return parse(value)
    except ValidationError as exc:
        raise fail(key, str(exc)) from None


def _toml_type(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string", list: "an array"}
    return names.get(type(value), "a table" if isinstance(value, dict) else f"a {type(value).__name__}")
