"""``LimitsLine``: a queue's flow-control limits, their use, and its throttled count, in one line.

Hidden for a queue with no limits, no parked tasks and nothing throttled, so the queue screen of an
ordinary queue looks as it always did.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Static

from asynq_py.engine import next_start_text

from .fmt import clean, thousands

if TYPE_CHECKING:
    from asynq_py.engine import Limit, LimitsInfo

__all__ = ["LimitsLine", "limits_text"]


def _part(line: Text, limit: Limit, active: int | None, next_slot_in_ms: int | None) -> None:
    pieces: list[tuple[str, str]] = []
    if limit.concurrency is not None:
        full = active is not None and active >= limit.concurrency
        pieces.append((f"{active}/{limit.concurrency} active", "bold yellow" if full else ""))
    if limit.rate is not None:
        next_start = next_start_text(next_slot_in_ms or 0)
        pieces.append((f"rate {limit.rate.text_with_burst()}, next start {next_start}", ""))
    for i, (text, style) in enumerate(pieces):
        line.append(", " if i else "")
        line.append(text, style=style)


def limits_text(info: LimitsInfo) -> Text:
    """Return the line: the queue's limit, each type's, what runs and waits, and the throttled count."""
    line = Text.assemble(("Limits ", "bold"))
    own = info.limits.queue_limit
    if own.is_empty:
        line.append(f"queue: none ({thousands(info.active)} active)", style="dim")
    else:
        line.append("queue: ")
        _part(line, own, info.active, info.next_slot_in_ms)
    for t in info.types:
        line.append("   ")
        line.append(clean(t.task_type), style="bold")
        line.append(": ")
        if t.limit.is_empty:
            line.append("no limit", style="dim")
        else:
            _part(line, t.limit, t.active, t.next_slot_in_ms)
        if t.parked:
            line.append(f", {thousands(t.parked)} parked", style="yellow")
    line.append(f"   Throttled today {thousands(info.throttled)}, total {thousands(info.throttled_total)}")
    if not info.limits.is_empty:
        for s in info.unenforced_by:
            line.append(
                f"   Go server {clean(s.host)}:{s.pid} serves this queue and ignores its limits",
                style="bold red",
            )
    return line


class LimitsLine(Static):
    """Shows ``limits_text`` when the queue is limited, has parked tasks or throttled some."""

    def show(self, info: LimitsInfo | None, error: str = "") -> None:
        """Show these limits (None: hide), or say why they could not be read."""
        if error:
            self.display = True
            self.update(Text(f"Limits unreadable: {clean(error)}", style="bold red"))
            return
        busy = info is not None and (not info.limits.is_empty or info.types or info.throttled_total)
        self.display = bool(busy)
        if info is not None and busy:
            self.update(limits_text(info))
