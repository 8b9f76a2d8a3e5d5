"""Commands on tasks by id: ``inspect``, ``retry``, ``kill``, ``delete``, ``cancel``; and ``--all STATE``.

Ids come from the arguments, and ``-`` reads one per line from stdin, so ``asynq-py ls retry --ids |
asynq-py kill -`` works. Without ``-q`` each id is looked up in every queue; an id found in several
queues is refused (exit 4) with their names. Several ids are handled one by one: a failure is
reported and the rest still run; the exit code is the first failure's.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from asynq_py.engine import BulkProgress, TaskState

from .context import JsonFlag, QueueFilter, QueueOption, YesFlag, get_state, stdin_is_terminal
from .errors import CliError, ExitCode, each
from .parse import read_ids
from .render import cell, emit_json, escape, fmt_duration, fmt_time, payload_text, progress
from .schema import task_record

if TYPE_CHECKING:
    from rich.table import Table

    from asynq_py.engine import Inspector, TaskInfo

__all__ = ["app"]

app = typer.Typer()

IdArgs = Annotated[
    list[str] | None,
    typer.Argument(metavar="ID...", help="Task ids; - reads one id per line from stdin.", show_default=False),
]


def _complete_all_state(ctx: typer.Context, incomplete: str) -> list[str]:
    """Offer only the states the command's ``--all`` accepts (``retry --all pending`` is refused)."""
    action = _ACTIONS.get(ctx.info_name or "")
    states = action.bulk_states if action else tuple(TaskState)
    return [s.value for s in states if s.value.startswith(incomplete.lower())]


AllOption = Annotated[
    TaskState | None,
    typer.Option(
        "--all",
        metavar="STATE",
        case_sensitive=False,
        help="Act on every task of STATE in the -q queues.",
        autocompletion=_complete_all_state,
    ),
]
GroupOption = Annotated[
    str | None,
    typer.Option("--group", "-g", metavar="GROUP", help="With --all aggregating: only this group."),
]
_PAYLOAD_SHOWN = 4000
"""Characters of payload or result ``inspect`` shows before cutting (``--json`` shows all)."""


@dataclass(frozen=True)
class _Action:
    """One of the actions on tasks, in the words of the product and of the engine."""

    verb: str
    """The command name, e.g. ``kill``."""
    done: str
    """How a finished action reads, e.g. ``archived``."""
    one: Callable[[Inspector, str, str], None]
    """Act on one task: (inspector, queue, id)."""
    bulk: Callable[[Inspector, str, TaskState, str | None, Callable[[BulkProgress], None]], int]
    """Act on every task of a state: (inspector, queue, state, group, progress) → how many."""
    bulk_states: tuple[TaskState, ...]
    """States ``--all`` accepts."""


_RETRY = _Action(
    "retry",
    "moved to pending",
    lambda i, q, t: i.run_task(q, t),
    lambda i, q, s, g, p: i.run_all_tasks(q, s, group=g, progress=p),
    (TaskState.SCHEDULED, TaskState.RETRY, TaskState.ARCHIVED, TaskState.AGGREGATING),
)
_KILL = _Action(
    "kill",
    "archived",
    lambda i, q, t: i.archive_task(q, t),
    lambda i, q, s, g, p: i.archive_all_tasks(q, s, group=g, progress=p),
    (TaskState.PENDING, TaskState.SCHEDULED, TaskState.RETRY, TaskState.AGGREGATING),
)
_DELETE = _Action(
    "delete",
    "deleted",
    lambda i, q, t: i.delete_task(q, t),
    lambda i, q, s, g, p: i.delete_all_tasks(q, s, group=g, progress=p),
    tuple(s for s in TaskState if s is not TaskState.ACTIVE),
)
_ACTIONS = {action.verb: action for action in (_RETRY, _KILL, _DELETE)}


def locate(inspector: Inspector, task_id: str, queue: str | None) -> TaskInfo:
    """Return the task ``task_id``, from ``queue`` or from the only queue holding it."""
    if queue:
        return inspector.get_task_info(queue, task_id)
    found = inspector.find_task(task_id)
    if not found:
        raise CliError(f"task {task_id} not found in any queue", ExitCode.NOT_FOUND)
    if len(found) > 1:
        names = ", ".join(sorted(info.queue for info in found))
        raise CliError(
            f"task id {task_id} is in several queues ({names}); choose one with -q", ExitCode.CONFLICT
        )
    return found[0]


