"""Go's textual forms of durations, times, quoted strings and enqueue options.

A Go scheduler stores its entries' options as ``Option.String()`` texts (``MaxRetry(5)``, ``Queue("q")``,
``Timeout(1h30m0s)``, ``Deadline(Mon Jan  2 15:04:05 UTC 2006)``), and the Go inspector parses them back,
silently dropping any it cannot read (docs/wire.md §9 item 12). The Go CLI prints durations the same way. This
module writes and reads those forms exactly as Go does, in pure Python:

- ``format_duration``/``parse_duration``: ``time.Duration.String`` and ``time.ParseDuration``;
- ``format_unix_date``/``parse_unix_date``: the ``time.UnixDate`` layout;
- ``go_quote``: ``strconv.Quote`` (``%q``);
- ``format_option``/``format_options``/``parse_options``: asynq's option strings.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta, timezone

from .errors import ValidationError

__all__ = [
    "format_duration",
    "format_option",
    "format_options",
    "format_unix_date",
    "go_quote",
    "parse_duration",
    "parse_options",
    "parse_unix_date",
]

_SECOND_NS = 1_000_000_000
_MAX_NS = 1 << 63
"""One past Go's largest Duration; also the magnitude of the smallest."""
_UNIT_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 micro sign
    "μs": 1_000,  # U+03BC Greek mu
    "ms": 1_000_000,
    "s": _SECOND_NS,
    "m": 60 * _SECOND_NS,
    "h": 3600 * _SECOND_NS,
}
_DURATION_PART = re.compile(r"([0-9]*)(?:\.([0-9]*))?([^0-9.]*)")

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# Go lets a layout space match a run of spaces, ignores the case of names, and allows a fraction of seconds.
_UNIX_DATE = re.compile(
    r"([A-Za-z]{3}) +([A-Za-z]{3}) +([0-9]{1,2}) +([0-9]{1,2}):([0-9]{2}):([0-9]{2})(?:[.,]([0-9]+))?"
    r" +(\S+) +([0-9]{4})"
)
# The zone abbreviations Go's parseTimeZone accepts, plus the numeric offsets Go prints for unnamed zones.
_ZONE = re.compile(
    r"GMT(?:([+-][0-9]{1,2}))?|([+-])([0-9]{2})([0-9]{2})?|[A-Z]{3}(?:[A-Z]?T)?|WITA|ChST|MeST"
)
_UNNAMED_ZONE = re.compile(r"UTC[+-][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?")
"""What ``tzname()`` says for a ``datetime.timezone`` made without a name; Go's equivalent has none."""

_ESCAPES = {"\a": "a", "\b": "b", "\f": "f", "\n": "n", "\r": "r", "\t": "t", "\v": "v", "\\": "\\", '"': '"'}
_UNESCAPES = {letter: char for char, letter in _ESCAPES.items()}
_QUOTED_TOKEN = re.compile(
    r'\\(?:x[0-9a-fA-F]{2}|[0-7]{3}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[abfnrtv\\"])|[^\\"\n]+'
)
_GO_INT = re.compile(r"[+-]?[0-9]+")

_OPTION_NAMES = {
    "max_retry": "MaxRetry",
    "queue": "Queue",
    "task_id": "TaskID",
    "timeout": "Timeout",
    "deadline": "Deadline",
    "unique": "Unique",
    "process_at": "ProcessAt",
    "process_in": "ProcessIn",
    "retention": "Retention",
    "group": "Group",
    "header": "Header",
}
"""Python option name to Go option name, in the order ``format_options`` writes them."""
_DURATION_OPTIONS = frozenset({"timeout", "unique", "process_in", "retention"})
_TIME_OPTIONS = frozenset({"deadline", "process_at"})
_OPTION_KEYWORDS = (_OPTION_NAMES.keys() - {"header"}) | {"headers"}
"""The keys ``format_options`` accepts."""
_PARSED_OPTIONS = {go: py for py, go in _OPTION_NAMES.items() if py not in ("task_id", "group")}
"""The options Go's inspector parses back; it drops ``TaskID`` and ``Group``."""


