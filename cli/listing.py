"""``asynq-py ls STATE``: list tasks of one state, in one, several or every queue.

Without ``--page`` the lists are read page after page until ``--limit`` tasks (default 30) matched,
or to the end with ``--all``; with ``--page N`` exactly that page (``--size`` tasks) of each queue is
read, as Go's ``asynq task ls`` does. ``--type`` keeps the tasks whose type starts with a prefix.
Lists are read while servers change them, so a task may be missed or seen twice across pages.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import islice
from typing import TYPE_CHECKING, Annotated

import typer

from asynq_py.engine import TaskState

from .context import JsonFlag, QueueFilter, StateArg, get_state
from .errors import CliError
from .render import cell, emit, emit_json, escape, new_table, payload_text, relative
from .schema import task_record

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from asynq_py.engine import Inspector, TaskInfo

__all__ = ["app"]

app = typer.Typer()

DEFAULT_LIMIT = 30
"""Tasks shown without ``--limit`` or ``--all`` (Go's page size)."""
_FETCH = 500
"""Tasks read per round trip when paging on our own."""

Row = list["Text"]

_COLUMNS: dict[TaskState, tuple[str, ...]] = {
    TaskState.PENDING: (),
    TaskState.ACTIVE: (),
    TaskState.SCHEDULED: ("Process In",),
    TaskState.RETRY: ("Next Retry", "Last Error", "Last Failed", "Retried", "Max Retry"),
    TaskState.ARCHIVED: ("Last Failed", "Last Error"),
    TaskState.COMPLETED: ("Completed", "Result"),
    TaskState.AGGREGATING: ("Group",),
}
"""Columns after ID, Queue and Type, per state (Go's ``asynq task ls``); Payload comes last."""


def _extra(info: TaskInfo, now: datetime) -> list[object]:
    state = info.state
    if state is TaskState.SCHEDULED:
        return [relative(info.next_process_at, now)]
    if state is TaskState.RETRY:
        failed = relative(info.last_failed_at, now)
        return [relative(info.next_process_at, now), info.last_error, failed, info.retried, info.max_retry]
    if state is TaskState.ARCHIVED:
        return [relative(info.last_failed_at, now), info.last_error]
    if state is TaskState.COMPLETED:
        return [relative(info.completed_at, now), payload_text(info.result)]
    if state is TaskState.AGGREGATING:
        return [info.group]
    return []


def _row(info: TaskInfo, now: datetime) -> Row:
    if info.decode_error:
        blanks = [cell(None)] * len(_COLUMNS[info.state])
        raw = f"{info.raw_size} bytes that do not decode: {info.decode_error}"
        return [cell(info.id), cell(info.queue), cell("(undecodable)"), *blanks, cell(raw)]
    orphan = " (orphaned)" if info.is_orphaned else ""
    cells = [cell(info.id + orphan), cell(info.queue), cell(info.type)]
    cells += [cell(value) for value in _extra(info, now)]
    cells.append(cell(payload_text(bytes(info.payload))))
    return cells


def iter_tasks(
    inspector: Inspector,
    queues: list[str],
    state: TaskState,
    *,
    group: str | None,
    page: int | None,
    size: int,
) -> Iterator[TaskInfo]:
    """Yield the tasks of ``state`` in ``queues`` (every group of a queue for aggregating)."""
    for queue in queues:
        if state is TaskState.AGGREGATING and group is None:
            groups: list[str | None] = [g.group for g in inspector.groups(queue)]
        else:
            groups = [group]
        for g in groups:
            if page is not None:
                yield from inspector.list_tasks(queue, state, group=g, page=page, page_size=size)
                continue
            number = 1
            while True:
                batch = inspector.list_tasks(queue, state, group=g, page=number, page_size=_FETCH)
                yield from batch
                if len(batch) < _FETCH:
                    break
                number += 1


@app.command("ls", rich_help_panel="Tasks")
def ls(
    ctx: typer.Context,
    task_state: StateArg,
    queue: QueueFilter = None,
    type_prefix: Annotated[
        str | None,
        typer.Option("--type", "-t", metavar="PREFIX", help="Only tasks whose type starts with PREFIX."),
    ] = None,
    group: Annotated[
        str | None, typer.Option("--group", "-g", metavar="GROUP", help="Aggregating tasks: only this group.")
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit", "-n", min=1, metavar="N", help=f"Show at most N tasks (default {DEFAULT_LIMIT})."
        ),
    ] = None,
    all_: Annotated[bool, typer.Option("--all", "-a", help="Show every task (no limit).")] = False,
    page: Annotated[
        int | None,
        typer.Option("--page", min=1, metavar="N", help="Read only page N of each queue (1-based)."),
    ] = None,
    size: Annotated[
        int, typer.Option("--size", min=1, max=10_000, metavar="N", help="Page size for --page.")
    ] = 30,
    json_: JsonFlag = False,
    ids: Annotated[bool, typer.Option("--ids", help="Print only task ids, one per line.")] = False,
) -> None:
    """List tasks in a state: pending, active, scheduled, retry, archived, completed or aggregating."""
    state = get_state(ctx)
    if limit is not None and all_:
        raise CliError("give --limit or --all, not both")
    if ids and state.use_json(json_):
        raise CliError("give --json or --ids, not both")
    if group is not None and task_state is not TaskState.AGGREGATING:
        raise CliError("--group goes with the aggregating state")
    cap = None if all_ else (limit or DEFAULT_LIMIT)
    now = datetime.now(UTC)
    with state.inspector() as inspector:
        names = queue or inspector.queues()
        found = iter_tasks(
            inspector, list(dict.fromkeys(names)), task_state, group=group, page=page, size=size
        )
        if type_prefix:
            prefix = type_prefix
            found = (info for info in found if info.type.startswith(prefix))
        shown = _print(state.out, found, cap, task_state, now, as_json=state.use_json(json_), ids_only=ids)
        more = cap is not None and shown == cap and next(found, None) is not None
    if more:
        state.note(f"showing the first {cap} {task_state} tasks; use --limit N or --all for more")
    elif shown == 0:
        state.note(f"no {task_state} tasks")


def _print(
    console: Console,
    found: Iterator[TaskInfo],
    cap: int | None,
    task_state: TaskState,
    now: datetime,
    *,
    as_json: bool,
    ids_only: bool,
) -> int:
    """Print up to ``cap`` tasks; JSON and ids stream, a table prints at the end. Return how many."""
    columns = ("ID", "Queue", "Type", *_COLUMNS[task_state], "Payload")
    table = None if as_json or ids_only else new_table(columns, numeric=("Retried", "Max Retry"))
    shown = 0
    for info in islice(found, cap):
        if table is not None:
            table.add_row(*_row(info, now))
        elif as_json:
            emit_json(task_record(info))
        else:
            emit(escape(info.id))
        shown += 1
    if table is not None and shown:
        console.print(table)
    return shown
