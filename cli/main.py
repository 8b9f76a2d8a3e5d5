"""The root of the asynq-py command line: global options, ``--version``, and the command modules.

Each module in ``COMMAND_MODULES`` exposes a Typer ``app`` whose commands are merged into the root;
registering a new one (``serve``) is one more name in that tuple.
"""

from __future__ import annotations

import importlib
import os
from typing import Annotated, cast

import typer

from asynq_py.engine.settings import resolve

from .context import AppState
from .entry import version_line
from .errors import GuardedGroup, warn
from .render import make_console

__all__ = ["COMMAND_MODULES", "app"]

COMMAND_MODULES: tuple[str, ...] = (
    "enqueue",
    "tasks",
    "listing",
    "task",
    "queue",
    "server",
    "stats",
    "cron",
    "schedule",
    "serve",
    "metrics",
    "dash",
    "config",
    "embedded",
)
"""The command modules, in the order their commands appear in ``--help``."""

app = typer.Typer(
    name="asynq-py",
    cls=GuardedGroup,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Enqueue, inspect and fix asynq tasks (wire-compatible with Go asynq v0.26.0).",
    epilog="Exit codes: 0 ok, 1 error, 2 usage or bad input, 3 not found, 4 conflict, 5 Redis unavailable.",
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(version_line())
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    redis: Annotated[
        str | None,
        typer.Option(
            "--redis",
            metavar="URL",
            help="Redis URL (redis://, rediss://, redis-socket://, redis-sentinel://, redis-cluster://, "
            "or 'embedded'). Env: ASYNQ_REDIS_URL.",
            show_default=False,
        ),
    ] = None,
    password: Annotated[
        str | None,
        typer.Option(
            "--password",
            metavar="PASSWORD",
            help="Redis password; others can see it, so prefer env ASYNQ_REDIS_PASSWORD or the config file.",
            show_default=False,
        ),
    ] = None,
    config: Annotated[
        str | None,
        typer.Option(
            "--config", metavar="PATH", help="Config file (TOML). Env: ASYNQ_CONFIG.", show_default=False
        ),
    ] = None,
    json_: Annotated[
        bool, typer.Option("--json", help="Print JSON for every command that prints data.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="Print no notes on stderr, only errors.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Print a traceback on unexpected errors.")] = False,
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Enqueue, inspect and fix asynq tasks (wire-compatible with Go asynq v0.26.0)."""
    settings = resolve(redis=redis, password=password, config=config, env=os.environ)
    ctx.obj = AppState(
        settings=settings,
        json=json_,
        quiet=quiet,
        out=make_console(stderr=False),
        err=make_console(stderr=True),
    )
    if password:
        warn("--password is visible to other users; use ASYNQ_REDIS_PASSWORD or the config file instead")
    for message in settings.warnings:
        warn(message)


for _name in COMMAND_MODULES:
    app.add_typer(cast("typer.Typer", importlib.import_module(f".{_name}", __package__).app))
