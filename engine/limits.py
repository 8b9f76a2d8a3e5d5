"""The flow-control model: a queue's limits and its limits per task type (docs/flow-control.md).

Limits live in Redis, in the ``asynq:{<queue>}:limits`` hash (docs/wire.md §2), so every server
sees a change at its next dequeue. This module is the one definition of that hash's fields:

==================================  ===================================================================
field                               meaning (decimal integers; an absent field is no limit)
==================================  ===================================================================
``concurrency``                     at most N of the queue's tasks active at once, across every server
``rate``, ``period_ms``, ``burst``  at most ``rate`` task starts per ``period_ms``, bursts up to ``burst``
``type:<type>:concurrency``         the same for the tasks of one type (the type is everything between
``type:<type>:rate`` ... ``burst``  ``type:`` and the last ``:``, so it may contain colons)
==================================  ===================================================================

The rate limiter is GCRA on Redis's clock: with ``interval = period_ms / rate``, a start at ``t``
is allowed when ``t >= tat - (burst - 1) * interval``, and then ``tat = max(tat, t) + interval``
(``tat``, the theoretical arrival time in ms, is the limiter's state). The dequeue script adds two
details (docs/wire.md §4.1.7): a start up to half an interval late keeps the schedule, and a state
further ahead than ``t + burst * interval`` (left by a slower rate) counts as that horizon.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from .errors import DecodeError, ValidationError
from .options import validate_task_type

__all__ = [
    "MAX_LIMIT",
    "PERIODS_MS",
    "Limit",
    "QueueLimits",
    "Rate",
    "field_names",
    "field_types",
    "next_start_text",
]

MAX_LIMIT = 1_000_000_000
"""The largest concurrency, rate, burst or period (ms) accepted."""

PERIODS_MS: dict[str, int] = {"s": 1_000, "m": 60_000, "h": 3_600_000}
"""The rate units ``N/s``, ``N/m`` and ``N/h`` in milliseconds."""

_RATE_TEXT = re.compile(r"\s*(\d+)\s*/\s*([smh])\s*")
_TYPE_PREFIX = "type:"
_FIELDS = ("concurrency", "rate", "period_ms", "burst")


def _check_count(name: str, value: object) -> int:
    """Return ``value`` if it is an int from 1 to ``MAX_LIMIT``; raise ``ValidationError``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{name} must be a whole number, not {value!r}")
    if not 1 <= value <= MAX_LIMIT:
        raise ValidationError(f"{name} must be from 1 to {MAX_LIMIT:,}, not {value}")
    return value


@dataclass(frozen=True, slots=True)
class Rate:
    """At most ``count`` task starts per ``period_ms``, in bursts of up to ``burst``.

    Raises ``ValidationError`` unless every figure is a whole number from 1 to ``MAX_LIMIT``.
    """

    count: int
    """Starts allowed per period."""
    period_ms: int
    """The period in milliseconds (1,000 for ``N/s``, 60,000 for ``N/m``, 3,600,000 for ``N/h``)."""
    burst: int = 1
    """Starts allowed back to back after an idle spell (default 1: evenly spaced)."""

    def __post_init__(self) -> None:
        _check_count("rate", self.count)
        _check_count("rate period (ms)", self.period_ms)
        _check_count("burst", self.burst)

    @classmethod
    def parse(cls, text: str, *, burst: int = 1) -> Rate:
        """Parse ``N/s``, ``N/m`` or ``N/h`` (``"100/m"``: 100 starts a minute)."""
        match = _RATE_TEXT.fullmatch(text)
        if match is None:
            raise ValidationError(f"bad rate {text!r}: use N/s, N/m or N/h (e.g. 100/m)")
        return cls(int(match[1]), PERIODS_MS[match[2]], burst)

    def __str__(self) -> str:
        """``100/m`` (a period that is not one unit is written in ms: ``5/2500ms``)."""
        unit = next((u for u, ms in PERIODS_MS.items() if ms == self.period_ms), None)
        return f"{self.count}/{unit}" if unit else f"{self.count}/{self.period_ms}ms"

    def text_with_burst(self) -> str:
        """``100/m``, or ``100/m burst 5`` when starts may go back to back (a burst above 1)."""
        return f"{self} burst {self.burst}" if self.burst > 1 else str(self)

    @property
    def interval_ms(self) -> float:
        """Milliseconds between two evenly spaced starts (``period_ms / count``)."""
        return self.period_ms / self.count

    def next_slot_in_ms(self, tat_ms: float | None, now_ms: float) -> int:
        """Return how many ms from ``now_ms`` until a start is allowed (0: now), given the state.

        ``tat_ms`` is the limiter's theoretical arrival time (None: no state, a start is allowed).
        """
        if tat_ms is None:
            return 0
        tolerance = (self.burst - 1) * self.interval_ms
        tat = min(tat_ms, now_ms + tolerance + self.interval_ms)  # the script's horizon
        return max(0, math.ceil(tat - tolerance - now_ms))


