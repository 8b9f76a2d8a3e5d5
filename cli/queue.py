"""Commands on queues: ``queues``, ``queue inspect|rm``, ``pause``, ``unpause``, ``groups``, ``history``."""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING, Annotated

import typer

from asynq_py.engine import QueueNotFoundError, TaskStateError

from .context import JsonFlag, QueueArgs, get_state
from .errors import CliError, ExitCode, each, warn
from .render import bar, cell, emit_json, error_rate, fmt_bytes, fmt_duration, new_table
from .schema import daily_record, group_record, queue_record

if TYPE_CHECKING:
    from rich.table import Table

    from asynq_py.engine import Inspector, QueueInfo

__all__ = ["app", "queue_infos", "queue_table"]

app = typer.Typer()
queue_app = typer.Typer(help="Inspect or remove queues.", no_args_is_help=True)
app.add_typer(queue_app, name="queue", rich_help_panel="Queues")

_STATES = ("active", "pending", "aggregating", "scheduled", "retry", "archived", "completed")
_CHART_WIDTH = 30


def _rate(processed: int, failed: int) -> str:
    rate = error_rate(processed, failed)
    return "-" if rate is None else f"{rate:.2%}"


def queue_infos(inspector: Inspector) -> list[QueueInfo]:
    """Return the info of every queue, sorted by name (skipping any removed meanwhile)."""
    infos = []
    for name in inspector.queues():
        try:
            infos.append(inspector.get_queue_info(name))
        except QueueNotFoundError:
            continue  # removed since it was listed
    return infos


def queue_table(infos: list[QueueInfo]) -> Table:
    """Return the table of queues that ``queues`` and ``stats`` print."""
    columns = (
        *("Queue", "State", "Size", "Pending", "Aggregating", "Active", "Scheduled", "Retry", "Archived"),
        "Completed",
        *("Processed", "Failed", "Latency"),
    )
    table = new_table(columns, numeric=columns[2:])
    for q in infos:
        table.add_row(
            cell(q.queue),
            cell("paused", "yellow") if q.paused else cell("running"),
            *(
                cell(n)
                for n in (q.size, q.pending, q.aggregating, q.active, q.scheduled, q.retry, q.archived)
            ),
            cell(q.completed),
            cell(q.processed),
            cell(q.failed, "red" if q.failed else ""),
            cell(fmt_duration(q.latency.total_seconds())),
        )
    return table


@app.command(rich_help_panel="Queues")
def queues(ctx: typer.Context, json_: JsonFlag = False) -> None:
    """List queues with their task counts, today's processed and failed tasks, and latency."""
    state = get_state(ctx)
    with state.inspector() as inspector:
        infos = queue_infos(inspector)
    if state.use_json(json_):
        for info in infos:
            emit_json(queue_record(info))
    elif infos:
        state.out.print(queue_table(infos))
    else:
        state.note("no queues")


def _details(info: QueueInfo) -> Table:
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    today = info.timestamp.astimezone(UTC).date().isoformat()
    rate = _rate(info.processed, info.failed)
    rows: list[tuple[str, object]] = [
        ("Queue", info.queue),
        ("State", "paused" if info.paused else "running"),
        ("Size", f"{info.size} tasks" + (f" ({info.groups} groups)" if info.groups else "")),
        ("Latency", fmt_duration(info.latency.total_seconds())),
        ("Memory", fmt_bytes(info.memory_usage)),
        *((s.capitalize(), getattr(info, s)) for s in _STATES),
        (f"Today ({today} UTC)", f"{info.processed} processed, {info.failed} failed, error rate {rate}"),
        ("All time", f"{info.processed_total} processed, {info.failed_total} failed"),
    ]
    for name, value in rows:
        grid.add_row(cell(name), cell(value))
    return grid


@queue_app.command("inspect")
def inspect_queue(ctx: typer.Context, names: QueueArgs, json_: JsonFlag = False) -> None:
    """Show a queue's counts per state, latency, memory, and processed and failed tasks."""
    state = get_state(ctx)
    as_json = state.use_json(json_)
    shown = 0

    def show(name: str) -> None:
        nonlocal shown
        info = inspector.get_queue_info(name)
        if as_json:
            emit_json(queue_record(info))
            return
        if shown:
            state.out.print()
        state.out.print(_details(info))
        shown += 1

    with state.inspector() as inspector:
        each(dict.fromkeys(names), show, subject="queue")


