"""The task screen: every field of one task, its payload and its result."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from . import bindings
from .actions import Action, ActionKind, refusal
from .fmt import abs_time, clean, go_duration, payload_detail, relative_time
from .messages import TaskFetched, TaskRequest
from .screen_base import Context, DashScreen
from .widget_bars import STATE_COLOURS

if TYPE_CHECKING:
    from datetime import datetime

    from textual.app import ComposeResult
    from textual.binding import BindingType

    from asynq_py.engine import TaskInfo

    from .messages import ActionDone, Request

__all__ = ["TaskScreen", "render_task"]

_LABEL_WIDTH = 18


def _when(when: datetime | None, now: float) -> str:
    if when is None:
        return "-"
    return f"{abs_time(when)} ({relative_time(when, now)})"


def _field(out: Text, label: str, value: Text | str) -> None:
    out.append(f"{label:<{_LABEL_WIDTH}}", style="bold")
    if isinstance(value, Text):
        out.append_text(value)
    else:
        out.append(value)
    out.append("\n")


def _block(out: Text, label: str, data: bytes | None) -> None:
    out.append(f"\n{label}", style="bold underline")
    if not data:
        out.append("  (empty)\n", style="dim")
        return
    kind, body = payload_detail(data)
    out.append(f"  ({kind})\n", style="dim")
    out.append(body)
    out.append("\n")


def render_task(task: TaskInfo, now: float) -> Text:
    """Return every field of ``task``, escaped, with times absolute and relative to ``now``."""
    out = Text()
    _field(out, "ID", clean(task.id))
    _field(out, "Type", clean(task.type))
    _field(out, "Queue", clean(task.queue))
    state = Text(task.state.value, style=f"bold {STATE_COLOURS[task.state]}")
    if task.is_orphaned:
        state.append(" (orphaned: its lease expired)", style="bold red")
    _field(out, "State", state)
    _field(out, "Retries", f"{task.retried} of {task.max_retry}")
    if task.last_error:
        _field(out, "Last error", Text(clean(task.last_error), style="red"))
    _field(out, "Last failed at", _when(task.last_failed_at, now))
    _field(out, "Next process time", _when(task.next_process_at, now))
    _field(out, "Deadline", _when(task.deadline, now))
    _field(out, "Timeout", go_duration(task.timeout) if task.timeout is not None else "-")
    _field(out, "Retention", go_duration(task.retention) if task.retention is not None else "-")
    _field(out, "Completed at", _when(task.completed_at, now))
    _field(out, "Group", clean(task.group) if task.group else "-")
    _field(out, "Unique", "yes" if task.unique_key else "no")
    if task.headers:
        _field(out, "Headers", "")
        for key in sorted(task.headers):
            out.append(f"  {clean(key)}", style="cyan")
            out.append(f": {clean(task.headers[key])}\n")
    else:
        _field(out, "Headers", "-")
    _block(out, "Payload", bytes(task.payload))
    _block(out, "Result", task.result)
    return out


class TaskScreen(DashScreen):
    """Everything about one task; r/a/d/c act on it."""

    BINDINGS: ClassVar[list[BindingType]] = list(bindings.TASK)
    AUTO_FOCUS = "#task-box"

    def __init__(self, ctx: Context, queue: str, task_id: str, task: TaskInfo | None = None) -> None:
        super().__init__(ctx)
        self.queue = queue
        self.task_id = task_id
        self.task_info: TaskInfo | None = task
        self.missing = False

    def title_text(self) -> Text:
        """Name the task and its queue."""
        return Text.assemble("Queue ", (clean(self.queue), "bold"), " › Task ", (clean(self.task_id), "bold"))

    def compose_body(self) -> ComposeResult:
        """The task's fields in a scrollable box."""
        with VerticalScroll(id="task-box"):
            yield Static(Text("Loading…", style="dim"), id="task-info")

    def on_mount(self) -> None:
        """Show what the queue screen already knew."""
        self._draw()

    def data_request(self) -> Request:
        """This task."""
        return TaskRequest(self.queue, self.task_id)

    def on_task_fetched(self, message: TaskFetched) -> None:
        """Show the task, or that it is gone."""
        self.stamp()
        self.task_info = message.task
        self.missing = message.task is None
        self._draw()

    def _draw(self) -> None:
        info = self.query_one("#task-info", Static)
        if self.missing:
            info.update(Text(f'Task "{clean(self.task_id)}" no longer exists.', style="bold red"))
        elif self.task_info is not None:
            info.update(render_task(self.task_info, self.now()))

    def action_scroll(self, delta: int) -> None:
        """Scroll the fields by ``delta`` lines."""
        self.query_one("#task-box", VerticalScroll).scroll_relative(y=delta, animate=False)

    def action_task(self, kind: str) -> None:
        """Act on this task."""
        verb = ActionKind(kind)
        task = self.task_info
        if task is None:
            self.notify("The task is not loaded.", severity="warning", markup=False)
            return
        if verb is ActionKind.ENQUEUE_COPY and not self.ctx.can_enqueue:
            self.notify("Enqueueing needs a client; this dashboard was started without one.", markup=False)
            return
        reason = refusal(verb, task.state, whole_state=False)
        if reason is not None:
            self.notify(reason.capitalize() + ".", severity="warning", markup=False)
            return
        group = task.group if task.group else None
        self.request_action(Action(verb, self.queue, task.state, (task.id,), group=group, task=task))

    def after_action(self, done: ActionDone) -> None:
        """Go back once the task is deleted."""
        if done.action.kind is ActionKind.DELETE and done.changed and self.is_current:
            self.app.pop_screen()
