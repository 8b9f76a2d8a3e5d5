"""``asynq-py serve APP``: run a worker for a ``ServeMux`` or handler found by import path or file.

With ``--schedules FILE`` the process also runs a scheduler for that schedules file (see ``schedule``)
on a background thread: it starts before the worker and stops after it.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import sys
import traceback
from collections.abc import Callable
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from asynq_py.engine import Handler, RedisConnOpt, ServeMux, ServerConfig
from asynq_py.engine.eventloop import EVENT_LOOPS, loop_factory
from asynq_py.engine.settings import Settings, url_has_password

from .context import AppState, get_state
from .errors import CliError, ExitCode
from .logfmt import LOG_FORMATS, configure_logging
from .parse import duration_option
from .schedfile import periodic_manager, start_scheduler

if TYPE_CHECKING:
    from asynq_py.engine import Server

    from .httpd import Route

__all__ = [
    "DEFAULT_SYNC_INTERVAL",
    "LOG_LEVELS",
    "LogFormatOption",
    "app",
    "check_log_level",
    "load_app",
    "log_format",
    "notes",
    "parse_queues",
    "resolve_loop",
]

app = typer.Typer()

LOG_LEVELS = ("debug", "info", "warning", "error")
DEFAULT_SYNC_INTERVAL = timedelta(minutes=3)
"""How often a scheduler rereads its schedules file by default (Go's PeriodicTaskManager: 3 min)."""


def check_log_level(level: str) -> str:
    """Return ``level`` in lower case, or raise ``BadParameter`` naming ``--log-level``."""
    if level.lower() not in LOG_LEVELS:
        raise typer.BadParameter(f"must be one of {', '.join(LOG_LEVELS)}", param_hint="--log-level")
    return level.lower()


def resolve_loop(flag: str | None, default: str) -> str:
    """Return the event loop that ``--loop`` names (``default`` without it), in lower case.

    Raises:
        typer.BadParameter: not one of ``auto``, ``asyncio`` and ``uvloop``.
        ValidationError: ``uvloop``, where it cannot be imported (so nothing starts).
    """
    name = default if flag is None else flag.lower()
    if name not in EVENT_LOOPS:
        raise typer.BadParameter(f"must be one of {', '.join(EVENT_LOOPS)}", param_hint="--loop")
    loop_factory(name)
    return name


LogFormatOption = Annotated[
    str | None,
    typer.Option(
        "--log-format",
        metavar="FORMAT",
        help="text or json (one JSON object a line); default: log_format in the config file, else text.",
        show_default=False,
    ),
]


def log_format(flag: str | None, state: AppState) -> str:
    """Return the log format from ``--log-format``, else the config file; raise ``BadParameter``."""
    if flag is None:
        return state.settings.log_format
    if flag.lower() not in LOG_FORMATS:
        raise typer.BadParameter(f"must be one of {', '.join(LOG_FORMATS)}", param_hint="--log-format")
    return flag.lower()


def notes(state: AppState, fmt: str) -> Callable[[str], None]:
    """Return how a long-running command tells the person things: notes, or log records in JSON
    mode (so that every line of stderr parses)."""
    return state.note if fmt == "text" else logging.getLogger("asynq_py.cli").info


def parse_queues(text: str) -> dict[str, int]:
    """Parse ``critical=6,default=3`` (a bare name means priority 1)."""
    queues: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, weight = item.partition("=")
        try:
            priority = int(weight) if sep else 1
        except ValueError:
            raise typer.BadParameter(
                f"priority of queue {name!r} must be a whole number, got {weight!r}"
            ) from None
        if priority < 1:
            raise typer.BadParameter(f"priority of queue {name!r} must be at least 1")
        queues[name] = priority
    if not queues:
        raise typer.BadParameter("give at least one queue, e.g. critical=6,default=3")
    return queues


def _user_code_error(exc: BaseException) -> CliError:
    """Return ``file:line: Kind: message`` for an exception raised while importing the user's code."""
    if isinstance(exc, SyntaxError) and exc.filename:
        where = f"{exc.filename}:{exc.lineno}"
        message = f"{where}: {type(exc).__name__}: {exc.msg}"
    else:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith("<frozen")]
        where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
        message = f"{where}: {type(exc).__name__}: {exc}"
    return CliError(f"{message} (--debug shows the traceback)", ExitCode.USAGE)


