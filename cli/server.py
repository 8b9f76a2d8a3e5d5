"""``asynq-py servers``: the worker servers with a live heartbeat, and (``--workers``) what they run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from .context import CountOption, IntervalOption, JsonFlag, QueueFilter, WatchFlag, get_state
from .errors import CliError, ExitCode
from .render import cell, emit_json, new_table, payload_text, relative, watch
from .schema import server_record

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.table import Table

    from asynq_py.engine import ServerInfo

__all__ = ["app", "check_served", "last_heartbeat"]

app = typer.Typer()


def last_heartbeat(server: ServerInfo) -> datetime | None:
    """Return when the server last beat."""
    return server.last_heartbeat


def _queues(server: ServerInfo) -> str:
    ordered = sorted(server.queues.items(), key=lambda item: (-item[1], item[0]))
    return " ".join(f"{name}:{priority}" for name, priority in ordered)


def _server_table(servers: list[ServerInfo], now: datetime) -> Table:
    columns = ("Host", "PID", "Status", "Workers", "Queues", "Started", "Heartbeat")
    table = new_table(columns, numeric=("PID", "Workers"))
    for s in servers:
        table.add_row(
            cell(s.host),
            cell(s.pid),
            cell(s.status, "green" if s.status == "active" else "yellow"),
            cell(f"{len(s.active_workers)}/{s.concurrency}"),
            cell(_queues(s) + (" (strict)" if s.strict_priority else "")),
            cell(relative(s.started, now)),
            cell(relative(last_heartbeat(s), now)),
        )
    return table


def _worker_table(servers: list[ServerInfo], now: datetime) -> Table:
    table = new_table(("Server", "Task ID", "Type", "Queue", "Started", "Deadline", "Payload"))
    for s in servers:
        for w in s.active_workers:
            table.add_row(
                cell(f"{s.host}:{s.pid}"),
                cell(w.task_id),
                cell(w.task_type),
                cell(w.queue),
                cell(relative(w.started, now)),
                cell(relative(w.deadline, now)),
                cell(payload_text(w.task_payload)),
            )
    return table


def check_served(found: list[ServerInfo], queues: list[str]) -> None:
    """Raise ``CliError`` (not found) unless an active server serves each of ``queues`` (or any exists)."""
    active = [s for s in found if s.status == "active"]
    if not queues and not active:
        raise CliError("no active server with a live heartbeat", ExitCode.NOT_FOUND)
    for name in queues:
        if not any(name in s.queues for s in active):
            raise CliError(
                f"no active server with a live heartbeat serves queue {name!r}", ExitCode.NOT_FOUND
            )


@app.command(rich_help_panel="Servers")
def servers(
    ctx: typer.Context,
    workers: Annotated[bool, typer.Option("--workers", help="Also list the task each worker runs.")] = False,
    watch_: WatchFlag = False,
    interval: IntervalOption = timedelta(seconds=2),
    count: CountOption = None,
    json_: JsonFlag = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Print nothing; exit 3 unless an active server with a live heartbeat serves each --queue "
            "(or, without --queue, unless one exists). For cron and Nagios-style checks.",
        ),
    ] = False,
    queue: QueueFilter = None,
) -> None:
    """List the servers with a live heartbeat: host, pid, status, busy workers, queues, age."""
    state = get_state(ctx)
    if check:
        with state.inspector() as inspector:
            check_served(inspector.servers(), queue or [])
        return
    as_json = state.use_json(json_)

    def draw() -> RenderableType | None:
        found = inspector.servers()
        now = datetime.now(UTC)
        if as_json:
            for s in found:
                emit_json(server_record(s, last_heartbeat(s)))
            return None
        if not found:
            if watch_ and state.out.is_terminal:
                return cell("no servers with a live heartbeat")
            state.note("no servers with a live heartbeat")
            return None
        parts: list[RenderableType] = [_server_table(found, now)]
        if workers:
            parts.append(
                _worker_table(found, now)
                if any(s.active_workers for s in found)
                else cell("no active workers")
            )
        from rich.console import Group

        return Group(*parts)

    with state.inspector() as inspector:
        watch(state.out, draw, interval_s=interval.total_seconds(), count=count if watch_ else 1)
