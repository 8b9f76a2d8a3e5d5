"""Task payloads: the raw bytes a task carries, with typed getters for JSON-object payloads.

Go asynq's payload is an opaque ``[]byte``. ``Payload`` keeps those bytes untouched and, for the
common case of a JSON object, offers the typed getters of Go asynq v0.10 (``GetString``,
``GetInt``, …). JSON numbers are float64 in Go, so ``get_int`` accepts ``42`` and ``42.0`` but not
``42.5``. ``encode_payload`` turns what a caller passes to ``enqueue`` into the bytes to store.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

from .errors import PayloadError, ValidationError
from .gojson import go_json_dumps

__all__ = ["Payload", "encode_payload"]

_T = TypeVar("_T")
_UNPARSED = object()
_REPR_LIMIT = 48
"""Payloads up to this many bytes are shown whole by ``repr``; longer ones are cut to 40 bytes."""
_KINDS = {bool: "bool", int: "number", float: "number", str: "string", list: "array", dict: "object"}
"""The JSON name of each type ``json.loads`` produces (null aside), for error messages."""
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:(Z)|([+-])(\d{2}):(\d{2}))", re.ASCII
)


class _Mismatch(Exception):
    """A value inside the payload is not of the expected type; ``where`` locates it (``[2]``)."""

    def __init__(self, value: Any, where: str = "") -> None:
        self.value, self.where = value, where


class Payload:
    """The immutable bytes of a task's payload.

    Compares equal to a ``Payload`` or ``bytes`` with the same content. The typed getters parse the
    bytes as JSON on first use (once) and raise ``PayloadError`` when the payload is not a JSON
    object, lacks the key, or holds a value of another type there.
    """

    __slots__ = ("_data", "_parsed")

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"Payload needs bytes, not {type(data).__name__}")
        self._data = bytes(data)
        self._parsed: Any = _UNPARSED

    def __bytes__(self) -> bytes:
        return self._data

    def __len__(self) -> int:
        return len(self._data)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Payload):
            return self._data == other._data
        if isinstance(other, bytes):
            return self._data == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._data)

    def __repr__(self) -> str:
        if len(self._data) <= _REPR_LIMIT:
            return f"Payload({self._data!r})"
        return f"Payload({self._data[:40]!r}... {len(self._data)} bytes)"

    def json(self) -> Any:
        """Return the payload parsed as JSON (a fresh copy each call).

        Raises:
            PayloadError: the payload is not valid JSON.
        """
        return copy.deepcopy(self._json())

    def has(self, key: str) -> bool:
        """Return whether the payload is a JSON object with ``key``.

        Raises:
            PayloadError: the payload is not a JSON object.
        """
        return key in self._object()

    def get_string(self, key: str) -> str:
        """Return the string at ``key``."""
        return self._get(key, "a string", _instance_of(str))

    def get_int(self, key: str) -> int:
        """Return the integer at ``key``; a number with a fraction is refused."""
        return self._get(key, "an int", _to_int)

    def get_float(self, key: str) -> float:
        """Return the number at ``key`` as a float."""
        return self._get(key, "a number", _to_float)

    def get_bool(self, key: str) -> bool:
        """Return the boolean at ``key``."""
        return self._get(key, "a bool", _instance_of(bool))

    def get_string_slice(self, key: str) -> list[str]:
        """Return the array of strings at ``key``."""
        return self._get(key, "an array of strings", _list_of(_instance_of(str)))

    def get_int_slice(self, key: str) -> list[int]:
        """Return the array of integers at ``key``."""
        return self._get(key, "an array of ints", _list_of(_to_int))

    def get_string_map(self, key: str) -> dict[str, Any]:
        """Return (a copy of) the object at ``key``, whatever its values."""
        return self._get(key, "an object", _dict_of(copy.deepcopy))

    def get_string_map_string(self, key: str) -> dict[str, str]:
        """Return the object of strings at ``key``."""
        return self._get(key, "an object of strings", _dict_of(_instance_of(str)))

    def get_string_map_int(self, key: str) -> dict[str, int]:
        """Return the object of integers at ``key``."""
        return self._get(key, "an object of ints", _dict_of(_to_int))

    def get_string_map_bool(self, key: str) -> dict[str, bool]:
        """Return the object of booleans at ``key``."""
        return self._get(key, "an object of bools", _dict_of(_instance_of(bool)))

    def get_string_map_string_slice(self, key: str) -> dict[str, list[str]]:
        """Return the object of string arrays at ``key``."""
        return self._get(key, "an object of string arrays", _dict_of(_list_of(_instance_of(str))))

    def get_time(self, key: str) -> datetime:
        """Return the RFC 3339 time at ``key`` as an aware datetime, as Go's ``time.Time`` marshals.

        Digits beyond microseconds are truncated, since ``datetime`` cannot hold nanoseconds.
        """
        return self._get(key, "an RFC 3339 time string", _to_time)

    def get_duration(self, key: str) -> timedelta:
        """Return the nanosecond count at ``key`` as a timedelta, as Go's ``time.Duration`` marshals.

        Nanoseconds are truncated toward zero to whole microseconds, like Go's ``Duration.Truncate``.
        """
        return self._get(key, "an int count of nanoseconds", _to_duration)

    def _json(self) -> Any:
        if self._parsed is _UNPARSED:
            # Go's decoder replaces invalid UTF-8 rather than failing, and refuses NaN and infinities.
            text = self._data.decode("utf-8", "replace")
            try:
                self._parsed = json.loads(text, parse_constant=_refuse, parse_float=_parse_float)
            except ValueError as exc:
                raise PayloadError(f"payload is not valid JSON: {exc}") from exc
        return self._parsed

    def _object(self) -> dict[str, Any]:
        parsed = self._json()
        if not isinstance(parsed, dict):
            raise PayloadError("payload is not a JSON object")
        return parsed

    def _get(self, key: str, expected: str, convert: Callable[[Any], _T]) -> _T:
        obj = self._object()
        if key not in obj:
            raise PayloadError(f"payload has no key {_quote(key)}")
        try:
            return convert(obj[key])
        except _Mismatch as exc:
            where = f" at {exc.where}" if exc.where else ""
            raise PayloadError(
                f"payload key {_quote(key)}: expected {expected}, got {_describe(exc.value)}{where}"
            ) from None


def encode_payload(
    value: bytes | bytearray | memoryview | str | dict[str, Any] | list[Any] | Payload | None,
) -> bytes | None:
    """Turn a payload given to ``enqueue`` into the bytes to store.

    Bytes are kept as they are, a ``Payload`` gives its bytes, a str is UTF-8 encoded, and a dict or
    list is encoded as Go's ``json.Marshal`` would encode it. ``None`` means no payload (Go's nil).

    Raises:
        ValidationError: the value has another type, or cannot be encoded.
    """
    if value is None:
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, Payload):
        return bytes(value)
    if isinstance(value, str):
        try:
            return value.encode()
        except UnicodeEncodeError as exc:
            raise ValidationError(f"payload string is not valid Unicode: {exc}") from None
    if isinstance(value, dict | list):
        try:
            return go_json_dumps(value)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"payload cannot be encoded as JSON: {exc}") from None
    raise ValidationError(f"payload must be bytes, str, dict, list or None, not {type(value).__name__}")


def _refuse(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _parse_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number {text} is out of the float64 range")
    return value


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _describe(value: Any) -> str:
    """Name a JSON value's type and show it, cut short: ``string "abc"``, ``number 42.5``, ``null``."""
    if value is None:
        return "null"
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return f"{_KINDS[type(value)]} {text if len(text) <= 40 else text[:37] + '...'}"