def load_app(spec: str) -> Any:
    """Import ``module:attribute`` or ``path/to/file.py:attribute`` and return the attribute."""
    target, sep, attribute = spec.rpartition(":")
    if not sep or not target or not attribute:
        raise CliError(
            f"APP must look like module:attribute or file.py:attribute, got {spec!r}", ExitCode.USAGE
        )
    try:
        if target.endswith(".py") or "/" in target:
            path = Path(target).resolve()
            if not path.is_file():
                raise CliError(f"no such file: {target}", ExitCode.NOT_FOUND)
            module_spec = importlib.util.spec_from_file_location(path.stem, path)
            if module_spec is None or module_spec.loader is None:
                raise CliError(f"cannot load {target}", ExitCode.USAGE)
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[path.stem] = module
            module_spec.loader.exec_module(module)
        else:
            sys.path.insert(0, str(Path.cwd()))
            module = importlib.import_module(target)
    except CliError:
        raise
    except ModuleNotFoundError as exc:
        if exc.name is None or not target.startswith(exc.name):
            raise _user_code_error(exc) from exc  # the app imports something missing
        raise CliError(f"cannot import {target!r}: {exc}", ExitCode.NOT_FOUND) from None
    except Exception as exc:  # the user's module failed while it was imported
        raise _user_code_error(exc) from exc
    try:
        found = getattr(module, attribute)
    except AttributeError:
        raise CliError(f"{target!r} has no attribute {attribute!r}", ExitCode.NOT_FOUND) from None
    if not (isinstance(found, ServeMux | Handler) or callable(found)):
        raise CliError(f"{spec} is not a ServeMux, a handler or a function", ExitCode.USAGE)
    return found


def _hide_password_from_argv(settings: Settings) -> None:
    """Run this command again with the ``--redis`` URL moved to the environment, if it holds a password.

    Every local user can read a process's arguments (``ps``), and forked workers inherit them; its
    environment only its owner. ``execve`` keeps the pid. Only a real command line is rewritten.
    """
    url = settings.redis_url
    if settings.redis_url_source != "--redis" or not url_has_password(url):
        return
    argv, skip = [], False
    for arg in sys.argv[1:]:
        if skip or arg == "--redis" or arg == f"--redis={url}":
            skip = arg == "--redis"
            continue
        argv.append(arg)
    if len(argv) == len(sys.argv) - 1:
        return  # not our command line (e.g. run in-process by a test runner)
    sys.stdout.flush()
    sys.stderr.flush()
    env = {**os.environ, "ASYNQ_REDIS_URL": url}
    os.execve(sys.executable, [sys.executable, "-m", "asynq_py.cli", *argv], env)  # noqa: S606 - our own argv


def _configured_app(settings: Settings) -> str:
    if settings.app is None:
        raise CliError(
            "no app to serve: give APP (module:attribute or file.py:attribute), set ASYNQ_APP, or put "
            f'app = "module:attribute" under [serve] in {settings.config_path} (asynq-py config init --app)',
            ExitCode.USAGE,
        )
    return settings.app


