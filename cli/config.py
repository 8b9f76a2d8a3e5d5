"""The ``config init|show|path`` commands (the resolution itself is in ``settings``)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated, Any

import tomli_w
import typer

from asynq_py.engine.settings import EMBEDDED, Settings

from .context import JsonFlag, get_state
from .errors import CliError, ExitCode
from .render import cell, emit_json, new_table
from .schema import Field, Schema

__all__ = ["CONFIG_SCHEMA", "app", "config_record"]

app = typer.Typer()
config_app = typer.Typer(help="Show, locate or create the config file.", no_args_is_help=True)
app.add_typer(config_app, name="config", rich_help_panel="Settings")


CONFIG_SCHEMA = Schema(
    "config",
    "`config show`",
    (
        Field("redis_url", "string", "the Redis URL with any password masked, or `embedded`"),
        Field("redis_url_source", "string", "`--redis`, `ASYNQ_REDIS_URL`, `config file` or `default`"),
        Field("embedded", "boolean", "whether the embedded server is used"),
        Field("password", "string | null", "`***` when a password is set apart from the URL"),
        Field("password_source", "string | null", "`--password`, `ASYNQ_REDIS_PASSWORD` or `config file`"),
        Field("config_path", "string", "the config file"),
        Field("config_path_source", "string", "`--config`, `ASYNQ_CONFIG` or `default`"),
        Field("config_exists", "boolean", "whether the config file exists"),
        Field("data_dir", "string", "the data folder, where the embedded server lives"),
        Field("data_dir_source", "string", "`ASYNQ_PY_HOME`, `XDG_DATA_HOME` or `default`"),
        Field("schedules_path", "string", "the schedules file of `schedule` and `scheduler`"),
        Field("schedules_path_source", "string", "`ASYNQ_SCHEDULES`, `config file` or `default`"),
        Field("app", "string | null", "the app `serve` runs without an APP argument"),
        Field("app_source", "string | null", "`ASYNQ_APP` or `config file`"),
        Field("log_format", "string", "`text` or `json`: the log format of `serve` and `scheduler`"),
        Field("log_format_source", "string", "`config file` or `default`"),
        Field("loop", "string", "`asyncio`, `uvloop` or `auto`: the event loop of `serve`"),
        Field("loop_source", "string", "`config file` or `default`"),
        Field("durability", "string", "`async` or `replicated` (`[enqueue]` in the config file)"),
        Field("min_replicas", "integer", "replicas a replicated enqueue waits for"),
        Field("replication_timeout_s", "number", "seconds a replicated enqueue waits for them"),
        Field("durability_source", "string", "`config file` or `default`"),
    ),
)


def config_record(settings: Settings) -> dict[str, Any]:
    """Return the ``config`` record of ``settings``, passwords masked."""
    return {
        "redis_url": EMBEDDED if settings.embedded else settings.display_url,
        "redis_url_source": settings.redis_url_source,
        "embedded": settings.embedded,
        "password": "***" if settings.password else None,
        "password_source": settings.password_source,
        "config_path": str(settings.config_path),
        "config_path_source": settings.config_path_source,
        "config_exists": settings.config_exists,
        "data_dir": str(settings.data_dir),
        "data_dir_source": settings.data_dir_source,
        "schedules_path": str(settings.schedules_path),
        "schedules_path_source": settings.schedules_path_source,
        "app": settings.app,
        "app_source": settings.app_source,
        "log_format": settings.log_format,
        "log_format_source": settings.log_format_source,
        "loop": settings.loop,
        "loop_source": settings.loop_source,
        "durability": settings.durability.durability,
        "min_replicas": settings.durability.min_replicas,
        "replication_timeout_s": settings.durability.replication_timeout_s,
        "durability_source": settings.durability.source,
    }


@config_app.command("show")
def show(ctx: typer.Context, json_: JsonFlag = False) -> None:
    """Print the resolved settings and where each came from (passwords masked); no connection is made."""
    state = get_state(ctx)
    state.settings.check()
    record = config_record(state.settings)
    if state.use_json(json_):
        emit_json(record)
        return
    s = state.settings
    table = new_table(("Setting", "Value", "From"))
    table.add_row(cell("redis"), cell(s.display_url), cell(s.redis_url_source))
    table.add_row(cell("password"), cell(record["password"]), cell(s.password_source))
    exists = "" if s.config_exists else " (not found)"
    table.add_row(cell("config file"), cell(f"{s.config_path}{exists}"), cell(s.config_path_source))
    table.add_row(cell("data folder"), cell(s.data_dir), cell(s.data_dir_source))
    table.add_row(cell("schedules file"), cell(s.schedules_path), cell(s.schedules_path_source))
    table.add_row(cell("serve app"), cell(s.app), cell(s.app_source))
    table.add_row(cell("log format"), cell(s.log_format), cell(s.log_format_source))
    table.add_row(cell("serve loop"), cell(s.loop), cell(s.loop_source))
    d = s.durability
    mode: str = d.durability
    if mode == "replicated":
        mode += f" (min {d.min_replicas} replicas, {d.replication_timeout_s:g}s)"
    table.add_row(cell("durability"), cell(mode), cell(d.source))
    state.out.print(table)


@config_app.command("path")
def path(ctx: typer.Context, json_: JsonFlag = False) -> None:
    """Print the path of the config file in use (whether or not it exists)."""
    state = get_state(ctx)
    s = state.settings
    if state.use_json(json_):
        emit_json({"path": str(s.config_path), "exists": s.config_exists, "source": s.config_path_source})
    else:
        state.out.print(str(s.config_path), soft_wrap=True)


def _absolute_app(app: str) -> str:
    """Return ``app`` with a relative ``file.py`` made absolute, so that it works from any folder."""
    target, _, attribute = app.rpartition(":")
    if target.endswith(".py") or "/" in target:
        return f"{Path(target).expanduser().resolve()}:{attribute}"
    return app


@config_app.command("init")
def init(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    app_: Annotated[
        str | None,
        typer.Option(
            "--app",
            metavar="APP",
            help="The app `serve` runs without an argument (module:attribute or file.py:attribute); "
            "default: env ASYNQ_APP.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Write a config file holding the Redis URL now in use (from --redis, the environment, or embedded).

    With --app (or ASYNQ_APP) it also holds the app `serve` runs. The file is created with mode 0600.
    A password given apart from the URL is not written: add `password = "..."` under [redis] yourself,
    or keep it in ASYNQ_REDIS_PASSWORD.
    """
    state = get_state(ctx)
    s = state.settings
    target = s.config_path
    if target.exists() and not force:
        raise CliError(f"{target} already exists; use --force to overwrite it", ExitCode.CONFLICT)
    content: dict[str, Any] = {"redis": {"url": s.redis_url}}
    serve_app = app_ or (s.app if s.app_source == "ASYNQ_APP" else None)
    if serve_app:
        if ":" not in serve_app:
            raise CliError(f"--app must look like module:attribute or file.py:attribute, got {serve_app!r}")
        content["serve"] = {"app": _absolute_app(serve_app)}
    document = tomli_w.dumps(content)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".config-", suffix=".toml")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(document)
            os.chmod(tmp, 0o600)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise CliError(f"cannot write {target}: {exc.strerror or exc}", ExitCode.ERROR) from None
    state.note(f"wrote {target}")
