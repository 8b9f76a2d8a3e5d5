"""How results reach people and programs: Rich tables on stdout, JSON lines on stdout, notes on stderr.

Nothing here decides what to show; commands hand over records and rows. Two promises hold for all
output:

- data goes to stdout and messages to stderr, never mixed;
- text that came from Redis is escaped before it is printed (``escape``), so a task payload cannot
  move the cursor, retitle the terminal or ring its bell, and JSON lines carry no raw C1 or bidi
  control characters either.

Rich honours ``NO_COLOR``, ``TERM=dumb`` and the terminal width; the consoles are made with markup and
highlighting off, so square brackets in task data print as they are.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Rich is imported where it is used, so that commands printing no table never load it
    from rich.console import Console, RenderableType
    from rich.live import Live
    from rich.table import Table
    from rich.text import Text

__all__ = [
    "bar",
    "cell",
    "dumps_json",
    "emit",
    "emit_json",
    "error_rate",
    "escape",
    "fmt_bytes",
    "fmt_duration",
    "fmt_time",
    "make_console",
    "new_table",
    "payload_text",
    "progress",
    "relative",
    "watch",
]

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
"""C0 and C1 controls, DEL, line/paragraph separators and the bidi controls (Trojan Source)."""
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
"""What ``json.dumps`` leaves raw with ``ensure_ascii=False``; it escapes C0 itself."""

PIPE_WIDTH = 200
"""Width of tables written to a file or pipe when ``COLUMNS`` is not set."""
WIDE_COLUMNS = frozenset({"Payload", "Last Error", "Result", "Queues", "Options", "Error"})
"""Columns that may be long; they are cut with an ellipsis before others are."""


def escape(text: str) -> str:
    """Return ``text`` with control, separator and bidi characters escaped, e.g. as ``\\x1b``."""
    return _UNSAFE.sub(_escape_one, text)


def _escape_one(match: re.Match[str]) -> str:
    ch = match.group()
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def payload_text(data: bytes | None, limit: int | None = 200) -> str:
    """Return bytes as printable text: UTF-8 escaped, or ``non-printable bytes`` (Go's wording)."""
    if not data:
        return ""
    try:
        text = escape(data.decode("utf-8"))
    except UnicodeDecodeError:
        return f"non-printable bytes ({len(data)})"
    if limit is not None and len(text) > limit:
        return text[: limit - 1] + "…"
    return text


def fmt_duration(seconds: float) -> str:
    """Return a short human duration: ``450ms``, ``42s``, ``5m12s``, ``3h5m``, ``2d4h``."""
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if 0 < seconds < 1:
        return f"{sign}{round(seconds * 1000)}ms"
    whole = round(seconds)
    if whole < 60:
        return f"{sign}{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{sign}{minutes}m{secs}s" if secs else f"{sign}{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{sign}{hours}h{minutes}m" if minutes else f"{sign}{hours}h"
    days, hours = divmod(hours, 24)
    return f"{sign}{days}d{hours}h" if hours else f"{sign}{days}d"


def relative(when: datetime | None, now: datetime, *, never: str = "-") -> str:
    """Return ``in 5m``, ``3m ago`` or ``now`` for ``when`` seen from ``now``; ``never`` for None."""
    if when is None:
        return never
    delta = (when - now).total_seconds()
    if abs(delta) < 1:
        return "now"
    return f"in {fmt_duration(delta)}" if delta > 0 else f"{fmt_duration(-delta)} ago"


def fmt_time(when: datetime | None, now: datetime | None = None) -> str:
    """Return ``2026-01-02 15:04:05 UTC``, followed by the relative time when ``now`` is given."""
    if when is None:
        return "-"
    text = when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{text} ({relative(when, now)})" if now is not None else text


def fmt_bytes(n: int) -> str:
    """Return a size with SI units, as Go's dashboard shows memory: ``950 B``, ``12.3 kB``, ``4.1 MB``."""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def error_rate(processed: int, failed: int) -> float | None:
    """Return failed/processed, or None when nothing was processed."""
    return failed / processed if processed else None


def dumps_json(record: object) -> str:
    """Return ``record`` as one line of JSON, with the control characters JSON allows raw escaped."""
    text = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def emit(line: str) -> None:
    """Write one line of data to stdout."""
    sys.stdout.write(line + "\n")


def emit_json(record: object) -> None:
    """Write ``record`` to stdout as one JSON line."""
    emit(dumps_json(record))


def make_console(*, stderr: bool) -> Console:
    """Return a console for stdout or stderr, with markup, emoji and highlighting off.

    A terminal's width is respected; output into a file or pipe is ``COLUMNS`` wide, else
    ``PIPE_WIDTH``, rather than Rich's 80, so that tables are not cut for ``less`` or ``grep``.
    """
    from rich.console import Console

    console = Console(stderr=stderr, markup=False, emoji=False, highlight=False)
    if not console.is_terminal and not os.environ.get("COLUMNS"):
        console.width = PIPE_WIDTH
    return console


def new_table(
    columns: Sequence[str],
    *,
    title: str | None = None,
    numeric: Sequence[str] = (),
    whole: Sequence[str] = (),
) -> Table:
    """Return an empty table; ``numeric`` columns are right-aligned, wide ones cut first, ``whole``
    ones (like ids) never cut."""
    from rich import box

    from .table import IdTable  # keeps id columns whole at any width

    table = IdTable(
        box=box.SIMPLE_HEAD,
        title=title,
        title_justify="left",
        header_style="bold",
        pad_edge=False,
        whole=frozenset(whole),
    )
    for name in columns:
        wide = name in WIDE_COLUMNS
        table.add_column(
            name,
            justify="right" if name in numeric else "left",
            no_wrap=True,
            overflow="ellipsis",
            max_width=60 if wide else None,
            min_width=8 if wide else len(name),
            ratio=1 if wide else None,
        )
    return table


def cell(value: object, style: str = "") -> Text:
    """Return a table cell for ``value``, escaped and never parsed as markup."""
    from rich.text import Text

    if value is None:
        return Text("-", style="dim")
    return Text(escape(str(value)), style=style)


def bar(value: int, maximum: int, width: int, *, char: str = "█") -> str:
    """Return a bar of ``value`` scaled so that ``maximum`` fills ``width`` characters."""
    if maximum <= 0 or value <= 0:
        return ""
    return char * max(1, round(value / maximum * width))


@contextmanager
def progress(console: Console, description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """Show a progress bar on ``console`` if it is a terminal; yield a function that advances it."""
    if not console.is_terminal:
        yield lambda _n: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    # Rich sends stdout writes made under a live bar to the bar's console; data must stay on stdout
    # unless stdout is the same terminal.
    redirect = sys.stdout.isatty()
    with Progress(*columns, console=console, transient=True, redirect_stdout=redirect) as bars:
        task = bars.add_task(escape(description), total=total)
        yield lambda n: bars.advance(task, n)


def watch(
    console: Console, draw: Callable[[], RenderableType | None], *, interval_s: float, count: int | None
) -> None:
    """Call ``draw`` every ``interval_s`` seconds until Ctrl+C (or ``count`` times) and show what it returns.

    ``draw`` returns a renderable, redrawn in place on a terminal and printed again elsewhere, or None
    when it printed JSON lines itself. Ctrl+C ends the loop quietly.
    """
    from rich.live import Live

    live: Live | None = None
    shown = 0
    try:
        while True:
            renderable = draw()
            if renderable is None:
                sys.stdout.flush()
            elif not console.is_terminal:
                console.print(renderable)
            elif live is None:
                live = Live(renderable, console=console, auto_refresh=False)
                live.start(refresh=True)
            else:
                live.update(renderable, refresh=True)
            shown += 1
            if count is not None and shown >= count:
                return
            time.sleep(interval_s)
    except KeyboardInterrupt:
        return
    finally:
        if live is not None:
            live.stop()