@app.command()
def serve(
    ctx: typer.Context,
    target: Annotated[
        str | None,
        typer.Argument(
            metavar="APP",
            help="module:attribute or file.py:attribute (a ServeMux or handler); default: env ASYNQ_APP, "
            "then app under [serve] in the config file.",
            show_default=False,
        ),
    ] = None,
    queues: Annotated[
        str,
        typer.Option(
            "--queues", "-q", metavar="QUEUES", help="Queues and priorities, e.g. critical=6,default=3."
        ),
    ] = "default=1",
    concurrency: Annotated[
        int | None, typer.Option(min=1, help="Tasks run at once per process (default: CPUs).")
    ] = None,
    processes: Annotated[int, typer.Option(min=1, help="Worker processes under one supervisor.")] = 1,
    strict: Annotated[bool, typer.Option("--strict", help="Serve queues in strict priority order.")] = False,
    shutdown_timeout: Annotated[
        str, typer.Option(metavar="DURATION", help="How long shutdown waits for running tasks.")
    ] = "8s",
    log_level: Annotated[str, typer.Option(metavar="LEVEL", help="debug, info, warning or error.")] = "info",
    log_format_: LogFormatOption = None,
    redis_wait: Annotated[
        timedelta | None,
        typer.Option(
            "--redis-wait",
            parser=duration_option,
            metavar="DURATION",
            help="Exit 5 if Redis stays unreachable this long at start (default: wait until it answers).",
            show_default=False,
        ),
    ] = None,
    schedules: Annotated[
        str | None,
        typer.Option(
            "--schedules",
            metavar="FILE",
            help="Also run a scheduler for this schedules file (see `schedule`), in this process.",
            show_default=False,
        ),
    ] = None,
    sync_interval: Annotated[
        timedelta,
        typer.Option(
            "--sync-interval",
            parser=duration_option,
            metavar="DURATION",
            show_default="3m",
            help="With --schedules: how often the file is reread.",
        ),
    ] = DEFAULT_SYNC_INTERVAL,
    metrics: Annotated[
        str | None,
        typer.Option(
            "--metrics",
            metavar="HOST:PORT",
            help="Serve the worker's Prometheus metrics at /metrics there (one endpoint for all "
            "--processes); needs asynq-py[metrics].",
            show_default=False,
        ),
    ] = None,
    health: Annotated[
        str | None,
        typer.Option(
            "--health",
            metavar="HOST:PORT",
            help="Serve /livez and /readyz probes there (for Kubernetes or systemd watchdogs).",
            show_default=False,
        ),
    ] = None,
    loop: Annotated[
        str | None,
        typer.Option(
            "--loop",
            metavar="LOOP",
            help="Event loop: asyncio, uvloop, or auto (uvloop where installed); default: loop under "
            "[serve] in the config file, else asyncio.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run a worker until SIGTERM or SIGINT (graceful shutdown); SIGTSTP stops fetching new tasks.

    With --schedules FILE the worker also runs a scheduler for FILE, as `asynq-py scheduler` does: it
    starts before the worker takes tasks and stops after the worker has shut down.
    """
    state = get_state(ctx)
    level = check_log_level(log_level)
    fmt = log_format(log_format_, state)
    parsed_queues = parse_queues(queues)
    metrics_at = None if metrics is None else _listen(metrics, "--metrics")
    health_at = None if health is None else _listen(health, "--health")
    timeout = duration_option(shutdown_timeout)
    event_loop = resolve_loop(loop, state.settings.loop)
    state.settings.check()
    _hide_password_from_argv(state.settings)
    handler = load_app(target or _configured_app(state.settings))
    configure_logging(level, fmt)
    note = notes(state, fmt)
    options: dict[str, Any] = {
        "queues": parsed_queues,
        "strict_priority": strict,
        "processes": processes,
        "shutdown_timeout_s": timeout.total_seconds(),
        "redis_wait_s": None if redis_wait is None else redis_wait.total_seconds(),
        "event_loop": event_loop,
    }
    if concurrency is not None:
        options["concurrency"] = concurrency
    opt = state.settings.conn_opt()
    if opt is None:
        raise CliError("no Redis to serve from", ExitCode.UNAVAILABLE)
    with ExitStack() as stack:
        routes: dict[tuple[str, int], dict[str, Route]] = {}
        if metrics_at is not None:
            from .metrics import worker_metrics

            options["observer"], route = stack.enter_context(worker_metrics())
            routes.setdefault(metrics_at, {})["/metrics"] = route
            note(f"serving worker metrics at http://{metrics}/metrics")
        from asynq_py.engine import Inspector, Server  # they load redis: only when a worker runs

        server = Server(opt, ServerConfig(**options))
        if health_at is not None:
            from .health import health_routes

            inspector = stack.enter_context(Inspector(opt))
            routes.setdefault(health_at, {}).update(health_routes(server, inspector))
            note(f"serving probes at http://{health}/livez and /readyz")
        if routes:
            from .httpd import serve_routes

            for (host, port), table in routes.items():
                stack.callback(serve_routes(host, port, table).shutdown)
        _run(note, state.display_url, opt, server, handler, schedules, sync_interval, event_loop)


def _listen(text: str, option: str) -> tuple[str, int]:
    from .httpd import parse_listen  # http.server loads only for a worker that listens

    return parse_listen(text, option)


def _run(
    note: Callable[[str], None],
    display_url: str,
    opt: RedisConnOpt,
    server: Server,
    handler: Any,
    schedules: str | None,
    sync_interval: timedelta,
    event_loop: str,
) -> None:
    manager = None
    if schedules is not None:
        manager = periodic_manager(opt, Path(schedules).expanduser(), sync_interval, event_loop)
    try:
        if manager is not None:
            start_scheduler(manager)
            note(f"scheduling {len(manager.entries())} entries from {schedules}")
        queues = ", ".join(f"{q}={p}" for q, p in server.config.queues.items())
        note(f"serving {queues} from {display_url}")
        server.run(handler)
    finally:
        if manager is not None:
            manager.shutdown()
