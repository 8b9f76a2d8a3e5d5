"""What every command shares: the per-run state (settings, consoles, flags) and common options."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Annotated

import typer

from asynq_py.engine import TaskState

from .complete import complete_queue
from .errors import CliError, ExitCode, note_line
from .parse import duration_option
from .render import escape, make_console

if TYPE_CHECKING:
    from rich.console import Console

    from asynq_py.engine import Client, Inspector, RedisConnOpt
    from asynq_py.engine.settings import Settings

__all__ = [
    "AppState",
    "CountOption",
    "IntervalOption",
    "JsonFlag",
    "QueueArgs",
    "QueueFilter",
    "QueueOption",
    "StateArg",
    "WatchFlag",
    "YesFlag",
    "get_state",
    "stdin_is_terminal",
]


@dataclass
class AppState:
    """Everything one run of asynq-py needs besides its arguments; made by the root callback."""

    settings: Settings
    """The resolved settings."""
    json: bool
    """``--json`` was given before the command."""
    quiet: bool
    """``--quiet``: no notes on stderr (errors are still printed)."""

    @cached_property
    def out(self) -> Console:
        """Console on stdout (data), made on first use: a command printing no table never loads Rich."""
        return make_console(stderr=False)

    @cached_property
    def err(self) -> Console:
        """Console on stderr (progress bars, prompts), made on first use."""
        return make_console(stderr=True)

    @property
    def display_url(self) -> str:
        """The Redis in use, for messages (password masked)."""
        return self.settings.display_url

    def use_json(self, flag: bool) -> bool:
        """Return whether to print JSON: the command's ``--json`` or the global one."""
        return flag or self.json

    def _conn_opt(self) -> RedisConnOpt:
        opt = self.settings.conn_opt()
        if opt is None:  # only when start=False
            raise CliError("the embedded server is not running", ExitCode.UNAVAILABLE)
        return opt

    def inspector(self) -> Inspector:
        """Return an ``Inspector`` on the configured Redis (starting the embedded server if needed)."""
        from asynq_py.engine import Inspector

        return Inspector(self._conn_opt())

    def client(self) -> Client:
        """Return a ``Client`` on the configured Redis (starting the embedded server if needed)."""
        from asynq_py.engine import Client

        d = self.settings.durability
        return Client(
            self._conn_opt(),
            durability=d.durability,
            min_replicas=d.min_replicas,
            replication_timeout_s=d.replication_timeout_s,
        )

    def note(self, message: str) -> None:
        """Tell the person something on stderr, unless ``--quiet``."""
        if self.quiet:
            return
        if "err" not in self.__dict__:  # no console on stderr yet: a plain line, without loading Rich
            note_line(message)
            return
        from rich.text import Text  # through the console, which keeps a live progress bar below it

        self.err.print(Text(escape(message)), soft_wrap=True)


def get_state(ctx: typer.Context) -> AppState:
    """Return the state the root callback stored on the context."""
    state = ctx.find_root().obj
    if not isinstance(state, AppState):
        raise RuntimeError("asynq-py's root callback did not run")
    return state


def stdin_is_terminal() -> bool:
    """Return whether a person can answer a prompt on stdin."""
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


JsonFlag = Annotated[
    bool, typer.Option("--json", help="Print JSON: one record per line (see the schemas in docs/cli.md).")
]
YesFlag = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
QueueOption = Annotated[
    str | None,
    typer.Option(
        "--queue",
        "-q",
        metavar="QUEUE",
        help="The task's queue; without it every queue is searched.",
        autocompletion=complete_queue,
    ),
]
QueueFilter = Annotated[
    list[str] | None,
    typer.Option(
        "--queue",
        "-q",
        metavar="QUEUE",
        help="Only this queue (repeat for more); default every queue.",
        autocompletion=complete_queue,
    ),
]
QueueArgs = Annotated[
    list[str], typer.Argument(metavar="QUEUE...", help="Queue names.", autocompletion=complete_queue)
]
StateArg = Annotated[
    TaskState,
    typer.Argument(
        metavar="STATE",
        help="pending, active, scheduled, retry, archived, completed or aggregating.",
        case_sensitive=False,
        show_default=False,
    ),
]
WatchFlag = Annotated[bool, typer.Option("--watch", "-w", help="Refresh until Ctrl+C.")]
IntervalOption = Annotated[
    timedelta,
    typer.Option(
        "--interval",
        parser=duration_option,
        metavar="DURATION",
        show_default="2s",
        help="Time between refreshes with --watch.",
    ),
]
CountOption = Annotated[
    int | None,
    typer.Option(
        "--count", min=1, metavar="N", help="With --watch: stop after N refreshes.", show_default=False
    ),
]