@dataclass(frozen=True, slots=True)
class Limit:
    """A concurrency limit, a rate limit, or both (None: no limit of that kind)."""

    concurrency: int | None = None
    """At most this many tasks active at once, across every server."""
    rate: Rate | None = None
    """At most this many starts per period, across every server."""

    def __post_init__(self) -> None:
        if self.concurrency is not None:
            _check_count("concurrency", self.concurrency)

    @property
    def is_empty(self) -> bool:
        """Whether this limits nothing."""
        return self.concurrency is None and self.rate is None

    def updated(
        self, *, concurrency: int | None = None, rate: Rate | None = None, burst: int | None = None
    ) -> Limit:
        """Return this limit with the given parts replaced and the others kept.

        A new ``rate`` keeps the current burst unless ``burst`` is given too; ``burst`` alone
        changes the current rate's burst and raises ``ValidationError`` when there is no rate.
        """
        new_rate = self.rate if rate is None else rate
        if rate is not None and burst is None and self.rate is not None:
            new_rate = replace(rate, burst=self.rate.burst)
        if burst is not None:
            if new_rate is None:
                raise ValidationError("a burst needs a rate: give --rate as well")
            new_rate = replace(new_rate, burst=burst)
        return Limit(self.concurrency if concurrency is None else concurrency, new_rate)

    def _fields(self, prefix: str) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.concurrency is not None:
            out[prefix + "concurrency"] = str(self.concurrency)
        if self.rate is not None:
            out[prefix + "rate"] = str(self.rate.count)
            out[prefix + "period_ms"] = str(self.rate.period_ms)
            out[prefix + "burst"] = str(self.rate.burst)
        return out

    @classmethod
    def _from_values(cls, values: Mapping[str, str], where: str) -> Limit:
        numbers: dict[str, int] = {}
        for name, text in values.items():
            try:
                numbers[name] = _check_count(name, int(text))
            except (ValueError, ValidationError):
                raise DecodeError(f"{where}: field {name!r} is {text!r}, not a whole number from 1") from None
        rate = None
        if "rate" in numbers:
            if "period_ms" not in numbers:
                raise DecodeError(f"{where}: field 'rate' has no 'period_ms'")
            rate = Rate(numbers["rate"], numbers["period_ms"], numbers.get("burst", 1))
        return cls(numbers.get("concurrency"), rate)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True, slots=True)
