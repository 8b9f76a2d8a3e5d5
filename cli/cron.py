"""``asynq-py cron ls|history``: the periodic tasks published by running schedulers, Go's or ours.

``schedule`` manages asynq-py's own schedules file and joins it with the same published entries.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from .context import JsonFlag, get_state
from .errors import each
from .render import cell, emit_json, new_table, payload_text, relative
from .schema import cron_entry_record, cron_event_record

__all__ = ["app"]

app = typer.Typer()
cron_app = typer.Typer(help="List periodic tasks and what they enqueued.", no_args_is_help=True)
app.add_typer(cron_app, name="cron", rich_help_panel="Schedules")


@cron_app.command("ls")
def ls(ctx: typer.Context, json_: JsonFlag = False) -> None:
    """List the entries of every running scheduler, sorted by spec."""
    state = get_state(ctx)
    with state.inspector() as inspector:
        entries = sorted(inspector.scheduler_entries(), key=lambda e: (e.spec, e.id))
    if state.use_json(json_):
        for entry in entries:
            emit_json(cron_entry_record(entry))
        return
    if not entries:
        state.note("no scheduler entries")
        return
    now = datetime.now(UTC)
    table = new_table(("Entry ID", "Spec", "Type", "Payload", "Options", "Next", "Prev"))
    for e in entries:
        table.add_row(
            cell(e.id),
            cell(e.spec),
            cell(e.task_type),
            cell(payload_text(e.task_payload)),
            cell(", ".join(e.options)),
            cell(relative(e.next_run(now), now)),
            cell(relative(e.prev_enqueue_at, now, never="never")),
        )
    state.out.print(table)


@cron_app.command("history")
def history(
    ctx: typer.Context,
    entry_ids: Annotated[list[str], typer.Argument(metavar="ENTRY_ID", help="Scheduler entry ids.")],
    page: Annotated[int, typer.Option("--page", min=1, metavar="N", help="Page number (1-based).")] = 1,
    size: Annotated[
        int, typer.Option("--size", min=1, max=10_000, metavar="N", help="Events per page.")
    ] = 30,
    json_: JsonFlag = False,
) -> None:
    """List the tasks that scheduler entries enqueued, newest first."""
    state = get_state(ctx)
    as_json = state.use_json(json_)
    now = datetime.now(UTC)
    table = new_table(("Entry ID", "Task ID", "Enqueued"))

    def one(entry_id: str) -> None:
        for event in inspector.list_scheduler_enqueue_events(entry_id, page=page, page_size=size):
            if as_json:
                emit_json(cron_event_record(entry_id, event))
            else:
                table.add_row(cell(entry_id), cell(event.task_id), cell(relative(event.enqueued_at, now)))

    with state.inspector() as inspector:
        try:
            each(dict.fromkeys(entry_ids), one, subject="entry")
        finally:
            if table.row_count:
                state.out.print(table)
            elif not as_json:
                state.note("no enqueue events")