@queue_app.command("rm")
def remove(
    ctx: typer.Context,
    names: QueueArgs,
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Remove it even if it holds tasks (not active ones).")
    ] = False,
) -> None:
    """Remove queues; a queue that holds tasks needs --force."""
    state = get_state(ctx)

    def remove_one(name: str) -> None:
        inspector.delete_queue(name, force=force)
        state.note(f"removed queue {name}")

    with state.inspector() as inspector:
        each(dict.fromkeys(names), remove_one, subject="queue")


def _toggle(ctx: typer.Context, names: list[str], *, pause: bool) -> None:
    state = get_state(ctx)
    word = "paused" if pause else "unpaused"

    unwoken: list[str] = []

    def toggle(name: str) -> None:
        if name not in known:
            raise CliError(f"queue {name!r} not found", ExitCode.NOT_FOUND)
        try:
            if pause:
                inspector.pause_queue(name)
            elif not inspector.unpause_queue(name):
                unwoken.append(name)
        except TaskStateError:
            state.note(f"queue {name} was already {word}")
            return
        state.note(f"{word} queue {name}")

    with state.inspector() as inspector:
        known = set(inspector.queues())
        try:
            each(dict.fromkeys(names), toggle, subject="queue")
        finally:
            if unwoken:
                warn(
                    "Redis denied publishing to the wake channel (asynq:wake:*), so idle asynq-py servers "
                    "take up the unpaused queues at their next poll instead of at once"
                )


@app.command(rich_help_panel="Queues")
def pause(ctx: typer.Context, names: QueueArgs) -> None:
    """Stop servers from taking tasks from queues (running tasks finish); already paused is fine."""
    _toggle(ctx, names, pause=True)


@app.command(rich_help_panel="Queues")
def unpause(ctx: typer.Context, names: QueueArgs) -> None:
    """Let servers take tasks from paused queues again."""
    _toggle(ctx, names, pause=False)


@app.command(rich_help_panel="Queues")
def groups(ctx: typer.Context, names: QueueArgs, json_: JsonFlag = False) -> None:
    """List the aggregation groups of queues and how many tasks each holds."""
    state = get_state(ctx)
    as_json = state.use_json(json_)
    table = new_table(("Queue", "Group", "Size"), numeric=("Size",))

    def list_groups(name: str) -> None:
        for info in inspector.groups(name):
            if as_json:
                emit_json(group_record(name, info))
            else:
                table.add_row(cell(name), cell(info.group), cell(info.size))

    with state.inspector() as inspector:
        listed = False
        try:
            each(dict.fromkeys(names), list_groups, subject="queue")
            listed = True
        finally:
            if table.row_count:
                state.out.print(table)
            elif listed and not as_json:  # after "queue not found", "no groups" would only confuse
                state.note("no groups")


@app.command(rich_help_panel="Queues")
def history(
    ctx: typer.Context,
    names: QueueArgs,
    days: Annotated[
        int, typer.Option("--days", "-d", min=1, max=365, metavar="N", help="How many days, today included.")
    ] = 7,
    json_: JsonFlag = False,
) -> None:
    """Show processed and failed tasks per UTC day (with a chart on a terminal)."""
    state = get_state(ctx)
    as_json = state.use_json(json_)
    chart = state.out.is_terminal and not as_json
    columns = ("Queue", "Date (UTC)", "Processed", "Failed", "Error Rate") + (("Chart",) if chart else ())
    table = new_table(columns, numeric=("Processed", "Failed", "Error Rate"))

    def one(name: str) -> None:
        stats = inspector.history(name, days)
        top = max((s.processed for s in stats), default=0)
        for s in stats:
            if as_json:
                emit_json(daily_record(s))
                continue
            row = [
                cell(name),
                cell(s.date.isoformat()),
                cell(s.processed),
                cell(s.failed),
                cell(_rate(s.processed, s.failed)),
            ]
            if chart:
                from rich.text import Text

                ok = bar(s.processed - s.failed, top, _CHART_WIDTH)
                bad = bar(s.failed, top, _CHART_WIDTH, char="▒")
                row.append(Text.assemble((ok, "green"), (bad, "red")))
            table.add_row(*row)

    with state.inspector() as inspector:
        try:
            each(dict.fromkeys(names), one, subject="queue")
        finally:
            if table.row_count:
                state.out.print(table)
