"""Reading what people type: durations, times, payloads, headers, and task ids from stdin.

The functions raise ``ValueError`` with a message meant for a person; the ``*_option`` adapters turn
that into Typer's ``BadParameter`` so the message names the option. Nothing here talks to Redis.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import typer

from asynq_py.engine import AsynqError
from asynq_py.engine import parse_duration as go_parse_duration

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = [
    "canonical_json",
    "check_json",
    "duration_option",
    "parse_duration",
    "parse_header",
    "parse_time",
    "read_ids",
    "read_payload",
    "time_option",
]

_DAYS = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)d")
_WELL_FORMED = re.compile(r"(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:ns|us|µs|μs|ms|s|m|h))+")
"""Go's duration syntax; a duration that has it and still fails to parse is out of range."""
_DURATION_HINT = "use a number and a unit, e.g. 90s, 5m, 24h, 1h30m or 2d"
_TIME_HINT = "use ISO 8601 with a zone (2026-01-02T15:04:05Z, 2026-01-02T17:04:05+02:00) or +DURATION (+2h)"


def parse_duration(text: str) -> timedelta:
    """Parse ``90s``, ``5m``, ``24h``, ``1h30m``, ``2d``, ``1.5h`` or ``500ms`` (Go's syntax plus days)."""
    s = text.strip()
    if not s:
        raise ValueError(f"empty duration: {_DURATION_HINT}")
    if s[0] in "+-":
        raise ValueError(f"invalid duration {text!r}: a duration has no sign; {_DURATION_HINT}")
    if re.fullmatch(r"[0-9.]+", s) and s != "0":
        raise ValueError(f"invalid duration {text!r}: missing unit; {_DURATION_HINT}")
    go_text = _DAYS.sub(lambda m: f"{Decimal(m.group(1)) * 24}h", s)
    try:
        return go_parse_duration(go_text)
    except AsynqError:
        if _WELL_FORMED.fullmatch(go_text):  # the syntax is right: only the size can be wrong
            raise ValueError(f"duration {text!r} is too large: at most 2562047h (about 292 years)") from None
        raise ValueError(f"invalid duration {text!r}: {_DURATION_HINT}") from None


def parse_time(text: str, now: datetime) -> datetime:
    """Parse an ISO 8601 time with a zone, ``now``, or ``+DURATION`` counted from ``now``.

    A time without a zone is refused rather than guessed: the machine's zone and the Redis server's
    zone are often not the same.
    """
    s = text.strip()
    if s.startswith("+"):
        return now + parse_duration(s[1:])
    if s == "now":
        return now
    try:
        when = datetime.fromisoformat(s)
    except ValueError:
        raise ValueError(f"invalid time {text!r}: {_TIME_HINT}") from None
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"time {text!r} has no time zone: add Z for UTC or an offset such as +02:00")
    return when


def check_json(data: bytes, what: str = "payload") -> bytes:
    """Return ``data`` stripped if it is one JSON value; else raise with the position of the error."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{what} is not UTF-8 text (byte {exc.start}); use --raw for binary data") from None
    try:
        json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{what} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
            " (use --raw to store it as it is)"
        ) from None
    except RecursionError:
        raise ValueError(f"{what} is nested too deeply to be checked as JSON") from None
    return text.strip().encode("utf-8")


def _refuse_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not JSON", name, 0)


def _too_large(what: str, limit: int) -> ValueError:
    return ValueError(f"{what} is larger than the limit of {limit} bytes ({limit // 2**20} MiB)")


def _read_capped(stream: IO[bytes], limit: int, what: str) -> bytes:
    """Read at most ``limit`` bytes; refuse as soon as there is one more (a stream may never end)."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise _too_large(what, limit)
    return data


def _read_file(path: str, limit: int) -> bytes:
    try:
        with Path(path).open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > limit:  # a regular file says its size: refuse before reading any of it
                raise _too_large(f"payload file {path!r} of {size} bytes", limit)
            return _read_capped(handle, limit, f"payload file {path!r}")
    except OSError as exc:
        raise ValueError(f"cannot read payload file {path!r}: {exc.strerror or exc}") from None


def canonical_json(data: bytes) -> bytes:
    """Return JSON ``data`` re-encoded as the library encodes a payload (Go's ``json.Marshal`` form)."""
    from asynq_py.engine.gojson import go_json_dumps

    text = check_json(data).decode("utf-8")
    try:
        return go_json_dumps(json.loads(text))
    except RecursionError:
        raise ValueError("payload is nested too deeply to be stored as JSON") from None


def read_payload(spec: str, *, raw: bool, stdin: IO[bytes]) -> bytes:
    """Return the payload given as ``JSON``, ``@FILE`` or ``-`` (stdin).

    A file or stream larger than the engine's payload limit is refused before it is read whole. JSON
    is stored in the library's canonical form (so unique-task locks match ``Task(type, dict)``);
    ``raw`` keeps the bytes as they are.
    """
    from asynq_py.engine.client import DEFAULT_MAX_PAYLOAD_BYTES as limit

    if spec == "-":
        data = _read_capped(stdin, limit, "payload on stdin")
    elif spec.startswith("@"):
        data = _read_file(spec[1:], limit)
    else:
        # Arguments that were not valid UTF-8 come back as surrogates; this restores their bytes.
        data = spec.encode("utf-8", "surrogateescape")
    return data if raw else canonical_json(data)


def parse_header(item: str) -> tuple[str, str]:
    """Parse ``KEY=VALUE``; the key must not be empty."""
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"invalid header {item!r}: use KEY=VALUE")
    return key.strip(), value


def read_ids(args: Sequence[str], stdin: Iterable[str]) -> list[str]:
    """Return task ids from ``args``, where ``-`` stands for one id per line of stdin; duplicates dropped."""
    ids: list[str] = []
    for arg in args:
        if arg == "-":
            ids.extend(line.strip() for line in stdin if line.strip())
        elif arg.strip():
            ids.append(arg.strip())
    return list(dict.fromkeys(ids))


def duration_option(text: str | timedelta) -> timedelta:
    """Typer parser for a duration option (a default may already be a ``timedelta``)."""
    if isinstance(text, timedelta):
        return text
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def time_option(text: str) -> datetime:
    """Typer parser for a time option (relative times count from now)."""
    try:
        return parse_time(text, datetime.now(UTC))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
