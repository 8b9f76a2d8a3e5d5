"""``limit set|ls|rm``: flow-control limits of queues and task types (docs/flow-control.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from asynq_py.engine import next_start_text

from .complete import complete_queue
from .context import JsonFlag, QueueFilter, get_state
from .errors import warn
from .render import cell, emit_json, new_table
from .schema import limits_record

if TYPE_CHECKING:
    from rich.table import Table

    from asynq_py.engine import Limit, LimitsInfo

__all__ = ["app", "describe", "limits_table"]

app = typer.Typer()
limit_app = typer.Typer(
    help="Limit how many tasks of a queue (or of a task type in it) run at once or start per second, "
    "minute or hour, across every asynq-py server.",
    no_args_is_help=True,
)
app.add_typer(limit_app, name="limit", rich_help_panel="Queues")

QueueArg = Annotated[str, typer.Argument(metavar="QUEUE", help="Queue name.", autocompletion=complete_queue)]
TypeOption = Annotated[
    str | None,
    typer.Option(
        "--type", "-t", metavar="TYPE", help="Only this task type in the queue.", show_default=False
    ),
]


def describe(limit: Limit) -> str:
    """Return a limit in words: ``concurrency 2, rate 100/m (burst 5)`` or ``none``."""
    parts = []
    if limit.concurrency is not None:
        parts.append(f"concurrency {limit.concurrency}")
    if limit.rate is not None:
        burst = f" (burst {limit.rate.burst})" if limit.rate.burst > 1 else ""
        parts.append(f"rate {limit.rate}{burst}")
    return ", ".join(parts) or "none"


@limit_app.command("set")
def set_limit(
    ctx: typer.Context,
    queue: QueueArg,
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency", "-c", metavar="N", help="At most N tasks active at once.", show_default=False
        ),
    ] = None,
    rate: Annotated[
        str | None,
        typer.Option(
            "--rate",
            "-r",
            metavar="N/s|N/m|N/h",
            help="At most N task starts per second, minute or hour.",
            show_default=False,
        ),
    ] = None,
    burst: Annotated[
        int | None,
        typer.Option(
            "--burst",
            "-b",
            metavar="N",
            help="Let up to N starts go back to back (default 1).",
            show_default=False,
        ),
    ] = None,
    task_type: TypeOption = None,
) -> None:
    """Set or change a queue's limits, or a task type's with --type; parts not given are kept.

    Every asynq-py server applies the change at its next dequeue (within a second). Go asynq servers
    ignore limits: `limit ls` warns when one serves a limited queue.
    """
    state = get_state(ctx)
    with state.inspector() as inspector:
        limits = inspector.set_queue_limits(
            queue, task_type=task_type, concurrency=concurrency, rate=rate, burst=burst
        )
    part = limits.queue_limit if task_type is None else limits.for_type(task_type)
    subject = f"queue {queue}" if task_type is None else f"type {task_type} in queue {queue}"
    state.note(f"limited {subject}: {describe(part)}")


def _rate(limit: Limit) -> str | None:
    return None if limit.rate is None else limit.rate.text_with_burst()


def _next_start(ms: int | None) -> str | None:
    return None if ms is None else next_start_text(ms)


def _active(active: int | None, concurrency: int | None) -> str | None:
    if active is None:
        return None
    return str(active) if concurrency is None else f"{active}/{concurrency}"


def limits_table(infos: list[LimitsInfo]) -> Table:
    """Return the ``limit ls`` table: one row per queue, then one per limited or parked task type."""
    columns = (
        "Queue",
        "Type",
        "Active",
        "Rate",
        "Next start",
        "Parked",
        "Throttled today",
        "Throttled total",
    )
    table = new_table(
        columns, numeric=("Active", "Parked", "Throttled today", "Throttled total"), whole=("Queue", "Type")
    )
    for info in infos:
        own = info.limits.queue_limit
        table.add_row(
            cell(info.queue),
            cell(None),
            cell(_active(info.active, own.concurrency), _full(info.active, own.concurrency)),
            cell(_rate(own)),
            cell(_next_start(info.next_slot_in_ms)),
            cell(sum(t.parked for t in info.types)),
            cell(info.throttled),
            cell(info.throttled_total),
        )
        for t in info.types:
            table.add_row(
                cell(info.queue),
                cell(t.task_type),
                cell(_active(t.active, t.limit.concurrency), _full(t.active, t.limit.concurrency)),
                cell(_rate(t.limit)),
                cell(_next_start(t.next_slot_in_ms)),
                cell(t.parked),
                cell(None),
                cell(None),
            )
    return table


def _full(active: int | None, concurrency: int | None) -> str:
    return "yellow" if concurrency is not None and active is not None and active >= concurrency else ""


def _warn_unenforced(infos: list[LimitsInfo]) -> None:
    for info in infos:
        if info.limits.is_empty:
            continue
        for s in info.unenforced_by:
            warn(
                f"server {s.host}:{s.pid}:{s.id} serves limited queue {info.queue} without enforcing its "
                "limits (a Go asynq server, which does not know them)"
            )


@limit_app.command("ls")
def list_limits(ctx: typer.Context, queues: QueueFilter = None, json_: JsonFlag = False) -> None:
    """List every queue's limits with their use: active tasks against the concurrency limit, the rate
    and when it allows the next start, parked tasks per type, and tasks throttled by handlers.

    Warns on stderr when a Go asynq server, which ignores limits, serves a limited queue.
    """
    state = get_state(ctx)
    with state.inspector() as inspector:
        infos = inspector.list_queue_limits()
    if queues:
        infos = [i for i in infos if i.queue in queues]
    if state.use_json(json_):
        for info in infos:
            emit_json(limits_record(info))
    elif infos:
        state.out.print(limits_table(infos))
    else:
        state.note("no queues")
    _warn_unenforced(infos)


@limit_app.command("rm")
def remove_limit(ctx: typer.Context, queue: QueueArg, task_type: TypeOption = None) -> None:
    """Remove every limit of a queue, or only a task type's with --type."""
    state = get_state(ctx)
    with state.inspector() as inspector:
        inspector.remove_queue_limits(queue, task_type=task_type)
    state.note(
        f"removed the limits of queue {queue}"
        if task_type is None
        else f"removed the limit of type {task_type} in queue {queue}"
    )
