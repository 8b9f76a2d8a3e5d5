"""``asynq-py tasks``, and the typed-task side of ``enqueue``: what an app's ``ServeMux.task`` defines.

The app is ``--app`` or, as for ``serve``, ``ASYNQ_APP`` then ``app`` under ``[serve]`` in the config
file. Importing it runs the user's module, so it happens only in the commands that need it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from asynq_py.engine import ServeMux

from .context import JsonFlag, get_state
from .errors import CliError, ExitCode
from .render import emit_json

if TYPE_CHECKING:
    from asynq_py.engine import Task, TaskDef

    from .context import AppState

__all__ = ["AppOption", "app", "typed_task"]

app = typer.Typer()

AppOption = Annotated[
    str | None,
    typer.Option(
        "--app",
        metavar="APP",
        help="The app (module:attribute or file.py:attribute) whose typed tasks check --arg and --payload; "
        "default: env ASYNQ_APP, then app under [serve] in the config file.",
        show_default=False,
    ),
]


def _task_defs(spec: str) -> dict[str, TaskDef[..., Any]]:
    from .serve import load_app  # loads the engine's server side: only when an app is named

    found = load_app(spec)
    if not isinstance(found, ServeMux):
        return {}
    return {d.type: d for d in found.task_defs()}


def _split_arg(item: str) -> tuple[str, str]:
    name, sep, value = item.partition("=")
    if not sep or not name.strip():
        raise CliError(f"--arg must look like NAME=VALUE, got {item!r}", ExitCode.USAGE)
    return name.strip(), value


def typed_task(
    state: AppState, spec: str | None, task_type: str, args: list[str], payload: bytes | None
) -> Task | None:
    """Return the task that ``--arg`` items or a JSON ``payload`` make for a typed ``task_type``.

    Returns None when no app is known or the app does not define ``task_type`` as a typed task
    (the payload is then stored as given); ``--arg`` without a typed definition is an error.

    Raises:
        CliError: ``--arg`` cannot be used, or is malformed.
        ValidationError: an argument or the payload does not fit the definition (exit 2).
    """
    spec = spec or state.settings.app
    definition = None if spec is None else _task_defs(spec).get(task_type)
    if definition is None:
        if args:
            where = f"the app {spec}" if spec else "no app (give --app or set ASYNQ_APP)"
            raise CliError(f"--arg needs a typed task {task_type!r}, and there is {where}", ExitCode.USAGE)
        return None
    if args and payload is not None:
        raise CliError("give --arg or --payload, not both", ExitCode.USAGE)
    if payload is not None:
        return definition.task_from_mapping(definition.decode(payload))
    values = {name: definition.argument_from_text(name, text) for name, text in map(_split_arg, args)}
    return definition.task_from_mapping(values)


def _options(definition: TaskDef[..., Any]) -> dict[str, Any]:
    """The definition's default options, as JSON values (durations in seconds, times in ISO 8601)."""
    shown: dict[str, Any] = {}
    for name, value in definition.options.items():
        if isinstance(value, timedelta):
            value = value.total_seconds()
        elif isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, Mapping):
            value = dict(value)
        if value is not None:
            shown[name] = value
    return shown


@app.command(rich_help_panel="Tasks")
def tasks(ctx: typer.Context, app_: AppOption = None, json_: JsonFlag = False) -> None:
    """List the typed tasks an app defines (ServeMux.task): type, arguments and default options."""
    state = get_state(ctx)
    spec = app_ or state.settings.app
    if spec is None:
        raise CliError("no app: give --app (module:attribute or file.py:attribute) or set ASYNQ_APP")
    defs = _task_defs(spec)
    if state.use_json(json_):
        for d in defs.values():
            emit_json({"type": d.type, "signature": d.signature, "async": d.is_async, "options": _options(d)})
        return
    if not defs:
        state.note(f"{spec} defines no typed tasks")
        return
    from .render import cell, new_table

    table = new_table(["TYPE", "ARGUMENTS", "OPTIONS", "KIND"])
    for d in defs.values():
        options = " ".join(f"{k}={v}" for k, v in _options(d).items())
        table.add_row(cell(d.type), cell(d.signature), cell(options), cell("async" if d.is_async else "def"))
    state.out.print(table)
