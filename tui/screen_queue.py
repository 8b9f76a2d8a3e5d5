"""The queue screen: a summary, state tabs with counts, and a paged, filterable task table."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable, Input, Static

from asynq_py.engine import GroupInfo, QueueInfo, QueueLimits, TaskInfo, TaskState

from . import bindings
from .actions import Action, ActionKind, refusal
from .fmt import clean, error_rate, go_duration, payload_preview, relative_time, si_bytes, thousands
from .messages import QueueFetched, QueueRequest
from .screen_base import Context, DashScreen
from .screen_history import HistoryScreen
from .screen_limits import LimitsScreen
from .screen_task import TaskScreen
from .widget_bars import STATE_ORDER, state_counts
from .widget_limits import LimitsLine
from .widget_table import NavTable, Row
from .widget_tabs import StateTabs

if TYPE_CHECKING:
    from textual.app import ComposeResult
    from textual.binding import BindingType

    from .messages import ActionDone, Request

__all__ = ["QueueScreen", "TaskTable", "task_columns"]

_MARK = "●"
_GROUPS = "groups"
"""The pseudo-view of the aggregating tab before a group is chosen."""


class TaskTable(NavTable):
    """The task table: left and right switch the state tab; with Shift they scroll sideways."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left,h", "screen.step_state(-1)", "Prev state", show=False),
        Binding("right,l", "screen.step_state(1)", "Next state", show=False),
        Binding("shift+left", "scroll_left", "Scroll left", show=False),
        Binding("shift+right", "scroll_right", "Scroll right", show=False),
    ]


def task_columns(view: TaskState | str) -> list[tuple[str, str]]:
    """Return the (key, label) columns of a state's table, as Go's dashboard has them (docs/wire.md §7.1)."""
    if view == _GROUPS:
        return [("group", "Group"), ("size", "Size")]
    head = [("sel", " "), ("id", "ID"), ("type", "Type")]
    rest = {
        TaskState.ACTIVE: [("retried", "Retried"), ("max_retry", "Max Retry"), ("payload", "Payload")],
        TaskState.PENDING: [("retried", "Retried"), ("max_retry", "Max Retry"), ("payload", "Payload")],
        TaskState.AGGREGATING: [("payload", "Payload"), ("group", "Group")],
        TaskState.SCHEDULED: [("next", "Next Process Time"), ("payload", "Payload")],
        TaskState.RETRY: [
            ("retry", "Retry"),
            ("error", "Last Failure"),
            ("failed_at", "Last Failure Time"),
            ("next", "Next Process Time"),
            ("payload", "Payload"),
        ],
        TaskState.ARCHIVED: [
            ("retry", "Retry"),
            ("error", "Last Failure"),
            ("failed_at", "Last Failure Time"),
            ("payload", "Payload"),
        ],
        TaskState.COMPLETED: [("completed", "Completion Time"), ("payload", "Payload"), ("result", "Result")],
    }
    return head + rest[TaskState(view)]


def _cell(task: TaskInfo, column: str, now: float) -> Text:  # noqa: C901 - one case per column reads best
    match column:
        case "id":
            return Text(clean(task.id))
        case "type":
            text = Text(clean(task.type))
            if task.is_orphaned:
                text.append(" (orphaned)", style="bold red")
            return text
        case "retried":
            return Text(str(task.retried), justify="right")
        case "max_retry":
            return Text(str(task.max_retry), justify="right")
        case "retry":
            return Text(f"{task.retried}/{task.max_retry}", justify="right")
        case "payload":
            return Text(payload_preview(bytes(task.payload), 32))
        case "group":
            return Text(clean(task.group))
        case "next":
            return Text(relative_time(task.next_process_at, now))
        case "error":
            return Text(payload_preview(task.last_error.encode(), 32), style="red")
        case "failed_at":
            return Text(relative_time(task.last_failed_at, now))
        case "completed":
            return Text(relative_time(task.completed_at, now))
        case "result":
            return Text(payload_preview(task.result or b"", 30))
    raise AssertionError(f"unknown column {column}")  # pragma: no cover


