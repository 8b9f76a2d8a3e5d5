"""Turning task data into safe, readable text: escaping, payloads, durations, sizes and times.

Everything shown on screen that came from Redis (payloads, errors, names, headers) passes through
``clean`` first, so control characters and terminal escape sequences are displayed as escapes
(``\\x1b``) and never reach the terminal. Screens wrap the result in ``rich.text.Text`` so that
square brackets in data are never read as Rich markup.
"""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import UTC, datetime, timedelta

__all__ = [
    "PAYLOAD_DETAIL_LIMIT",
    "abs_time",
    "clean",
    "error_rate",
    "go_duration",
    "hex_dump",
    "payload_detail",
    "payload_preview",
    "relative_time",
    "si_bytes",
    "thousands",
]

PAYLOAD_DETAIL_LIMIT = 64 * 1024
"""Bytes of a payload or result the task screen shows; the rest is counted, not drawn."""

_PREVIEW_BYTES = 256
"""Bytes of a payload a table cell looks at."""

_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(ch: str) -> str:
    named = _NAMED_ESCAPES.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def clean(text: str, *, multiline: bool = False) -> str:
    """Return ``text`` with every control or invisible formatting character written as an escape.

    Args:
        text: Untrusted text from Redis.
        multiline: Keep newlines as line breaks (default False: they become ``\\n``).
    """
    if text.isprintable():
        return text  # the common case, and isprintable() is fast
    out: list[str] = []
    for ch in text:
        # Python's "not printable" is what a terminal must not be sent: controls (ESC starts every
        # sequence), formatting characters (bidi overrides, zero-width), separators, surrogates,
        # private and unassigned code points. Spaces of any width are harmless and kept.
        if ch.isprintable() or (multiline and ch == "\n") or unicodedata.category(ch) == "Zs":
            out.append(ch)
        else:
            out.append(_escape_char(ch))
    return "".join(out)


def _decode(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def payload_preview(data: bytes, width: int = 60) -> str:
    """Return a one-line preview of a payload for a table cell (at most ``width`` characters)."""
    if not data:
        return ""
    head = data[:_PREVIEW_BYTES]
    text = _decode(head)
    if text is None and len(data) > _PREVIEW_BYTES:
        # The cut may have split a multi-byte character; drop up to three trailing bytes.
        for cut in range(1, 4):
            text = _decode(head[:-cut])
            if text is not None:
                break
    if text is None:
        shown = head[: max(1, (width - 20) // 2)].hex()
        return _truncate(f"non-printable bytes 0x{shown}", width)
    return _truncate(clean(text), width)


def _truncate(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
"""Controls that make decoded bytes binary rather than text (tab and line breaks are text)."""


def _kind(data: bytes) -> tuple[str, str | None]:
    """Return ``JSON``, ``text`` or ``binary`` for the whole of ``data``, with its text if it has one."""
    text = _decode(data)
    if text is None or _CONTROLS.search(text):
        return "binary", None
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return "text", text
    return "JSON", text


def payload_detail(data: bytes | None, limit: int = PAYLOAD_DETAIL_LIMIT) -> tuple[str, str]:
    """Return a label and the rendering of a payload or result for the task screen.

    The kind (JSON, text or binary) is decided on the whole payload, whatever its size. JSON is
    pretty-printed and text shown as it is when the payload fits ``limit`` bytes; a larger one is
    shown up to ``limit`` and cut with its size named. Binary is a hex dump with an ASCII column.
    """
    if not data:
        return "empty", "(empty)"
    kind, text = _kind(data)
    label = f"{kind}, {thousands(len(data))} bytes"
    more = len(data) - limit
    if text is None:
        body = hex_dump(data if more <= 0 else data[:limit])
    elif more <= 0 and kind == "JSON":
        body = clean(json.dumps(json.loads(text), indent=2, ensure_ascii=False), multiline=True)
    else:
        body = clean(text if more <= 0 else data[:limit].decode("utf-8", "ignore"), multiline=True)
    if more > 0:
        label += f", first {thousands(limit)} shown"
        body += f"\n… {thousands(more)} more bytes not shown"
    return label, body


def hex_dump(data: bytes) -> str:
    """Return ``data`` as offset, hex and printable-ASCII columns, 16 bytes a line."""
    lines: list[str] = []
    for offset in range(0, len(data), 16):
        chunk = data[offset : offset + 16]
        hex_part = " ".join(f"{b:02x}" for b in chunk[:8])
        if len(chunk) > 8:
            hex_part += "  " + " ".join(f"{b:02x}" for b in chunk[8:])
        ascii_part = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        lines.append(f"{offset:08x}  {hex_part:<49}  |{ascii_part}|")
    return "\n".join(lines)


def go_duration(value: timedelta | float) -> str:
    """Format a duration as Go's ``Duration.Round(time.Second).String()`` does (``1h2m3s``)."""
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    total = round(seconds)
    if total == 0:
        return "0s"
    sign = "-" if total < 0 else ""
    total = abs(total)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{sign}{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{sign}{minutes}m{secs}s"
    return f"{sign}{secs}s"


def si_bytes(n: int) -> str:
    """Format a byte count with SI units of 1000 (``672 B``, ``1.5 kB``), as Go's dashboard does."""
    if n < 1000:
        return f"{n} B"
    value = float(n)
    for unit in "kMGTPE":
        value /= 1000
        if value < 1000 or unit == "E":
            return f"{value:.1f} {unit}B"
    raise AssertionError("unreachable")  # pragma: no cover


def error_rate(processed: int, failed: int) -> str:
    """Return failed/processed as a percentage (``12.50%``, as the CLI shows it), or ``-`` for none."""
    if processed <= 0:
        return "-"
    return f"{failed / processed:.2%}"


def thousands(n: int) -> str:
    """Format an integer with thousands separators."""
    return f"{n:,}"


def abs_time(when: datetime | None) -> str:
    """Format a time as ``2026-05-01 12:00:05 UTC``, or ``-`` when there is none."""
    if when is None:
        return "-"
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def relative_time(when: datetime | None, now: float) -> str:
    """Format a time relative to ``now`` (Unix seconds): ``in 5m0s``, ``3s ago``, ``now`` or ``-``."""
    if when is None:
        return "-"
    delta = when.timestamp() - now
    if abs(delta) < 0.5:
        return "now"
    span = _days(abs(delta)) if abs(delta) >= 86400 else go_duration(abs(delta))
    return f"in {span}" if delta > 0 else f"{span} ago"


def _days(seconds: float) -> str:
    """Return ``1126d7h`` (or ``2d``) for a span of a day or more, as the CLI shows far times."""
    days, rest = divmod(round(seconds), 86400)
    hours = rest // 3600
    return f"{days}d{hours}h" if hours else f"{days}d"
