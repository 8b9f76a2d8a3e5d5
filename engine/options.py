"""Validation of names and enqueue options into one frozen record; no I/O.

Durations are ``timedelta`` or a number of seconds; times are timezone-aware ``datetime``.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypedDict

from .errors import ValidationError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "DEFAULT_MAX_RETRY",
    "DEFAULT_TIMEOUT",
    "MAX_NAME_LENGTH",
    "NO_OPTIONS",
    "EnqueueOptions",
    "LaterOptions",
    "Options",
    "TaskOptions",
    "merge_options",
    "parse_options",
    "validate_group",
    "validate_queue_name",
    "validate_task_id",
    "validate_task_type",
]

DEFAULT_MAX_RETRY = 25
"""Go asynq's default number of retries."""
DEFAULT_TIMEOUT = timedelta(minutes=30)
"""Timeout applied when neither a timeout nor a deadline is given (Go's default)."""
MAX_NAME_LENGTH = 1024
"""Longest queue name, task id, group or task type accepted, in characters."""


def _check_name(kind: str, value: object, *, braces: bool) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{kind} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise ValidationError(f"{kind} must not be blank")
    if len(value) > MAX_NAME_LENGTH:
        raise ValidationError(f"{kind} is longer than {MAX_NAME_LENGTH} characters")
    for ch in value:
        if unicodedata.category(ch) in ("Cc", "Cs") or ch in "\u2028\u2029":
            raise ValidationError(f"{kind} {value!r} contains a control character")
        if not braces and ch in "{}":
            # Braces would change the Redis Cluster hash tag and let one queue's keys collide
            # with another's (reliability spec R18).
            raise ValidationError(f"{kind} {value!r} must not contain '{{' or '}}'")
    return value


def validate_queue_name(name: object) -> str:
    """Return ``name`` if it is a valid queue name, else raise ``ValidationError``."""
    return _check_name("queue name", name, braces=False)


def validate_task_id(task_id: object) -> str:
    """Return ``task_id`` if it is a valid task id, else raise ``ValidationError``."""
    return _check_name("task id", task_id, braces=True)


def validate_task_type(task_type: object) -> str:
    """Return ``task_type`` if it is a valid task type, else raise ``ValidationError``."""
    return _check_name("task type", task_type, braces=True)


def validate_group(group: object) -> str:
    """Return ``group`` if it is a valid group name, else raise ``ValidationError``."""
    return _check_name("group", group, braces=False)


def _duration(name: str, value: object, *, minimum: timedelta | None = None) -> timedelta:
    """Return ``value`` as a timedelta; negative ones pass, as in Go, unless ``minimum`` says otherwise."""
    if isinstance(value, bool) or not isinstance(value, timedelta | int | float):
        raise ValidationError(f"{name} must be a timedelta or seconds, got {type(value).__name__}")
    try:
        d = value if isinstance(value, timedelta) else timedelta(seconds=value)
    except (OverflowError, ValueError):
        raise ValidationError(f"{name} is out of range") from None
    if minimum is not None and d < minimum:
        least, got = minimum.total_seconds(), d.total_seconds()
        raise ValidationError(f"{name} must be at least {least:g}s, got {got:g}s")
    return d


def _aware_time(name: str, value: object) -> datetime:
    if not isinstance(value, datetime):
        raise ValidationError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(f"{name} must be timezone-aware (e.g. datetime.now(UTC)), got a naive datetime")
    return value


@dataclass(frozen=True, slots=True)
class EnqueueOptions:
    """Validated enqueue options; None means "not given"."""

    max_retry: int | None = None
    """How many times to retry (default 25; negative means 0)."""
    queue: str | None = None
    """Queue name (default "default")."""
    task_id: str | None = None
    """Task id (default a random UUID)."""
    timeout: timedelta | None = None
    """How long one run may take (default 30 min when no deadline is given either); stored in
    whole seconds truncated toward zero, as Go stores it, so a negative one fails every run at once."""
    deadline: datetime | None = None
    """The time by which the task must finish."""
    unique: timedelta | None = None
    """Hold a uniqueness lock on (queue, type, payload) for this long (at least 1 s)."""
    process_at: datetime | None = None
    """Run the task no earlier than this."""
    process_in: timedelta | None = None
    """Run the task no earlier than this long from now (negative means now, as in Go)."""
    retention: timedelta | None = None
    """Keep the task as completed for this long after success (stored as Go stores it; zero or
    negative keeps nothing)."""
    group: str | None = None
    """Aggregation group."""
    headers: tuple[tuple[str, str], ...] | None = None
    """Headers merged into the task's own."""


