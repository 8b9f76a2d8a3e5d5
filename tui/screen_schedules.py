"""The schedules screen: periodic-task entries with their next and previous runs, and their history."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.widgets import DataTable, Static

from . import bindings
from .fmt import abs_time, clean, payload_preview, relative_time, thousands
from .messages import SchedulesFetched, SchedulesRequest
from .screen_base import DashScreen
from .widget_table import NavTable, Row

if TYPE_CHECKING:
    from textual.app import ComposeResult
    from textual.binding import BindingType

    from asynq_py.engine import SchedulerEntryInfo

    from .messages import Request

__all__ = ["SchedulesScreen"]

_ENTRY_COLUMNS = [
    ("id", "Entry ID"),
    ("spec", "Spec"),
    ("type", "Type"),
    ("payload", "Payload"),
    ("options", "Options"),
    ("next", "Next"),
    ("prev", "Previous"),
]
_EVENT_COLUMNS = [("task_id", "Task ID"), ("enqueued_at", "Enqueued At"), ("ago", "")]


class SchedulesScreen(DashScreen):
    """Every periodic entry of every live scheduler; the highlighted one's enqueue history below."""

    BINDINGS: ClassVar[list[BindingType]] = list(bindings.SCHEDULES)
    AUTO_FOCUS = "#entries"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.entries: list[SchedulerEntryInfo] = []
        self.entry_id: str | None = None

    def title_text(self) -> Text:
        """Name the screen."""
        return Text("Schedules")

    def compose_body(self) -> ComposeResult:
        """The entries table, and the history table of one entry."""
        yield Static(Text("Loading…", style="dim"), id="entries-heading", classes="heading")
        yield NavTable(id="entries")
        yield Static("", id="events-heading", classes="heading")
        yield NavTable(id="events")

    def on_mount(self) -> None:
        """Set the columns."""
        self.query_one("#entries", NavTable).set_columns(_ENTRY_COLUMNS)
        self.query_one("#events", NavTable).set_columns(_EVENT_COLUMNS)

    def data_request(self) -> Request:
        """The entries, and the history of the highlighted one."""
        return SchedulesRequest(self.entry_id)

    def on_schedules_fetched(self, message: SchedulesFetched) -> None:
        """Show the entries and the history."""
        self.stamp()
        now = self.now()
        self.entries = message.entries
        self.entry_id = message.entry_id
        rows: list[Row] = [
            (
                e.id,
                [
                    Text(clean(e.id)),
                    Text(clean(e.spec)),
                    Text(clean(e.task_type)),
                    Text(payload_preview(e.task_payload, 30)),
                    Text(clean(", ".join(e.options))),
                    Text(relative_time(e.next_run(datetime.fromtimestamp(now, UTC)), now)),
                    Text(relative_time(e.prev_enqueue_at, now) if e.prev_enqueue_at else "N/A"),
                ],
            )
            for e in message.entries
        ]
        n = len(rows)
        entries = self.query_one("#entries", NavTable)
        events = self.query_one("#events", NavTable)
        if not n:
            self.query_one("#entries-heading", Static).update(
                Text(
                    "There are no periodic tasks: no scheduler is running, or none has entries.", style="bold"
                )
            )
        else:
            self.query_one("#entries-heading", Static).update(
                Text(f"{thousands(n)} periodic entr{'y' if n == 1 else 'ies'}", style="bold")
            )
        entries.display = events.display = bool(n)
        entries.fill(rows)
        heading = self.query_one("#events-heading", Static)
        heading.display = bool(n)
        if message.entry_id is None:
            events.fill([])
            return
        heading.update(
            Text.assemble(
                ("Enqueue history of ", "bold"),
                (clean(message.entry_id), "bold"),
                f"  ({thousands(len(message.events))} most recent)",
            )
        )
        events.fill(
            [
                (
                    f"{i}:{ev.task_id}",
                    [
                        Text(clean(ev.task_id)),
                        Text(abs_time(ev.enqueued_at)),
                        Text(relative_time(ev.enqueued_at, now)),
                    ],
                )
                for i, ev in enumerate(message.events)
            ]
        )

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """Show the history of the entry under the cursor."""
        if event.data_table.id != "entries":
            return
        key = event.row_key.value
        if key is not None and key != self.entry_id:
            self.entry_id = key
            self.request_refresh()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on an entry moves to its history table."""
        if event.data_table.id == "entries":
            self.query_one("#events", NavTable).focus()