class QueueScreen(DashScreen):
    """One queue's tasks by state; actions apply to the selected tasks or the one under the cursor."""

    BINDINGS: ClassVar[list[BindingType]] = list(bindings.QUEUE)
    AUTO_FOCUS = "#tasks"

    def __init__(
        self, ctx: Context, queue: str, info: QueueInfo | None = None, state: TaskState | None = None
    ) -> None:
        super().__init__(ctx)
        self.queue = queue
        self.info = info
        if state is None:
            counts = state_counts(info) if info is not None else {}
            state = next((s for s in STATE_ORDER if counts.get(s)), TaskState.ACTIVE)
        self.state: TaskState = state
        self.group: str | None = None
        self.page = 1
        self.filter = ""
        self.selected: dict[str, None] = {}
        """Selected task ids, in the order they were selected."""
        self.tasks: list[TaskInfo] = []
        self.groups: list[GroupInfo] = []
        self.total = 0
        self.missing = False
        self.last_answer: QueueFetched | None = None
        """The answer shown (for the current tab, page and filter)."""

    @property
    def view(self) -> TaskState | str:
        """The state shown, or ``"groups"`` for the aggregating tab's list of groups."""
        if self.state is TaskState.AGGREGATING and self.group is None:
            return _GROUPS
        return self.state

    def title_text(self) -> Text:
        """Name the queue."""
        return Text.assemble("Queue ", (clean(self.queue), "bold"))

    def compose_body(self) -> ComposeResult:
        """Summary, tabs, filter, table and pager."""
        yield Static(Text("Loading…", style="dim"), id="summary")
        yield LimitsLine(id="limits")
        yield StateTabs(self.state)
        yield Input(placeholder="filter by task id or type; Enter keeps it, Esc clears it", id="filter")
        yield TaskTable(id="tasks")
        yield Static("", id="pager")

    def on_mount(self) -> None:
        """Show the columns of the first state and hide the filter."""
        self.query_one("#filter", Input).display = False
        self.query_one(LimitsLine).display = False
        self.query_one(TaskTable).set_columns(task_columns(self.view))
        if self.info is not None:
            self._summary(self.info)
            self.query_one(StateTabs).show(self.state, state_counts(self.info))

    def data_request(self) -> Request:
        """The queue summary and the current page."""
        return QueueRequest(self.queue, self.state, self.group, self.page, self.ctx.page_size, self.filter)

    # ---- data ------------------------------------------------------------------------------

    def on_queue_fetched(self, message: QueueFetched) -> None:
        """Show the answer if it is for the current view."""
        if message.request != self.data_request():
            return  # an answer for a tab, page or filter the user has already left
        self.stamp()
        self.last_answer = message
        if message.info is None:
            self.missing = True
            self.tasks, self.groups, self.total = [], [], 0
            self.query_one(TaskTable).fill([])
            self._pager()
            return
        self.missing = False
        self.info = message.info
        self.tasks, self.groups, self.total = message.tasks, message.groups, message.total
        pages = max(1, -(-self.total // self.ctx.page_size))
        if self.page > pages:
            self.page = pages  # tasks left the state; show the last page that has any
            self.request_refresh()
            return
        self._summary(message.info)
        self.query_one(LimitsLine).show(message.limits, message.limits_error)
        self.query_one(StateTabs).show(self.state, state_counts(message.info))
        self._fill()
        self._pager()

    def _summary(self, info: QueueInfo) -> None:
        line = Text.assemble(("Queue ", "bold"), (clean(info.queue), "bold"), "  ")
        line.append("PAUSED" if info.paused else "RUN", style="bold yellow" if info.paused else "green")
        line.append(f"   Size {thousands(info.size)}   Groups {thousands(info.groups)}")
        line.append(f"   Latency {go_duration(info.latency)}   Memory {si_bytes(info.memory_usage)}")
        line.append(f"   Today: processed {thousands(info.processed)}, failed {thousands(info.failed)}")
        line.append(f", error rate {error_rate(info.processed, info.failed)}")
        self.query_one("#summary", Static).update(line)

    def _fill(self) -> None:
        table = self.query_one(TaskTable)
        table.set_columns(task_columns(self.view))
        if self.view == _GROUPS:
            rows: list[Row] = [
                (g.group, [Text(clean(g.group)), Text(thousands(g.size), justify="right")])
                for g in self.groups
            ]
        else:
            now = self.now()
            columns = [key for key, _ in task_columns(self.view)][1:]
            rows = [
                (
                    t.id,
                    [
                        Text(_MARK if t.id in self.selected else " ", style="bold"),
                        *(_cell(t, c, now) for c in columns),
                    ],
                )
                for t in self.tasks
            ]
        table.fill(rows)

    def _pager(self) -> None:
        pager = self.query_one("#pager", Static)
        if self.missing:
            pager.update(Text(f'Queue "{clean(self.queue)}" no longer exists.', style="bold red"))
            return
        noun = "groups" if self.view == _GROUPS else f"{self.state.value} tasks"
        line = Text()
        if self.group is not None:
            line.append(f'Group "{clean(self.group)}"', style="bold")
            line.append(" (Esc: back to groups)  ")
        if self.last_answer is not None and self.filter.strip():
            line.append(
                f'Filter "{clean(self.filter.strip())}": {thousands(self.total)} matches', style="bold"
            )
            if self.last_answer.scanned:
                more = " (stopped there)" if self.last_answer.truncated else ""
                line.append(f" in {thousands(self.last_answer.scanned)} {noun} searched{more}")
            line.append("  ")
        if not self.total:
            line.append(f"No {noun}." if not self.filter.strip() else "")
        else:
            first = (self.page - 1) * self.ctx.page_size + 1
            last = min(self.total, self.page * self.ctx.page_size)
            line.append(f"Showing {thousands(first)}-{thousands(last)} of {thousands(self.total)}")
            line.append("   n=NextPage  p=PrevPage", style="dim")
        if self.selected:
            line.append(f"   {thousands(len(self.selected))} selected", style="bold")
        pager.update(line)

    # ---- navigation ------------------------------------------------------------------------

    def _set_state(self, state: TaskState) -> None:
        if state is self.state and self.group is None:
            return
        self.state, self.group, self.page = state, None, 1
        self.selected.clear()
        self.tasks, self.groups, self.total = [], [], 0
        self.last_answer = None
        table = self.query_one(TaskTable)
        table.set_columns(task_columns(self.view))
        table.fill([])
        self.query_one(StateTabs).show(state, {})
        self.query_one("#pager", Static).update(Text("Loading…", style="dim"))
        self.request_refresh()

    def action_step_state(self, delta: int) -> None:
        """Select the previous or next state tab (wrapping around)."""
        i = STATE_ORDER.index(self.state)
        self._set_state(STATE_ORDER[(i + delta) % len(STATE_ORDER)])

    def on_state_tabs_selected(self, message: StateTabs.Selected) -> None:
        """Select the clicked tab."""
        self._set_state(message.state)

    def action_page(self, delta: int) -> None:
        """Go to the next or previous page."""
        pages = max(1, -(-self.total // self.ctx.page_size))
        page = min(pages, max(1, self.page + delta))
        if page != self.page:
            self.page = page
            self.request_refresh()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Open the group or the task."""
        key = event.row_key.value
        if key is None:
            return
        if self.view == _GROUPS:
            self.group, self.page = key, 1
            self.selected.clear()
            self.query_one(TaskTable).set_columns(task_columns(self.view))
            self.request_refresh()
            return
        task = next((t for t in self.tasks if t.id == key), None)
        self.app.push_screen(TaskScreen(self.ctx, self.queue, key, task))

    def handle_back(self) -> bool:
        """Close the filter first, then leave the group."""
        filter_input = self.query_one("#filter", Input)
        if filter_input.display or self.filter:
            filter_input.value = ""
            filter_input.display = False
            self.filter, self.page = "", 1
            self.query_one(TaskTable).focus()
            self.request_refresh()
            return True
        if self.group is not None:
            self.group, self.page = None, 1
            self.selected.clear()
            self.query_one(TaskTable).set_columns(task_columns(self.view))
            self.request_refresh()
            return True
        return False

    # ---- filter ----------------------------------------------------------------------------

    def action_filter(self) -> None:
        """Show the filter box and type into it."""
        filter_input = self.query_one("#filter", Input)
        filter_input.display = True
        filter_input.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        """Filter as the user types."""
        if event.value != self.filter:
            self.filter, self.page = event.value, 1
            self.request_refresh()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Keep the filter and go back to the table."""
        if not event.value:
            event.input.display = False
        self.query_one(TaskTable).focus()

    # ---- selection -------------------------------------------------------------------------

    def _mark(self, task_id: str) -> None:
        table = self.query_one(TaskTable)
        if task_id in {r.key.value for r in table.ordered_rows}:
            table.update_cell(task_id, "sel", Text(_MARK if task_id in self.selected else " ", style="bold"))

    def action_toggle_select(self) -> None:
        """Select or unselect the task under the cursor, then move down."""
        if self.view == _GROUPS:
            return
        table = self.query_one(TaskTable)
        key = table.cursor_key
        if key is None:
            return
        if key in self.selected:
            del self.selected[key]
        else:
            self.selected[key] = None
        self._mark(key)
        if table.cursor_row < table.row_count - 1:
            table.move_cursor(row=table.cursor_row + 1)
        self._pager()

    def action_select_page(self) -> None:
        """Select every task of the page."""
        for task in self.tasks:
            self.selected[task.id] = None
            self._mark(task.id)
        self._pager()

    def action_clear_selection(self) -> None:
        """Unselect every task."""
        ids = list(self.selected)
        self.selected.clear()
        for task_id in ids:
            self._mark(task_id)
        self._pager()

    # ---- actions ---------------------------------------------------------------------------

    def action_task(self, kind: str) -> None:
        """Act on the selected tasks, or on the one under the cursor (on a group: on all its tasks)."""
        verb = ActionKind(kind)
        if self.view == _GROUPS:
            if verb is not ActionKind.CANCEL:
                self.action_state(kind)
            return
        ids = tuple(self.selected) or tuple(k for k in [self.query_one(TaskTable).cursor_key] if k)
        if not ids:
            self.notify("No task here to act on.", severity="warning", markup=False)
            return
        reason = refusal(verb, self.state, whole_state=False)
        if reason is not None:
            self.notify(reason.capitalize() + ".", severity="warning", markup=False)
            return
        task = next((t for t in self.tasks if t.id == ids[0]), None) if len(ids) == 1 else None
        self.request_action(Action(verb, self.queue, self.state, ids, group=self.group, task=task))

    def action_state(self, kind: str) -> None:
        """Act on every task of the state (of the group, for aggregating tasks)."""
        verb = ActionKind(kind)
        reason = refusal(verb, self.state, whole_state=True)
        if reason is not None:
            self.notify(reason + ".", severity="warning", markup=False)
            return
        group = self.group
        if self.state is TaskState.AGGREGATING and group is None:
            group = self.query_one(TaskTable).cursor_key
            if group is None:
                self.notify("No group here to act on.", severity="warning", markup=False)
                return
        if self.state is TaskState.AGGREGATING:
            expected = next((g.size for g in self.groups if g.group == group), self.total)
        else:
            expected = state_counts(self.info)[self.state] if self.info is not None else self.total
        self.request_action(
            Action(verb, self.queue, self.state, whole_state=True, group=group, expected=expected)
        )

    def action_toggle_pause(self) -> None:
        """Pause the queue, or unpause it."""
        if self.info is not None:
            kind = ActionKind.UNPAUSE if self.info.paused else ActionKind.PAUSE
            self.request_action(Action(kind, self.queue))

    def action_history(self) -> None:
        """Show the queue's daily history."""
        self.app.push_screen(HistoryScreen(self.ctx, self.queue))

    def action_limits(self) -> None:
        """Open the limits dialog, prefilled with the limits shown; apply what it returns."""
        answer = self.last_answer
        current = answer.limits.limits if answer is not None and answer.limits is not None else QueueLimits()

        def chosen(action: Action | None) -> None:
            if action is not None:
                self.request_action(action)

        self.app.push_screen(LimitsScreen(self.queue, current), chosen)

    def after_action(self, done: ActionDone) -> None:
        """Forget the selection of tasks that were acted on."""
        for task_id in done.action.task_ids:
            self.selected.pop(task_id, None)
