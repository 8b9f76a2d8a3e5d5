"""Schedule specs as Go asynq's scheduler reads them (robfig/cron v3's standard parser, docs/wire.md §5.8).

A spec is one of:

- five cron fields, ``minute hour day-of-month month day-of-week`` (``*/15 9-17 * * MON-FRI``);
- a descriptor: ``@yearly`` (= ``@annually``), ``@monthly``, ``@weekly``, ``@daily`` (= ``@midnight``),
  ``@hourly``;
- ``@every <duration>`` in Go's duration syntax (``@every 1h30m``);

optionally after a ``CRON_TZ=<zone> `` or ``TZ=<zone> `` prefix naming an IANA time zone. Cron fields
are evaluated by cronsim, which follows Debian cron (day-of-month and day-of-week are OR-ed unless one
starts with ``*``; daylight-saving gaps and repeats are handled as Debian does). Beyond robfig's
syntax cronsim also accepts ``L``, ``LW`` and ``#`` (``FRI#1``); a six-field (seconds) spec is
refused, as robfig's standard parser refuses it.

``@every`` differs from Go on purpose: Go counts the interval from the scheduler's start, asynq-py
from the Unix epoch, so every scheduler with the same entry fires on the same ticks (see
``docs/scheduler.md``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from .errors import ValidationError
from .gotime import go_quote, parse_duration

__all__ = ["DESCRIPTORS", "Schedule", "parse_spec", "zone"]

DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
"""robfig/cron's descriptors and the five-field expressions they stand for."""

_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day-of-month", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 0, 7),
)
_NUMBER = re.compile(r"\d+")
_PLAIN = re.compile(r"[\d,-]+")


def zone(location: tzinfo | str) -> tzinfo:
    """Return ``location`` as a tzinfo; a str is an IANA zone name such as ``Europe/Berlin``.

    Raises:
        ValidationError: no such zone.
    """
    if isinstance(location, tzinfo):
        return location
    try:
        return ZoneInfo(location)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"unknown time zone {go_quote(location)}") from None


def _zone_name(tz: tzinfo) -> str:
    return getattr(tz, "key", None) or str(tz)


@dataclass(frozen=True, slots=True)
class Schedule:
    """A parsed spec: when an entry fires. Times are Unix seconds."""

    spec: str
    """The spec as written."""
    expression: str | None
    """The five cron fields it runs on (descriptors expanded), or None for ``@every``."""
    every_s: int | None
    """The ``@every`` interval in whole seconds, or None for cron fields."""
    location: tzinfo
    """The zone the cron fields are read in (ignored by ``@every``)."""

    @property
    def canonical(self) -> str:
        """A text that is equal for specs that fire at the same times (``@daily`` = ``0 0 * * *``)."""
        if self.every_s is not None:
            return f"every {self.every_s}s"
        return f"{_zone_name(self.location)} {self.expression}"

    def next_after(self, t: float) -> float:
        """Return the first firing time strictly after ``t``, or ``math.inf`` if there is none in 50 years."""
        if self.every_s is not None:
            return float((math.floor(t) // self.every_s + 1) * self.every_s)
        assert self.expression is not None
        start = datetime.fromtimestamp(math.floor(t), UTC).astimezone(self.location)
        try:
            return next(CronSim(self.expression, start)).timestamp()
        except StopIteration:
            return math.inf

    def period_after(self, tick: float) -> float:
        """Return the time from firing time ``tick`` to the next one."""
        if self.every_s is not None:
            return float(self.every_s)
        return self.next_after(tick) - tick


def parse_spec(spec: str, location: tzinfo | str = UTC) -> Schedule:
    """Parse a cron spec, descriptor or ``@every`` interval; ``location`` applies unless the spec has ``TZ=``.

    Raises:
        ValidationError: the spec is not valid; the message names the bad part, e.g.
            ``bad cron spec "61 * * * *": minute field "61" out of range 0-59``.
    """
    if not isinstance(spec, str):
        raise ValidationError(f"cron spec must be a string, got {type(spec).__name__}")
    text = spec.strip()
    tz = zone(location)
    if text.startswith(("TZ=", "CRON_TZ=")):
        prefix, _, text = text.partition(" ")
        name = prefix.partition("=")[2]
        try:
            tz = zone(name)
        except ValidationError:
            raise _bad(spec, f"unknown time zone {go_quote(name)}") from None
        text = text.strip()
    if not text:
        raise _bad(spec, "empty spec")
    if text.startswith("@every"):
        return Schedule(spec, None, _every_seconds(spec, text), tz)
    if text.startswith("@"):
        expression = DESCRIPTORS.get(text)
        if expression is None:
            known = ", ".join([*DESCRIPTORS, "@every <duration>"])
            raise _bad(spec, f"unknown descriptor {go_quote(text)} (known: {known})")
    else:
        expression = _check_fields(spec, text)
    schedule = Schedule(spec, expression, None, tz)
    if schedule.next_after(datetime.now(UTC).timestamp()) == math.inf:
        raise _bad(spec, "it never fires")
    return schedule


def _bad(spec: str, reason: str) -> ValidationError:
    return ValidationError(f"bad cron spec {go_quote(spec)}: {reason}")


def _every_seconds(spec: str, text: str) -> int:
    arg = text.removeprefix("@every").strip()
    if not arg or text[len("@every")] not in " \t":
        raise _bad(spec, "@every needs a duration, such as @every 30s")
    try:
        interval = parse_duration(arg)
    except ValidationError as exc:
        raise _bad(spec, str(exc)) from None
    if interval.total_seconds() <= 0:
        raise _bad(spec, f"@every duration {go_quote(arg)} must be positive")
    # robfig/cron truncates to whole seconds and raises anything shorter to one second.
    return max(1, int(interval.total_seconds()))


def _check_fields(spec: str, text: str) -> str:
    # robfig reads "?" as "*"; cronsim does not know it.
    fields = text.replace("?", "*").split()
    if len(fields) != len(_FIELDS):
        raise _bad(
            spec, f"expected 5 fields (minute hour day-of-month month day-of-week), found {len(fields)}"
        )
    expression = " ".join(fields)
    try:
        CronSim(expression, datetime.now(UTC))
    except CronSimError as exc:
        raise _bad(spec, _field_problem(str(exc), fields)) from None
    return expression


def _field_problem(message: str, fields: list[str]) -> str:
    """Turn cronsim's "Bad <field>" into a reason naming the field, its text and its range."""
    for (name, low, high), value in zip(_FIELDS, fields, strict=True):
        if message != f"Bad {name}":
            continue
        # Step sizes (after "/") and "#n" are not values of the field, so they are not range-checked.
        values = [
            int(n)
            for term in value.split(",")
            for n in _NUMBER.findall(term.split("/")[0].split("#")[0].rstrip("LW"))
        ]
        if any(not low <= v <= high for v in values):
            return f"{name} field {go_quote(value)} out of range {low}-{high}"
        if name == "day-of-month" and _PLAIN.fullmatch(value):
            return f"day-of-month field {go_quote(value)} never occurs in month field {go_quote(fields[3])}"
        names = {"month": " or JAN-DEC", "day-of-week": " or SUN-SAT"}.get(name, "")
        return (
            f"{name} field {go_quote(value)} is not valid (want {low}-{high}{names}, *, lists, ranges, steps)"
        )
    return message
