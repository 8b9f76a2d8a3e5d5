"""The root of the asynq-py command line: global options, ``--version``, and the command modules.

Each command module exposes a Typer ``app`` whose commands join the root. ``COMMANDS`` names every
top-level command with its module, and the root loads a module only when one of its commands runs,
is completed or is listed by ``--help``: ``asynq-py ls`` never imports the other twelve modules nor
builds their commands. A new command is one more line in ``COMMANDS`` (a test checks the table
against the modules).
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Annotated, cast

import typer
import typer.main
from typer._click import Command as ClickCommand
from typer._click.shell_completion import CompletionItem
from typer.models import TyperInfo

from .entry import version_line
from .errors import GuardedGroup, warn

if TYPE_CHECKING:
    from typer._click import Command
    from typer._click import Context as ClickContext
    from typer.core import MarkupMode

__all__ = ["COMMANDS", "LazyRootGroup", "app"]

COMMANDS: dict[str, str] = {
    "enqueue": "enqueue",
    "tasks": "tasks",
    "ls": "listing",
    **dict.fromkeys(("inspect", "retry", "kill", "delete", "cancel"), "task"),
    **dict.fromkeys(("queues", "pause", "unpause", "groups", "history", "queue"), "queue"),
    "limit": "limit",
    "servers": "server",
    "stats": "stats",
    "cron": "cron",
    "scheduler": "schedule",
    "schedule": "schedule",
    "serve": "serve",
    "metrics": "metrics",
    "dash": "dash",
    "config": "config",
    "embedded": "embedded",
}
"""Every top-level command and the module (in ``cli/``) that defines it, in ``--help`` order."""

MARKUP_MODE: MarkupMode = "markdown"
"""How help texts are read, for the root and every command module."""


class LazyRootGroup(GuardedGroup):
    """The root group: it lists ``COMMANDS`` and builds a command module's commands on first use."""

    def list_commands(self, ctx: ClickContext) -> list[str]:
        """Return every top-level command name, in ``--help`` order, without loading any module."""
        return list(COMMANDS)

    def get_command(self, ctx: ClickContext, cmd_name: str) -> Command | None:
        """Return the command ``cmd_name``, importing and building its module's commands if needed."""
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module = importlib.import_module(f".{COMMANDS[cmd_name]}", __package__)
            built = typer.main.get_group_from_info(
                TyperInfo(cast("typer.Typer", module.app)),
                pretty_exceptions_short=True,
                suggest_commands=True,
                rich_markup_mode=MARKUP_MODE,
            )
            for name, command in built.commands.items():  # as add_typer without a name merges them
                self.add_command(command, name)
        return super().get_command(ctx, cmd_name)

    def shell_complete(self, ctx: ClickContext, incomplete: str) -> list[CompletionItem]:
        """Complete a command name (or a root option) without loading the command's module.

        Its help, which zsh and fish show next to the name, loads the module when it is read;
        bash shows no help, so completing ``asynq-py l`` there imports no command and no engine.
        """
        names = [_CommandName(self, ctx, name) for name in COMMANDS if name.startswith(incomplete)]
        return [*names, *ClickCommand.shell_complete(self, ctx, incomplete)]


class _CommandName(CompletionItem):
    """A command name offered to the shell, with its short help read on first use."""

    def __init__(self, group: LazyRootGroup, ctx: ClickContext, name: str) -> None:
        self._group, self._ctx = group, ctx
        super().__init__(name)

    @property
    def help(self) -> str | None:
        """The command's short help, as Typer shows it next to the name."""
        command = self._group.get_command(self._ctx, self.value)
        return None if command is None else command.get_short_help_str()

    @help.setter
    def help(self, value: str | None) -> None:
        pass  # CompletionItem's constructor sets None; the help is always the command's own


app = typer.Typer(
    name="asynq-py",
    cls=LazyRootGroup,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=MARKUP_MODE,
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
    # Imported when a command runs, not when one is completed or listed by --help.
    from asynq_py.engine.settings import resolve

    from .context import AppState

    settings = resolve(redis=redis, password=password, config=config, env=os.environ)
    ctx.obj = AppState(settings=settings, json=json_, quiet=quiet)
    if password:
        warn("--password is visible to other users; use ASYNQ_REDIS_PASSWORD or the config file instead")
    for message in settings.warnings:
        warn(message)
