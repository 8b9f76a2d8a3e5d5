"""The queues screen: a bar per queue segmented by state, totals, and a sortable queue table."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static
from textual.widgets.data_table import ColumnKey

from . import bindings
from .actions import Action, ActionKind
from .fmt import clean, error_rate, go_duration, si_bytes, thousands
from .messages import QueuesFetched, QueuesRequest
from .screen_base import DashScreen
from .screen_history import HistoryScreen
from .screen_queue import QueueScreen
from .widget_bars import STATE_COLOURS, STATE_ORDER, StateBars, legend, state_counts
from .widget_table import NavTable, Row

if TYPE_CHECKING:
    from textual.app import ComposeResult
    from textual.binding import BindingType

    from asynq_py.engine import QueueInfo

    from .messages import Request

__all__ = ["QueuesScreen"]

_COLUMNS: list[tuple[str, str, Callable[[QueueInfo], Any]]] = [
    ("queue", "Queue", lambda q: q.queue),
    ("state", "State", lambda q: q.paused),
    ("size", "Size", lambda q: q.size),
    ("latency", "Latency", lambda q: q.latency),
    ("memory", "Memory", lambda q: q.memory_usage),
    ("processed", "Processed", lambda q: q.processed),
    ("failed", "Failed", lambda q: q.failed),
    ("error_rate", "Error rate", lambda q: q.failed / q.processed if q.processed else -1.0),
]
"""Column key, label, and the sort key of each queue-table column."""


def _row(q: QueueInfo) -> Row:
    state = Text("PAUSED", style="bold yellow") if q.paused else Text("RUN", style="green")
    return (
        q.queue,
        [
            Text(clean(q.queue)),
            state,
            Text(thousands(q.size), justify="right"),
            Text(go_duration(q.latency), justify="right"),
            Text(si_bytes(q.memory_usage), justify="right"),
            Text(thousands(q.processed), justify="right"),
            Text(thousands(q.failed), justify="right"),
            Text(error_rate(q.processed, q.failed), justify="right"),
        ],
    )


def totals(queues: list[QueueInfo]) -> Text:
    """Return the line that sums every queue's sizes and today's counters."""
    line = Text()
    size = sum(q.size for q in queues)
    processed = sum(q.processed for q in queues)
    failed = sum(q.failed for q in queues)
    paused = sum(q.paused for q in queues)
    line.append(f"{thousands(len(queues))} queues", style="bold")
    if paused:
        line.append(f" ({paused} paused)", style="yellow")
    line.append(f"  {thousands(size)} tasks:", style="bold")
    for state in STATE_ORDER:
        count = sum(state_counts(q)[state] for q in queues)
        line.append(f" {state.value} ")
        line.append(thousands(count), style=f"bold {STATE_COLOURS[state]}")
    line.append("\nToday: processed ")
    line.append(thousands(processed), style="bold")
    line.append(", failed ")
    line.append(thousands(failed), style="bold")
    line.append(f", error rate {error_rate(processed, failed)}")
    line.append(f"   Memory {si_bytes(sum(q.memory_usage for q in queues))}")
    return line


class QueuesScreen(DashScreen):
    """Every queue at a glance; Enter opens one."""

    BINDINGS: ClassVar[list[BindingType]] = list(bindings.QUEUES)
    AUTO_FOCUS = "#queues"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queues: list[QueueInfo] = []
        self.sort_column = "queue"
        self.sort_reverse = False

    def title_text(self) -> Text:
        """Name the screen."""
        return Text("Queues")

    def compose_body(self) -> ComposeResult:
        """Totals, bars with their legend, and the queue table."""
        yield Static(Text("Loading…", style="dim"), id="totals")
        with VerticalScroll(id="bars-box"):
            yield StateBars(id="bars")
        yield Static(legend(), id="legend")
        yield NavTable(id="queues")

    def on_mount(self) -> None:
        """Set up the table's columns."""
        self.query_one(NavTable).set_columns([(key, label + "  ") for key, label, _ in _COLUMNS])
        self._label_sort()

    def data_request(self) -> Request:
        """Every queue."""
        return QueuesRequest()

    def on_queues_fetched(self, message: QueuesFetched) -> None:
        """Show the queues."""
        self.queues = message.queues
        self.stamp()
        self._draw()

    def _sorted(self) -> list[QueueInfo]:
        key = next(k for c, _, k in _COLUMNS if c == self.sort_column)
        # Sort by name first so equal keys keep a stable, readable order.
        by_name = sorted(self.queues, key=lambda q: q.queue)
        return sorted(by_name, key=key, reverse=self.sort_reverse)

    def _draw(self) -> None:
        queues = self._sorted()
        self.query_one("#totals", Static).update(totals(queues))
        self.query_one(StateBars).show(queues)
        self.query_one(NavTable).fill([_row(q) for q in queues])

    def _label_sort(self) -> None:
        # Labels keep two cells for the arrow, so the header width never changes.
        table = self.query_one(NavTable)
        for key, label, _ in _COLUMNS:
            arrow = (" ▼" if self.sort_reverse else " ▲") if key == self.sort_column else "  "
            table.columns[ColumnKey(key)].label = Text(label + arrow)
        table.refresh()

    def _set_sort(self, column: str, reverse: bool) -> None:
        self.sort_column, self.sort_reverse = column, reverse
        self._label_sort()
        self._draw()

    def action_sort(self) -> None:
        """Sort by the next column."""
        keys = [c for c, _, _ in _COLUMNS]
        self._set_sort(keys[(keys.index(self.sort_column) + 1) % len(keys)], self.sort_reverse)

    def action_reverse(self) -> None:
        """Reverse the sort order."""
        self._set_sort(self.sort_column, not self.sort_reverse)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        """Sort by the clicked column; clicking it again reverses the order."""
        column = str(event.column_key.value)
        self._set_sort(column, not self.sort_reverse if column == self.sort_column else False)

    def _cursor_queue(self) -> QueueInfo | None:
        key = self.query_one(NavTable).cursor_key
        return next((q for q in self.queues if q.queue == key), None)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Open the queue."""
        self.action_open()

    def action_open(self) -> None:
        """Open the queue under the cursor."""
        info = self._cursor_queue()
        if info is not None:
            self.app.push_screen(QueueScreen(self.ctx, info.queue, info))

    def action_toggle_pause(self) -> None:
        """Pause the queue under the cursor, or unpause it."""
        info = self._cursor_queue()
        if info is not None:
            kind = ActionKind.UNPAUSE if info.paused else ActionKind.PAUSE
            self.request_action(Action(kind, info.queue))

    def action_history(self) -> None:
        """Show the daily history of the queue under the cursor."""
        info = self._cursor_queue()
        if info is not None:
            self.app.push_screen(HistoryScreen(self.ctx, info.queue))