def _each_id(ctx: typer.Context, ids: list[str] | None, work: Callable[[Inspector, str], None]) -> None:
    """Run ``work`` for every id given (``-`` reads stdin) with one inspector."""
    state = get_state(ctx)
    task_ids = read_ids(ids or (), sys.stdin)
    if not task_ids:
        raise CliError("no task ids given; pass ids, or - to read them from stdin")
    with state.inspector() as inspector:
        each(task_ids, lambda task_id: work(inspector, task_id), subject="task")


def _one_queue(queues: list[str] | None) -> str | None:
    if queues and len(queues) > 1:
        raise CliError("give one -q QUEUE with task ids (several are for --all)")
    return queues[0] if queues else None


def _run(
    ctx: typer.Context,
    action: _Action,
    ids: list[str] | None,
    queues: list[str] | None,
    all_state: TaskState | None,
    group: str | None,
    yes: bool,
) -> None:
    if all_state is not None:
        if ids:
            raise CliError(f"give task ids or --all STATE to {action.verb}, not both")
        _run_all(ctx, action, all_state, queues or [], group, yes)
        return
    if group is not None:
        raise CliError("--group goes with --all aggregating")
    queue = _one_queue(queues)
    state = get_state(ctx)

    def work(inspector: Inspector, task_id: str) -> None:
        q = queue or locate(inspector, task_id, None).queue
        action.one(inspector, q, task_id)
        state.note(f"task {task_id} (queue {q}) {action.done}")

    _each_id(ctx, ids, work)


def _run_all(
    ctx: typer.Context,
    action: _Action,
    task_state: TaskState,
    queues: list[str],
    group: str | None,
    yes: bool,
) -> None:
    state = get_state(ctx)
    if not queues:
        raise CliError(f"--all needs the queue: {action.verb} --all {task_state} -q QUEUE")
    if task_state not in action.bulk_states:
        allowed = ", ".join(action.bulk_states)
        raise CliError(f"{action.verb} --all takes {allowed}; not {task_state}")
    if group is not None and task_state is not TaskState.AGGREGATING:
        raise CliError("--group goes with --all aggregating")
    with state.inspector() as inspector:
        targets: list[tuple[str, str | None, int]] = []
        for q in queues:
            if task_state is TaskState.AGGREGATING:
                sizes = {g.group: g.size for g in inspector.groups(q)}
                targets += [(q, g, n) for g, n in sorted(sizes.items()) if group in (None, g)]
            else:
                targets.append((q, None, getattr(inspector.get_queue_info(q), task_state.value)))
        total = sum(n for _, _, n in targets)
        where = ", ".join(dict.fromkeys(q for q, _, _ in targets)) or ", ".join(queues)
        if total == 0:
            state.note(f"no {task_state} tasks in {where}")
            return
        if stdin_is_terminal() and not yes:
            question = f"{action.verb} all {total} {task_state} tasks in {where}?"
            if not typer.confirm(escape(question), default=False, err=True):
                raise typer.Abort()
        with progress(state.err, f"{action.verb} {task_state}", total) as advance:
            for q, g, _ in targets:
                _bulk_one(state.note, action, inspector, q, task_state, g, advance)


def _bulk_one(
    note: Callable[[str], None],
    action: _Action,
    inspector: Inspector,
    queue: str,
    task_state: TaskState,
    group: str | None,
    advance: Callable[[int], None],
) -> None:
    """Run one queue's (or group's) bulk action, advancing the bar per chunk, and say what it did."""
    label = f"queue {queue}" + (f", group {group}" if group else "")
    last = BulkProgress(0, 0, 0)

    def on_chunk(p: BulkProgress) -> None:
        nonlocal last
        advance(p.done - last.done)
        last = p

    try:
        count = action.bulk(inspector, queue, task_state, group, on_chunk)
    except KeyboardInterrupt:
        note(
            f"interrupted: {last.done} {task_state} tasks {action.done} ({label}); the rest left as they were"
        )
        raise
    line = f"{count} {task_state} tasks {action.done} ({label})"
    if last.dropped:
        line += f"; the archive's size and age limits deleted {last.dropped} archived tasks"
    note(line)


