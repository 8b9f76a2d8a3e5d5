"""Exit codes, and the one place where a failure becomes an exit code and one line on stderr.

Every command raises; nothing else in ``cli/`` prints an error or picks an exit code. The root
command group (``GuardedGroup``) catches what a command raises and calls ``classify``:

======  ===========  ==================================================================================
code    name         meaning
======  ===========  ==================================================================================
0       OK           success
1       ERROR        any other runtime error (a corrupt record in Redis, a declined confirmation, a bug)
2       USAGE        bad usage or input: unknown command or option, bad value, malformed JSON payload,
                     bad duration or time, unreadable or invalid config file
3       NOT_FOUND    no such task or queue, schedules file, entry in it, or limit to remove
4       CONFLICT     duplicate task (unique) or task id, an id found in several queues, or the state
                     forbids the operation (queue not empty, task active, task already in that state)
5       UNAVAILABLE  cannot reach or use Redis: refused connection, timeout, refused credentials, or
                     Redis answered with an error
130     INTERRUPTED  interrupted with Ctrl+C
141     BROKEN_PIPE  stdout was closed before all data was written (``| head``)
======  ===========  ==================================================================================

A traceback is printed only with ``--debug``; Typer's own pretty tracebacks are never reached.
"""

from __future__ import annotations

import os
import re
import sys
import traceback
from collections.abc import Callable, Iterable, Sequence
from enum import IntEnum
from functools import cache
from typing import TYPE_CHECKING, Any

import typer
from typer._click import Context as ClickContext  # Typer vendors Click; its parser raises these
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
from typer.core import TyperGroup

from .render import escape

if TYPE_CHECKING:
    from asynq_py.engine import AsynqError

__all__ = [
    "EXIT_CODES",
    "CliError",
    "ExitCode",
    "GuardedGroup",
    "classify",
    "each",
    "error_line",
    "note_line",
    "warn",
]


class ExitCode(IntEnum):
    """The exit codes of asynq-py; see the module docstring for what each means."""

    OK = 0
    ERROR = 1
    USAGE = 2
    NOT_FOUND = 3
    CONFLICT = 4
    UNAVAILABLE = 5
    INTERRUPTED = 130
    BROKEN_PIPE = 141


EXIT_CODES: tuple[tuple[ExitCode, str], ...] = (
    (ExitCode.OK, "success"),
    (ExitCode.ERROR, "any other runtime error (a corrupt record in Redis, a declined confirmation, a bug)"),
    (
        ExitCode.USAGE,
        "bad usage or input: unknown command or option, bad value, malformed JSON payload, bad duration "
        "or time, unreadable or invalid config file",
    ),
    (ExitCode.NOT_FOUND, "no such task or queue, schedules file, entry in it, or limit to remove"),
    (
        ExitCode.CONFLICT,
        "duplicate task (unique) or task id, an id found in several queues, or the state forbids the "
        "operation (queue not empty, task active, task already in that state)",
    ),
    (
        ExitCode.UNAVAILABLE,
        "cannot reach or use Redis: refused connection, timeout, refused credentials, an error reply, "
        "or a replicated enqueue that too few replicas acknowledged",
    ),
    (ExitCode.INTERRUPTED, "interrupted with Ctrl+C"),
    (ExitCode.BROKEN_PIPE, "stdout was closed before all data was written (e.g. by `head`)"),
)
"""Every exit code with its meaning, for ``--help`` and docs/cli.md."""


@cache
def _engine_codes() -> tuple[tuple[type[AsynqError], ExitCode], ...]:
    """Engine exception → exit code; the first matching row wins, so subclasses come first.

    The engine is imported here, once a command has failed, rather than when the command line
    starts: completing a command name or printing help must not load it.
    """
    from asynq_py.engine import (
        BrokerError,
        DecodeError,
        DuplicateTaskError,
        LimitNotFoundError,
        NotReplicatedError,
        QueueNotEmptyError,
        QueueNotFoundError,
        RedisUnavailableError,
        TaskIdConflictError,
        TaskNotFoundError,
        TaskStateError,
        ValidationError,
    )

    return (
        (RedisUnavailableError, ExitCode.UNAVAILABLE),
        (NotReplicatedError, ExitCode.UNAVAILABLE),
        (BrokerError, ExitCode.UNAVAILABLE),
        (ValidationError, ExitCode.USAGE),
        (QueueNotFoundError, ExitCode.NOT_FOUND),
        (TaskNotFoundError, ExitCode.NOT_FOUND),
        (LimitNotFoundError, ExitCode.NOT_FOUND),
        (DuplicateTaskError, ExitCode.CONFLICT),
        (TaskIdConflictError, ExitCode.CONFLICT),
        (QueueNotEmptyError, ExitCode.CONFLICT),
        (TaskStateError, ExitCode.CONFLICT),
        (DecodeError, ExitCode.ERROR),
    )


class CliError(Exception):
    """A failure the command line detects itself (bad input, an ambiguous id), with its exit code."""

    def __init__(self, message: str, code: ExitCode = ExitCode.USAGE) -> None:
        super().__init__(message)
        self.code = code
        """The exit code to end with."""


def _where(exc: AsynqError) -> str:
    return f" in queue {exc.queue!r}" if exc.queue else ""