def format_duration(d: timedelta | float) -> str:
    """Return Go's ``time.Duration.String()`` of ``d`` (a float is seconds, rounded to nanoseconds).

    Examples: ``0s``, ``100ns``, ``1.5µs`` (U+00B5), ``500ms``, ``1.5s``, ``2m0s``, ``1h30m0s``, ``-1.5s``.
    """
    if isinstance(d, timedelta):
        ns = ((d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds) * 1000
    elif math.isfinite(d):
        ns = round(d * _SECOND_NS)
    else:
        raise ValidationError(f"invalid duration {d!r}")
    u = abs(ns)
    if u == 0:
        text = "0s"
    elif u < 1000:
        text = f"{u}ns"
    elif u < 1_000_000:
        text = _decimal(u, 3) + "µs"
    elif u < _SECOND_NS:
        text = _decimal(u, 6) + "ms"
    else:
        minutes, rest = divmod(u, 60 * _SECOND_NS)
        text = _decimal(rest, 9) + "s"
        if minutes:
            hours, minutes = divmod(minutes, 60)
            text = (f"{hours}h" if hours else "") + f"{minutes}m{text}"
    return "-" + text if ns < 0 else text


def _decimal(value: int, prec: int) -> str:
    """Write ``value / 10**prec`` without trailing zeros, as Go's fmtFrac and fmtInt do."""
    whole, frac = divmod(value, 10**prec)
    digits = f"{frac:0{prec}d}".rstrip("0")
    return f"{whole}.{digits}" if digits else str(whole)


def parse_duration(s: str) -> timedelta:
    """Parse Go's ``time.ParseDuration`` syntax, such as ``1h30m``, ``-1.5s``, ``500ms`` or ``0``.

    Go's range (±292 years) and rounding apply; sub-microsecond parts are then truncated toward zero.

    Raises:
        ValidationError: ``s`` is not a Go duration, or is out of Go's range.
    """
    rest, neg = s, False
    if rest[:1] in ("-", "+"):
        neg, rest = rest[0] == "-", rest[1:]
    if rest == "0":
        return timedelta(0)
    if not rest:
        raise ValidationError(f"invalid duration {go_quote(s)}")
    total = 0
    while rest:
        match = _DURATION_PART.match(rest)
        assert match is not None  # every group may be empty
        whole, frac, unit = match.groups()
        rest = rest[match.end() :]
        # Go's leadingInt fails above 1<<63; more than 19 significant digits always is.
        if (not whole and not frac) or len(whole.lstrip("0")) > 19:
            raise ValidationError(f"invalid duration {go_quote(s)}")
        if not unit:
            raise ValidationError(f"missing unit in duration {go_quote(s)}")
        if unit not in _UNIT_NS:
            raise ValidationError(f"unknown unit {go_quote(unit)} in duration {go_quote(s)}")
        scale = _UNIT_NS[unit]
        v = int(whole or "0")
        if v > _MAX_NS // scale:
            raise ValidationError(f"invalid duration {go_quote(s)}")
        v = v * scale + _fraction_ns(frac or "", scale)
        total += v
        if v > _MAX_NS or total > _MAX_NS:
            raise ValidationError(f"invalid duration {go_quote(s)}")
    if not neg and total == _MAX_NS:
        raise ValidationError(f"invalid duration {go_quote(s)}")
    micros = timedelta(microseconds=total // 1000)
    return -micros if neg else micros


def _fraction_ns(digits: str, scale: int) -> int:
    """Return the nanoseconds of ``.digits`` of a unit, with Go's float64 arithmetic and overflow cut-off."""
    f, div = 0, 1.0
    for digit in digits:
        if f > (_MAX_NS - 1) // 10 or f * 10 + int(digit) > _MAX_NS:
            break  # Go ignores digits past uint64 precision
        f, div = f * 10 + int(digit), div * 10
    return int(float(f) * (float(scale) / div)) if f else 0


def format_unix_date(dt: datetime) -> str:
    """Return ``dt`` in Go's ``time.UnixDate`` layout, e.g. ``Mon Jan  2 15:04:05 UTC 2006``.

    The zone is ``dt.tzname()``. A ``datetime.timezone`` made without a name prints as Go prints a nameless
    ``time.FixedZone``: ``+0200``, ``-0530``.

    Raises:
        ValidationError: ``dt`` is naive.
    """
    offset = dt.utcoffset()
    if offset is None:
        raise ValidationError(f"naive datetime {dt.isoformat()}; Go times carry a zone")
    name = dt.tzname()
    if not name or _UNNAMED_ZONE.fullmatch(name):
        minutes = abs(int(offset.total_seconds())) // 60
        name = f"{'-' if offset < timedelta(0) else '+'}{minutes // 60:02d}{minutes % 60:02d}"
    return (
        f"{_DAYS[dt.weekday()]} {_MONTHS[dt.month - 1]} {dt.day:2d} "
        f"{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d} {name} {dt.year:04d}"
    )


def parse_unix_date(s: str) -> datetime:
    """Parse a ``time.UnixDate`` string into an aware datetime, as Go's ``time.Parse`` does in a UTC process.

    ``UTC`` gives ``timezone.utc``. Other zones give a ``datetime.timezone`` named by the abbreviation, so
    ``format_unix_date`` writes the same text back. Any other abbreviation (``CET``) has a zero offset, as in
    Go, because a string does not say where it is. Numeric zones (``+0200``, ``-05``, ``GMT+3``) keep their
    offset, where Go rejects ``+hhmm``, gives ``+hh`` a zero offset and shifts ``GMT+h`` times by ``h``.
    The weekday is checked for spelling only, like Go.

    Raises:
        ValidationError: ``s`` is not in the layout, or names a day that does not exist.
    """
    match = _UNIX_DATE.fullmatch(s)
    zone = _ZONE.fullmatch(match[8]) if match else None
    if not match or not zone or match[1].title() not in _DAYS or match[2].title() not in _MONTHS:
        raise ValidationError(f"cannot parse {go_quote(s)} as Go's UnixDate layout")
    gmt, sign, hh, mm = zone.groups()
    hours, minutes = int(gmt or hh or 0), int(mm or 0)
    if abs(hours) > 23 or minutes > 59:
        raise ValidationError(f"cannot parse {go_quote(s)}: zone offset out of range")
    offset = timedelta(hours=hours, minutes=minutes) * (-1 if sign == "-" else 1)
    tz = UTC if match[8] == "UTC" else timezone(offset, match[8])
    day, hour, minute, second = (int(match[i]) for i in range(3, 7))
    micros = int((match[7] or "0")[:6].ljust(6, "0"))
    try:
        return datetime(
            int(match[9]), _MONTHS.index(match[2].title()) + 1, day, hour, minute, second, micros, tz
        )
    except ValueError as exc:
        raise ValidationError(f"cannot parse {go_quote(s)}: {exc}") from None


def go_quote(s: str) -> str:
    """Return Go's ``strconv.Quote(s)``, the ``%q`` verb: printable characters kept, others escaped."""
    out = ['"']
    for char in s:
        code = ord(char)
        if char in _ESCAPES:
            out.append("\\" + _ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def _go_unquote(s: str) -> str:
    """Undo ``go_quote``: Go's ``strconv.Unquote`` for double-quoted and back-quoted strings.

    Raises:
        ValueError: ``s`` is not such a literal, or its bytes are not UTF-8.
    """
    if len(s) >= 2 and s[0] == s[-1] == "`" and "`" not in s[1:-1]:
        return s[1:-1].replace("\r", "")
    if len(s) < 2 or s[0] != '"' or s[-1] != '"':
        raise ValueError(f"not a Go string literal: {s!r}")
    body, pos, out = s[1:-1], 0, bytearray()
    while pos < len(body):
        token = _QUOTED_TOKEN.match(body, pos)
        if token is None:
            raise ValueError(f"bad Go string literal: {s!r}")
        text, pos = token[0], token.end()
        if text[0] != "\\":
            out += text.encode()
        elif text[1] in "xuU":
            code = int(text[2:], 16)
            out += bytes([code]) if text[1] == "x" else chr(code).encode()  # a surrogate fails here
        elif text[1] in "01234567":
            out.append(int(text[1:], 8))  # over 255 raises ValueError, as Go rejects it
        else:
            out += _UNESCAPES[text[1]].encode()
    return out.decode()


def _go_json_string(s: str) -> str:
    """Return ``s`` as Go's ``encoding/json`` writes it, which also escapes HTML characters and U+2028/9."""
    text = json.dumps(s, ensure_ascii=False)
    for char in "<>&\u2028\u2029":
        text = text.replace(char, f"\\u{ord(char):04x}")
    return text


def format_option(name: str, value: object) -> str:
    """Return Go's ``Option.String()`` for one enqueue option, such as ``Timeout(1h30m0s)``.

    Args:
        name: an enqueue option (``max_retry`` … ``group``) or ``header``.
        value: an int for ``max_retry`` (negative counts as 0, as in Go); a str for ``queue``, ``task_id``
            and ``group``; a timedelta or seconds for ``timeout``, ``unique``, ``process_in`` and
            ``retention``; an aware datetime for ``deadline`` and ``process_at``, written in UTC because a
            Go reader gives any abbreviation but its own local one a zero offset; a ``(key, value)`` str
            pair for ``header``.

    Raises:
        ValidationError: unknown name, or a value of the wrong type.
    """
    go_name = _OPTION_NAMES.get(name)
    if go_name is None:
        raise ValidationError(f"unknown option {name!r}")
    if isinstance(value, bool):
        arg = None
    elif name == "max_retry" and isinstance(value, int):
        arg = str(max(value, 0))
    elif name in ("queue", "task_id", "group") and isinstance(value, str):
        arg = go_quote(value)
    elif name in _DURATION_OPTIONS and isinstance(value, timedelta | int | float):
        arg = format_duration(value)
    elif name in _TIME_OPTIONS and isinstance(value, datetime) and value.utcoffset() is not None:
        arg = format_unix_date(value.astimezone(UTC))
    elif name == "header" and isinstance(value, tuple) and tuple(map(type, value)) == (str, str):
        arg = f"[{_go_json_string(value[0])},{_go_json_string(value[1])}]"
    else:
        arg = None
    if arg is None:
        raise ValidationError(f"invalid value for option {name}: {value!r}")
    return f"{go_name}({arg})"


def format_options(options: Mapping[str, object]) -> list[str]:
    """Return the option strings a Go scheduler stores for ``options``, skipping ``None`` values.

    Args:
        options: enqueue options by keyword (``max_retry`` … ``group``), plus ``headers``, a str-to-str
            mapping that gives one ``Header(["k","v"])`` per item.

    Raises:
        ValidationError: an unknown option, or a value of the wrong type.
    """
    unknown = sorted(options.keys() - _OPTION_KEYWORDS)
    if unknown:
        raise ValidationError(f"unknown options {unknown}")
    strings = [format_option(n, v) for n in _OPTION_NAMES if (v := options.get(n)) is not None]
    headers = options.get("headers")
    if headers is not None:
        if not isinstance(headers, Mapping):
            raise ValidationError(f"invalid value for option headers: {headers!r}")
        strings += [format_option("header", item) for item in headers.items()]
    return strings


def parse_options(strings: Iterable[str]) -> dict[str, object]:
    """Parse option strings back into ``format_options`` keywords, keeping what Go's inspector keeps.

    ``MaxRetry``, ``Queue``, ``Timeout``, ``Deadline``, ``Unique``, ``ProcessAt``, ``ProcessIn``,
    ``Retention`` and ``Header`` are read; anything else (``TaskID``, ``Group``, unknown or malformed
    strings) is skipped. A later option overrides an earlier one; headers collect into ``headers``.
    """
    result: dict[str, object] = {}
    headers: dict[str, str] = {}
    for s in strings:
        parsed = _parse_option(s)
        if parsed is None:
            continue
        name, value = parsed
        if isinstance(value, tuple):
            headers[value[0]] = value[1]
        else:
            result[name] = value
    if headers:
        result["headers"] = headers
    return result


def _parse_option(s: str) -> tuple[str, object] | None:
    """Parse one option string into its keyword and value, or return None where Go's inspector fails."""
    go_name, _, rest = s.partition("(")
    name = _PARSED_OPTIONS.get(go_name)
    first, last = rest.find(")"), rest.rfind(")")
    if name is None or first < 0:
        return None
    # Go ends the argument at the first ")"; retry at the last, so a queue or header holding one survives.
    for end in dict.fromkeys((first, last)):
        try:
            return name, _parse_argument(name, rest[:end])
        except ValueError:  # ValidationError is one
            continue
    return None


def _parse_argument(name: str, arg: str) -> object:
    """Parse the text between the parentheses of option ``name``, raising ValueError if Go would fail."""
    if name == "max_retry":
        if not _GO_INT.fullmatch(arg) or not -_MAX_NS <= int(arg) < _MAX_NS:
            raise ValueError(arg)
        return max(int(arg), 0)
    if name == "queue":
        return _go_unquote(arg)
    if name in _DURATION_OPTIONS:
        return parse_duration(arg)
    if name in _TIME_OPTIONS:
        return parse_unix_date(arg)
    pair = json.loads(arg)  # Header: Go decodes into [2]string, padding with "" and ignoring extras
    if not isinstance(pair, list) or not all(v is None or isinstance(v, str) for v in pair[:2]):
        raise ValueError(arg)
    key, value = [*pair[:2], None, None][:2]
    return (key or "", value or "")