@app.command(rich_help_panel="Tasks")
def inspect(
    ctx: typer.Context, ids: IdArgs = None, queue: QueueOption = None, json_: JsonFlag = False
) -> None:
    """Show everything about tasks, by id."""
    state = get_state(ctx)
    as_json = state.use_json(json_)
    shown = 0

    def work(inspector: Inspector, task_id: str) -> None:
        nonlocal shown
        info = locate(inspector, task_id, queue)
        if as_json:
            emit_json(task_record(info))
        else:
            if shown:
                state.out.print()
            state.out.print(_details(info, datetime.now(UTC)))
        shown += 1

    _each_id(ctx, ids, work)


def _details(info: TaskInfo, now: datetime) -> Table:
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    payload = bytes(info.payload)
    rows: list[tuple[str, object]] = [
        ("ID", info.id),
        ("Queue", info.queue),
        ("Type", info.type),
        ("State", str(info.state) + (" (orphaned: its worker's lease expired)" if info.is_orphaned else "")),
        ("Payload", f"{payload_text(payload, _PAYLOAD_SHOWN)}  ({len(payload)} bytes)" if payload else None),
        ("Headers", ", ".join(f"{k}={v}" for k, v in sorted(info.headers.items())) or None),
        ("Retried", f"{info.retried} of {info.max_retry}"),
        ("Last error", info.last_error or None),
        ("Last failed", fmt_time(info.last_failed_at, now) if info.last_failed_at else None),
        ("Timeout", fmt_duration(info.timeout.total_seconds()) if info.timeout else None),
        ("Deadline", fmt_time(info.deadline, now) if info.deadline else None),
        ("Group", info.group or None),
        ("Next run", fmt_time(info.next_process_at, now) if info.next_process_at else None),
        ("Retention", fmt_duration(info.retention.total_seconds()) if info.retention else None),
        ("Completed", fmt_time(info.completed_at, now) if info.completed_at else None),
        ("Result", payload_text(info.result, _PAYLOAD_SHOWN) if info.result else None),
    ]
    for name, value in rows:
        grid.add_row(cell(name), cell(value))
    return grid


@app.command(rich_help_panel="Tasks")
def retry(
    ctx: typer.Context,
    ids: IdArgs = None,
    queue: QueueFilter = None,
    all_state: AllOption = None,
    group: GroupOption = None,
    yes: YesFlag = False,
) -> None:
    """Move tasks to pending so they run now (--all: scheduled, retry, archived or aggregating)."""
    _run(ctx, _RETRY, ids, queue, all_state, group, yes)


@app.command(rich_help_panel="Tasks")
def kill(
    ctx: typer.Context,
    ids: IdArgs = None,
    queue: QueueFilter = None,
    all_state: AllOption = None,
    group: GroupOption = None,
    yes: YesFlag = False,
) -> None:
    """Archive tasks so they never run unless retried (--all: pending, scheduled, retry or aggregating)."""
    _run(ctx, _KILL, ids, queue, all_state, group, yes)


@app.command(rich_help_panel="Tasks")
def delete(
    ctx: typer.Context,
    ids: IdArgs = None,
    queue: QueueFilter = None,
    all_state: AllOption = None,
    group: GroupOption = None,
    yes: YesFlag = False,
) -> None:
    """Delete tasks for good (--all: any state but active)."""
    _run(ctx, _DELETE, ids, queue, all_state, group, yes)


@app.command(rich_help_panel="Tasks")
def cancel(ctx: typer.Context, ids: IdArgs = None, queue: QueueOption = None) -> None:
    """Ask the workers running these active tasks to stop them (best effort)."""
    state = get_state(ctx)

    def work(inspector: Inspector, task_id: str) -> None:
        info = locate(inspector, task_id, queue)
        if info.state is not TaskState.ACTIVE:
            raise CliError(
                f"task {task_id} is {info.state}, not active; only active tasks can be cancelled",
                ExitCode.CONFLICT,
            )
        inspector.cancel_processing(task_id)
        state.note(f"cancellation sent for task {task_id} (queue {info.queue})")

    _each_id(ctx, ids, work)
