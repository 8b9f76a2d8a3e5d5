"""The servers screen: each live server, and every task its workers are running."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.widgets import DataTable, Static

from . import bindings
from .fmt import clean, payload_preview, relative_time, thousands
from .messages import ServersFetched, ServersRequest
from .screen_base import DashScreen
from .screen_task import TaskScreen
from .widget_table import NavTable, Row

if TYPE_CHECKING:
    from textual.app import ComposeResult
    from textual.binding import BindingType

    from asynq_py.engine import ServerInfo

    from .messages import Request

__all__ = ["ServersScreen", "heartbeat_at", "queue_weights"]

_SERVER_COLUMNS = [
    ("host", "Host"),
    ("pid", "PID"),
    ("status", "Status"),
    ("workers", "Active Workers"),
    ("queues", "Queues (weight)"),
    ("started", "Started"),
    ("heartbeat", "Heartbeat"),
]
_WORKER_COLUMNS = [
    ("server", "Server"),
    ("id", "Task ID"),
    ("type", "Type"),
    ("queue", "Queue"),
    ("payload", "Payload"),
    ("started", "Started"),
    ("deadline", "Deadline"),
]


def queue_weights(server: ServerInfo) -> str:
    """Return ``name:weight`` pairs, highest weight first, then by name (Go's ``server ls``)."""
    pairs = sorted(server.queues.items(), key=lambda kv: (-kv[1], kv[0]))
    text = " ".join(f"{clean(name)}:{weight}" for name, weight in pairs)
    return text + (" (strict)" if server.strict_priority else "")


def heartbeat_at(server: ServerInfo) -> datetime | None:
    """Return when the server last wrote its heartbeat."""
    return server.last_heartbeat


class ServersScreen(DashScreen):
    """Live servers and their active workers."""

    BINDINGS: ClassVar[list[BindingType]] = list(bindings.SERVERS)
    AUTO_FOCUS = "#servers"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.servers: list[ServerInfo] = []
        self.worker_tasks: dict[str, tuple[str, str]] = {}
        """Each worker row's key: the queue and id of the task it runs."""

    def title_text(self) -> Text:
        """Name the screen."""
        return Text("Servers")

    def compose_body(self) -> ComposeResult:
        """Two tables with a heading each."""
        yield Static(Text("Loading…", style="dim"), id="servers-heading", classes="heading")
        yield NavTable(id="servers")
        yield Static("", id="workers-heading", classes="heading")
        yield NavTable(id="workers")

    def on_mount(self) -> None:
        """Set the columns."""
        self.query_one("#servers", NavTable).set_columns(_SERVER_COLUMNS)
        self.query_one("#workers", NavTable).set_columns(_WORKER_COLUMNS)

    def data_request(self) -> Request:
        """Every server."""
        return ServersRequest()

    def on_servers_fetched(self, message: ServersFetched) -> None:
        """Show the servers and their workers."""
        self.stamp()
        self.servers = message.servers
        now = self.now()
        server_rows: list[Row] = []
        worker_rows: list[Row] = []
        self.worker_tasks = {
            f"{s.id}/{w.task_id}": (w.queue, w.task_id) for s in message.servers for w in s.active_workers
        }
        for s in message.servers:
            server_rows.append(
                (
                    s.id,
                    [
                        Text(clean(s.host)),
                        Text(str(s.pid), justify="right"),
                        Text(clean(s.status), style="green" if s.status == "active" else "yellow"),
                        Text(f"{len(s.active_workers)}/{s.concurrency}", justify="right"),
                        Text(queue_weights(s)),
                        Text(relative_time(s.started, now)),
                        Text(relative_time(heartbeat_at(s), now)),
                    ],
                )
            )
            for w in s.active_workers:
                worker_rows.append(
                    (
                        f"{s.id}/{w.task_id}",
                        [
                            Text(f"{clean(s.host)}:{s.pid}"),
                            Text(clean(w.task_id)),
                            Text(clean(w.task_type)),
                            Text(clean(w.queue)),
                            Text(payload_preview(w.task_payload, 30)),
                            Text(relative_time(w.started, now)),
                            Text(relative_time(w.deadline, now)),
                        ],
                    )
                )
        n = len(message.servers)
        heading = f"{thousands(n)} server{'s' if n != 1 else ''}" if n else "No servers are running."
        self.query_one("#servers-heading", Static).update(Text(heading, style="bold"))
        busy = len(worker_rows)
        self.query_one("#workers-heading", Static).update(
            Text(f"{thousands(busy)} active worker{'s' if busy != 1 else ''}", style="bold")
        )
        self.query_one("#servers", NavTable).fill(server_rows)
        self.query_one("#workers", NavTable).fill(worker_rows)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a worker opens the task it runs."""
        found = self.worker_tasks.get(str(event.row_key.value)) if event.data_table.id == "workers" else None
        if found is not None:
            self.app.push_screen(TaskScreen(self.ctx, *found))
