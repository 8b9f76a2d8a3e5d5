"""``asynq-py embedded status|stop``: the embedded server's lifecycle.

With no Redis configured, the first command that needs Redis starts a Valkey server in the data
folder; it runs detached and outlives that command, shared by every later asynq-py process of the
user, until ``asynq-py embedded stop`` (or a reboot). Its data survive a stop (append-only file).
"""

from __future__ import annotations

import typer

from asynq_py.engine import EmbeddedRedis

from .context import JsonFlag, get_state
from .errors import CliError, ExitCode
from .render import emit_json

__all__ = ["app"]

app = typer.Typer()
embedded_app = typer.Typer(
    help="Show or stop the embedded server (it keeps running after commands exit).", no_args_is_help=True
)
app.add_typer(embedded_app, name="embedded", rich_help_panel="Settings")


def _server(ctx: typer.Context) -> EmbeddedRedis:
    return EmbeddedRedis(get_state(ctx).settings.data_dir)


@embedded_app.command("status")
def status(ctx: typer.Context, json_: JsonFlag = False) -> None:
    """Say whether the embedded server runs, with its pid, socket and data folder (it never starts it)."""
    state = get_state(ctx)
    server = _server(ctx)
    pid = server.pid()
    running = pid is not None or server.is_running()
    if state.use_json(json_):
        emit_json(
            {
                "running": running,
                "pid": pid,
                "socket": str(server.socket_path),
                "data_dir": str(server.data_dir),
            }
        )
        return
    where = f"socket {server.socket_path}, data in {server.data_dir}"
    if running:
        state.out.print(f"running (pid {pid if pid is not None else '?'}); {where}", soft_wrap=True)
    else:
        state.out.print(f"not running; {where}", soft_wrap=True)
    if not state.settings.embedded:
        state.note(f"note: commands use {state.display_url}, not the embedded server")


@embedded_app.command("stop")
def stop(ctx: typer.Context) -> None:
    """Stop the embedded server (its data are saved); the next command that needs Redis starts it again."""
    state = get_state(ctx)
    server = _server(ctx)
    if not server.is_running():
        state.note(f"the embedded server in {server.data_dir} is not running")
        return
    server.stop()
    if server.is_running():
        raise CliError(f"the embedded server in {server.data_dir} did not stop in 10s", ExitCode.ERROR)
    state.note(f"stopped the embedded server in {server.data_dir}")