def classify(exc: BaseException, *, redis_url: str | None = None) -> tuple[ExitCode, str]:
    """Return the exit code and the one-line message for ``exc``.

    Args:
        exc: What a command raised.
        redis_url: The (password-masked) Redis URL in use, named when Redis cannot be reached.
    """
    from asynq_py.engine import (
        AsynqError,
        BrokerError,
        DecodeError,
        DuplicateTaskError,
        NotReplicatedError,
        QueueNotEmptyError,
        RedisUnavailableError,
        TaskIdConflictError,
    )

    if isinstance(exc, CliError):
        return exc.code, str(exc)
    if isinstance(exc, AsynqError):
        code = next((c for kind, c in _engine_codes() if isinstance(exc, kind)), ExitCode.ERROR)
        message = str(exc)
        if isinstance(exc, DuplicateTaskError):
            message = f"task already exists: a unique task of this type and payload is held{_where(exc)}"
        elif isinstance(exc, TaskIdConflictError):
            message = f"task id {exc.task_id!r} is already used{_where(exc)}"
        elif isinstance(exc, QueueNotEmptyError) and exc.queue:
            message = f"{message}; 'asynq-py queue rm --force {exc.queue}' removes it with its tasks"
        elif isinstance(exc, NotReplicatedError):
            message = (
                f"task {exc.task_id!r} stored{_where(exc)} but only {exc.acked} of {exc.wanted} replicas "
                "acknowledged it: it may be lost if the master fails; enqueue it again with --id "
                f"{exc.task_id} (a conflict then means it survived)"
            )
        elif isinstance(exc, RedisUnavailableError):
            where = f" ({redis_url})" if redis_url else ""
            message = f"{message}{where}; set --redis or ASYNQ_REDIS_URL"
        elif isinstance(exc, BrokerError):
            message = f"Redis answered with an error: {message}"
        elif isinstance(exc, DecodeError):
            message = f"unreadable data in Redis: {message}"
        return code, message
    if isinstance(exc, KeyboardInterrupt):
        return ExitCode.INTERRUPTED, "interrupted"
    if isinstance(exc, BrokenPipeError):
        return ExitCode.BROKEN_PIPE, ""
    return ExitCode.ERROR, f"internal error: {type(exc).__name__}: {exc} (run with --debug for a traceback)"


def each(items: Iterable[str], work: Callable[[str], None], *, subject: str) -> None:
    """Run ``work`` on every item, report each failure as one line, and exit with the first failure's code.

    A Redis failure (``BrokerError``) stops at once: the remaining items would fail the same way.

    Args:
        items: Task ids or queue names.
        work: What to do with one item.
        subject: How to name an item in a message, e.g. ``task`` or ``queue``.
    """
    from asynq_py.engine import AsynqError, BrokerError

    first_failure: ExitCode | None = None
    for item in items:
        try:
            work(item)
        except BrokerError:
            raise
        except (CliError, AsynqError) as exc:
            code, message = classify(exc)
            named = re.search(rf"(?<![\w-]){re.escape(item)}(?![\w-])", message)
            error_line(message if named else f"{subject} {item}: {message}")
            first_failure = first_failure or code
    if first_failure is not None:
        raise typer.Exit(int(first_failure))


def error_line(message: str) -> None:
    """Write ``error: <message>`` to stderr as exactly one line, escaped."""
    _stderr_line(f"error: {_one_line(message)}")


def warn(message: str) -> None:
    """Write ``warning: <message>`` to stderr as exactly one line, escaped."""
    _stderr_line(f"warning: {_one_line(message)}")


def note_line(message: str) -> None:
    """Write ``message`` to stderr as it is, escaped (a note, not an error)."""
    _stderr_line(escape(message))


def _one_line(message: str) -> str:
    return escape(re.sub(r"\s*\n\s*", " ", message.strip()))


def _stderr_line(text: str) -> None:
    try:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass  # stderr is gone; there is nobody left to tell


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail on a closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass  # not a real file (tests): nothing will be flushed to a pipe


def _usage_message(exc: UsageError) -> str:
    # Typer prefixes converter errors with pydantic's wording; the option name says enough.
    message = exc.format_message().replace("Value error, ", "")
    hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
    return message + hint


class GuardedGroup(TyperGroup):
    """The root group: every failure ends as an exit code and one line on stderr, never a traceback."""

    def invoke(self, ctx: ClickContext) -> Any:
        """Run the command; turn what it raises into ``typer.Exit`` with the right code."""
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, ClickException):
            raise
        except (Exception, KeyboardInterrupt) as exc:
            obj = ctx.obj
            redis_url = getattr(obj, "display_url", None)
            code, message = classify(exc, redis_url=redis_url if isinstance(redis_url, str) else None)
            if ctx.params.get("debug") and (code is ExitCode.ERROR or exc.__cause__ is not None):
                traceback.print_exception(exc.__cause__ or exc, file=sys.stderr)
            if code is ExitCode.BROKEN_PIPE:
                _silence_stdout()
            elif message:
                error_line(message)
            raise typer.Exit(int(code)) from None

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        """Parse and run; print usage errors as one line and exit with a documented code."""
        try:
            result = super().main(
                args,
                prog_name,
                complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            )
            code = result if isinstance(result, int) and not isinstance(result, bool) else 0
        except NoArgsIsHelpError as exc:
            # Typer has already shown the help; Click would print it again in plain text.
            message = exc.format_message().strip()
            if message:
                sys.stderr.write(message + "\n")
            code = int(ExitCode.USAGE)
        except UsageError as exc:
            error_line(_usage_message(exc))
            code = int(ExitCode.USAGE)
        except ClickException as exc:
            error_line(exc.format_message())
            code = exc.exit_code
        except typer.Abort:
            error_line("aborted; nothing was changed")
            code = int(ExitCode.ERROR)
        try:
            sys.stdout.flush()  # now, not at interpreter exit, where a closed pipe would print a warning
        except BrokenPipeError:
            _silence_stdout()
            code = code or int(ExitCode.BROKEN_PIPE)
        if standalone_mode:
            sys.exit(code)
        return code
