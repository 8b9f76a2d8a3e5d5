"""``StateBars``: one bar per queue, segmented and coloured by task state, scaled to the width."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widget import Widget

from asynq_py.engine import QueueInfo, TaskState

from .fmt import clean, thousands

__all__ = ["STATE_COLOURS", "STATE_ORDER", "StateBars", "legend", "state_counts"]

STATE_ORDER = (
    TaskState.ACTIVE,
    TaskState.PENDING,
    TaskState.AGGREGATING,
    TaskState.SCHEDULED,
    TaskState.RETRY,
    TaskState.ARCHIVED,
    TaskState.COMPLETED,
)
"""The order of states in bars, tabs and legends (Go's dashboard order)."""

STATE_COLOURS = {
    TaskState.ACTIVE: "dodger_blue1",
    TaskState.PENDING: "green3",
    TaskState.AGGREGATING: "pale_green3",
    TaskState.SCHEDULED: "yellow3",
    TaskState.RETRY: "hot_pink",
    TaskState.ARCHIVED: "medium_purple",
    TaskState.COMPLETED: "dark_green",
}
"""Go's colours: blue, green, light green, yellow, pink, purple, dark green."""

_BLOCK = "▇"
_NAME_WIDTH = 24


def state_counts(info: QueueInfo) -> dict[TaskState, int]:
    """Return the queue's task count per state, in ``STATE_ORDER``."""
    return {
        TaskState.ACTIVE: info.active,
        TaskState.PENDING: info.pending,
        TaskState.AGGREGATING: info.aggregating,
        TaskState.SCHEDULED: info.scheduled,
        TaskState.RETRY: info.retry,
        TaskState.ARCHIVED: info.archived,
        TaskState.COMPLETED: info.completed,
    }


def legend() -> Text:
    """Return the line naming each state's colour."""
    line = Text()
    for state in STATE_ORDER:
        line.append(_BLOCK, style=STATE_COLOURS[state])
        line.append(f" {state.value}  ")
    return line


def _segments(counts: Sequence[int], length: int) -> list[int]:
    """Split ``length`` cells between ``counts`` by cumulative rounding (they sum to ``length``)."""
    total = sum(counts)
    out: list[int] = []
    done, cum = 0, 0
    for n in counts:
        cum += n
        edge = round(cum * length / total) if total else 0
        out.append(edge - done)
        done = edge
    return out


class StateBars(Widget):
    """Draws each queue's bar and size; the largest queue fills the available width."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._queues: list[QueueInfo] = []
        self._shown = False

    def show(self, queues: Sequence[QueueInfo]) -> None:
        """Draw these queues, in this order."""
        self._queues = list(queues)
        self._shown = True
        self.styles.height = max(1, len(self._queues))
        self.refresh(layout=True)

    def render(self) -> Text:
        """Return one line per queue."""
        if not self._queues:
            return Text("No queues yet: enqueue a task to create one." if self._shown else "", style="dim")
        names = [clean(q.queue) for q in self._queues]
        name_w = min(_NAME_WIDTH, max(len(n) for n in names))
        sizes = [sum(state_counts(q).values()) for q in self._queues]
        size_w = max(len(thousands(s)) for s in sizes)
        bar_w = max(1, self.size.width - name_w - size_w - 3)
        biggest = max(sizes) or 1
        out = Text(no_wrap=True, overflow="ellipsis")
        for i, (q, name, size) in enumerate(zip(self._queues, names, sizes, strict=True)):
            if i:
                out.append("\n")
            shown = name if len(name) <= name_w else name[: name_w - 1] + "…"
            out.append(f"{shown:<{name_w}} ", style="bold")
            length = max(1, round(size * bar_w / biggest)) if size else 0
            counts = list(state_counts(q).values())
            for state, cells in zip(STATE_ORDER, _segments(counts, length), strict=True):
                if cells:
                    out.append(_BLOCK * cells, style=STATE_COLOURS[state])
            out.append(" " * (bar_w - length + 1))
            out.append(f"{thousands(size):>{size_w}}")
        return out
