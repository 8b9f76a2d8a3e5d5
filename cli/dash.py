"""``asynq-py dash``: the terminal dashboard (the one place the CLI reaches the TUI, lazily)."""

from __future__ import annotations

from typing import Annotated

import typer

from .context import get_state
from .errors import CliError, ExitCode
from .parse import duration_option

__all__ = ["app"]

app = typer.Typer()


@app.command()
def dash(
    ctx: typer.Context,
    refresh: Annotated[str, typer.Option(metavar="DURATION", help="How often the screens refresh.")] = "2s",
) -> None:
    """Open the live dashboard: queues, tasks, servers, history and schedules, with actions."""
    interval = duration_option(refresh).total_seconds()
    if interval < 0.1:
        raise typer.BadParameter("must be at least 100ms", param_hint="--refresh")
    opt = get_state(ctx).settings.conn_opt()
    if opt is None:
        raise CliError("no Redis to show", ExitCode.UNAVAILABLE)
    from asynq_py.engine import AsyncClient, AsyncInspector
    from asynq_py.tui import run_dashboard  # lazy: only this command loads Textual

    raise typer.Exit(run_dashboard(AsyncInspector(opt), AsyncClient(opt), refresh_s=interval))