def _instance_of(kind: type[_T]) -> Callable[[Any], _T]:
    def check(value: Any) -> _T:
        if isinstance(value, kind):
            return value
        raise _Mismatch(value)

    return check


def _to_int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise _Mismatch(value)


def _to_float(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            pass  # an integer beyond the float64 range
    raise _Mismatch(value)


def _to_time(value: Any) -> datetime:
    match = _RFC3339.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise _Mismatch(value)
    year, month, day, hour, minute, second = (int(part) for part in match.group(1, 2, 3, 4, 5, 6))
    fraction, utc, sign, offset_hours, offset_minutes = match.group(7, 8, 9, 10, 11)
    microsecond = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        if utc:
            tz = UTC
        elif int(offset_minutes) > 59:
            raise ValueError("offset minutes out of range")
        else:
            offset = timedelta(hours=int(offset_hours), minutes=int(offset_minutes))
            tz = timezone(-offset if sign == "-" else offset)  # refuses offsets of 24 hours or more
        return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=tz)
    except ValueError:
        raise _Mismatch(value) from None


def _to_duration(value: Any) -> timedelta:
    nanoseconds = _to_int(value)
    microseconds = abs(nanoseconds) // 1000
    try:
        return timedelta(microseconds=-microseconds if nanoseconds < 0 else microseconds)
    except OverflowError:
        raise _Mismatch(value) from None


def _list_of(convert: Callable[[Any], _T]) -> Callable[[Any], list[_T]]:
    def convert_list(value: Any) -> list[_T]:
        if not isinstance(value, list):
            raise _Mismatch(value)
        result = []
        for index, item in enumerate(value):
            try:
                result.append(convert(item))
            except _Mismatch as exc:
                raise _Mismatch(exc.value, f"[{index}]{exc.where}") from None
        return result

    return convert_list


def _dict_of(convert: Callable[[Any], _T]) -> Callable[[Any], dict[str, _T]]:
    def convert_dict(value: Any) -> dict[str, _T]:
        if not isinstance(value, dict):
            raise _Mismatch(value)
        result = {}
        for key, item in value.items():
            try:
                result[key] = convert(item)
            except _Mismatch as exc:
                raise _Mismatch(exc.value, f"[{_quote(key)}]{exc.where}") from None
        return result

    return convert_dict