class QueueLimits:
    """Everything that limits one queue: its own limit and a limit per task type.

    Example: at most 2 ``report:pdf`` tasks at once, and 100 starts a minute for the queue::

        QueueLimits(rate=Rate.parse("100/m"), types={"report:pdf": Limit(concurrency=2)})
    """

    concurrency: int | None = None
    """At most this many of the queue's tasks active at once, across every server."""
    rate: Rate | None = None
    """At most this many of the queue's task starts per period, across every server."""
    types: Mapping[str, Limit] = field(default_factory=dict)
    """Limits of single task types (each counts only the tasks of its type)."""

    def __post_init__(self) -> None:
        Limit(self.concurrency, self.rate)
        for task_type in self.types:
            validate_task_type(task_type)

    @property
    def queue_limit(self) -> Limit:
        """The queue's own limit, without the per-type ones."""
        return Limit(self.concurrency, self.rate)

    @property
    def is_empty(self) -> bool:
        """Whether this limits nothing."""
        return self.queue_limit.is_empty and all(t.is_empty for t in self.types.values())

    def for_type(self, task_type: str) -> Limit:
        """Return the limit of one task type (empty if it has none)."""
        return self.types.get(task_type, Limit())

    def updated(
        self,
        *,
        task_type: str | None = None,
        concurrency: int | None = None,
        rate: Rate | None = None,
        burst: int | None = None,
    ) -> QueueLimits:
        """Return these limits with the queue's (or ``task_type``'s) given parts replaced.

        The rules of ``Limit.updated`` apply; raises ``ValidationError`` when nothing is given.
        """
        if concurrency is None and rate is None and burst is None:
            raise ValidationError("give a concurrency, a rate or a burst to set")
        if task_type is None:
            limit = self.queue_limit.updated(concurrency=concurrency, rate=rate, burst=burst)
            return QueueLimits(limit.concurrency, limit.rate, self.types)
        limit = self.for_type(validate_task_type(task_type)).updated(
            concurrency=concurrency, rate=rate, burst=burst
        )
        return QueueLimits(self.concurrency, self.rate, {**self.types, task_type: limit})

    def to_fields(self) -> dict[str, str]:
        """Return the fields of the ``limits`` hash (see the module docstring)."""
        out = self.queue_limit._fields("")
        for task_type in sorted(self.types):
            out.update(self.types[task_type]._fields(f"{_TYPE_PREFIX}{task_type}:"))
        return out

    @classmethod
    def from_fields(
        cls, fields: Mapping[bytes, bytes] | Mapping[str, str], *, queue: str = ""
    ) -> QueueLimits:
        """Parse the ``limits`` hash (an ``HGETALL`` reply); raise ``DecodeError`` on a bad value.

        Unknown fields are ignored, so a newer asynq-py may add some.
        """
        own: dict[str, str] = {}
        per_type: dict[str, dict[str, str]] = {}
        for raw_name, raw_value in fields.items():
            name, value = _text(raw_name), _text(raw_value)
            if name.startswith(_TYPE_PREFIX):
                task_type, _, part = name[len(_TYPE_PREFIX) :].rpartition(":")
                if task_type and part in _FIELDS:
                    per_type.setdefault(task_type, {})[part] = value
            elif name in _FIELDS:
                own[name] = value
        where = f"limits of queue {queue!r}"
        queue_limit = Limit._from_values(own, where)
        types = {t: Limit._from_values(v, f"{where}, type {t!r}") for t, v in sorted(per_type.items())}
        return cls(
            queue_limit.concurrency, queue_limit.rate, {t: v for t, v in types.items() if not v.is_empty}
        )


def field_names(task_type: str | None = None) -> list[str]:
    """Return every field the ``limits`` hash may hold for the queue's own limit or ``task_type``'s."""
    prefix = "" if task_type is None else f"{_TYPE_PREFIX}{validate_task_type(task_type)}:"
    return [prefix + part for part in _FIELDS]


def field_types(names: Iterable[bytes | str]) -> list[str]:
    """Return the task types that the given ``limits`` hash fields name, sorted (bad values or not)."""
    found: set[str] = set()
    for raw in names:
        name = _text(raw)
        if name.startswith(_TYPE_PREFIX):
            task_type, _, part = name[len(_TYPE_PREFIX) :].rpartition(":")
            if task_type and part in _FIELDS:
                found.add(task_type)
    return sorted(found)


def next_start_text(ms: int) -> str:
    """Put ``Rate.next_slot_in_ms`` in words: ``now`` (0 or less), ``in 1.5s``, or ``in 3m`` from a minute.

    ``limit ls`` and the dashboard's limits line both show a rate's next start this way.
    """
    if ms <= 0:
        return "now"
    return f"in {ms / 1000:.1f}s" if ms < 60_000 else f"in {ms // 60_000}m"