class _CommonOptions(TypedDict, total=False):
    max_retry: int | None
    """How many times to retry (default 25; negative means 0)."""
    queue: str | None
    """Queue name (default "default")."""
    task_id: str | None
    """Task id (default a random UUID)."""
    timeout: timedelta | float | None
    """How long one run may take, a timedelta or seconds (default 30 min when no deadline is given)."""
    deadline: datetime | None
    """The time by which the task must finish (timezone-aware)."""
    unique: timedelta | float | None
    """Hold a uniqueness lock on (queue, type, payload) for this long, at least 1 s."""
    retention: timedelta | float | None
    """Keep the task as completed for this long after success."""
    group: str | None
    """Aggregation group."""


class TaskOptions(_CommonOptions, total=False):
    """The options a ``Task`` or ``ServeMux.task`` carries as defaults, as keyword arguments.

    Every option is optional and None means "not given"; a type checker rejects an unknown name or a
    value of the wrong type.
    """

    process_at: datetime | None
    """Run the task no earlier than this (timezone-aware)."""
    process_in: timedelta | float | None
    """Run the task no earlier than this long from now, a timedelta or seconds."""


class Options(TaskOptions, total=False):
    """Every enqueue option, as keyword arguments (``enqueue``, ``enqueue_many``, ``set_default_options``)."""

    headers: Mapping[str, str] | None
    """Headers merged into the task's own."""


class LaterOptions(_CommonOptions, total=False):
    """The enqueue options of ``enqueue_in``/``enqueue_at``: all but ``process_at``/``process_in``."""

    headers: Mapping[str, str] | None
    """Headers merged into the task's own."""


def _check_headers(value: object) -> tuple[tuple[str, str], ...]:
    if not hasattr(value, "items"):
        raise ValidationError("headers must be a mapping of strings to strings")
    pairs = tuple(value.items())
    for k, v in pairs:
        if not isinstance(k, str) or not isinstance(v, str):
            raise ValidationError("headers must be a mapping of strings to strings")
    return pairs


NO_OPTIONS = EnqueueOptions()
"""The options of a task made without any (one shared object, so that ``merge_options`` skips it)."""

_CHECKS: dict[str, Any] = {
    "max_retry": None,
    "queue": validate_queue_name,
    "task_id": validate_task_id,
    "timeout": lambda v: _duration("timeout", v),
    "deadline": lambda v: _aware_time("deadline", v),
    "unique": lambda v: _duration("unique", v, minimum=timedelta(seconds=1)),
    "process_at": lambda v: _aware_time("process_at", v),
    "process_in": lambda v: _duration("process_in", v),
    "retention": lambda v: _duration("retention", v),
    "group": validate_group,
    "headers": _check_headers,
}


def parse_options(options: Mapping[str, Any]) -> EnqueueOptions:
    """Validate keyword options into an ``EnqueueOptions``; None values count as not given."""
    values: dict[str, Any] = {}
    for name, value in options.items():
        if name not in _CHECKS:
            known = ", ".join(_CHECKS)
            raise ValidationError(f"unknown enqueue option {name!r} (known: {known})")
        if value is None:
            continue
        if name == "max_retry":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValidationError(f"max_retry must be an int, got {type(value).__name__}")
            values[name] = min(max(value, 0), 2**31 - 1)
        else:
            values[name] = _CHECKS[name](value)
    return EnqueueOptions(**values) if values else NO_OPTIONS


def merge_options(base: EnqueueOptions, override: EnqueueOptions) -> EnqueueOptions:
    """Return ``base`` with every option that ``override`` gives replaced (the last one wins)."""
    if override is NO_OPTIONS or override == NO_OPTIONS:
        return base
    if base is NO_OPTIONS:
        return override
    changes = {
        f.name: getattr(override, f.name)
        for f in dataclasses.fields(override)
        if getattr(override, f.name) is not None
    }
    if base.headers and override.headers:
        changes["headers"] = tuple({**dict(base.headers), **dict(override.headers)}.items())
    return dataclasses.replace(base, **changes)
