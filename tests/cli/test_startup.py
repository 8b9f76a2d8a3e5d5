"""What the ``asynq-py`` entry point loads before it answers (figures: benchmarks/startup.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from asynq_py.engine.embedded import EmbeddedRedis

from .conftest import ASYNQ_PY


def loaded_modules(*args: str, env: dict[str, str] | None = None) -> tuple[str, set[str]]:
    """Run the real console script; return its stdout and every module loaded when it exited.

    ``sys.modules`` is read at exit rather than ``-X importtime``, which does not see modules
    imported through ``importlib.import_module`` (the engine's and the CLI's lazy loading).
    """
    with tempfile.TemporaryDirectory() as tmp:
        listing = Path(tmp) / "modules.txt"
        code = (
            "import atexit, runpy, sys\n"
            f"atexit.register(lambda: open({str(listing)!r}, 'w').write('\\n'.join(sys.modules)))\n"
            f"sys.argv = [{ASYNQ_PY!r}, *{list(args)!r}]\n"
            f"runpy.run_path({ASYNQ_PY!r}, run_name='__main__')\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **(env or {})},
        )
        assert done.returncode == 0, done.stderr[-2000:]
        modules = set(listing.read_text().split())
    assert "asynq_py.cli.entry" in modules
    return done.stdout, modules


def heavy(modules: set[str], *roots: str) -> list[str]:
    return sorted(m for m in modules if any(m == r or m.startswith(r + ".") for r in roots))


def test_version_loads_no_cli_framework_redis_protobuf_or_tables() -> None:
    out, modules = loaded_modules("--version")
    assert out.startswith("asynq-py 0.1.0 (asynq wire format v0.26.0)")
    assert heavy(modules, "redis", "textual", "rich", "google.protobuf", "typer", "asyncio", "pydantic") == []


def test_completing_a_command_name_loads_no_command_engine_redis_rich_or_textual() -> None:
    env = {"_ASYNQ_PY_COMPLETE": "complete_bash", "COMP_WORDS": "asynq-py l", "COMP_CWORD": "1"}
    out, modules = loaded_modules(env=env)
    assert out.split() == ["ls", "limit"]
    roots = ("asynq_py.engine", "redis", "textual", "rich", "google.protobuf", "pydantic", "asyncio")
    assert heavy(modules, *roots) == []
    assert {m for m in modules if m.startswith("asynq_py.cli.")} <= {
        "asynq_py.cli.entry",
        "asynq_py.cli.main",
        "asynq_py.cli.errors",
        "asynq_py.cli.render",
    }


def test_shells_that_show_help_still_get_each_command_s_help() -> None:
    env = {"_ASYNQ_PY_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": "asynq-py l"}
    out, modules = loaded_modules(env=env)
    assert '"ls":"List tasks in a state' in out
    assert "asynq_py.cli.listing" in modules


def test_a_command_loads_only_its_own_module(env, r) -> None:
    _, modules = loaded_modules("ls", "pending", env=env)
    commands = {m.rpartition(".")[2] for m in modules if m.startswith("asynq_py.cli.")}
    assert "listing" in commands
    assert not commands & {"enqueue", "task", "queue", "schedule", "serve", "metrics", "dash", "config"}


def test_listing_and_enqueueing_on_one_server_load_no_redis_py(env, r) -> None:
    # A standalone server (this redis:// URL, or the embedded one's Unix socket) is reached
    # through the engine's own connections; redis-py costs 100 ms or more to import. A command
    # loads no engine module it does not use: enqueue prints no table (no Rich) and decodes no
    # message (no protobuf: it encodes its own), queues decodes none either.
    server_side = ("limits", "rdb_limits", "redispy", "pipelined", "routing", "server", "processor")
    info = "asynq_py.engine.info"
    cases = {
        ("ls", "pending"): (info,),
        ("enqueue", "startup:guard", "--payload", '{"n": 1}'): ("rich", "google.protobuf", info),
        ("queues",): ("google.protobuf",),
    }
    for args, more in cases.items():
        _, modules = loaded_modules(*args, env=env)
        assert heavy(modules, "redis", "textual", "opentelemetry", "prometheus_client", *more) == []
        assert heavy(modules, "asyncio", "ssl") == []  # a blocking client, no TLS
        assert heavy(modules, *(f"asynq_py.engine.{name}" for name in server_side)) == []
        assert heavy(modules, "importlib.resources", "tomllib") == []  # no config file here


def test_the_embedded_default_is_reached_without_redis_py_or_asyncio(env, short_tmp) -> None:
    env = {**env, "ASYNQ_REDIS_URL": "", "ASYNQ_PY_HOME": str(short_tmp)}
    server = EmbeddedRedis(short_tmp)
    try:
        server.ensure_running()  # found by the commands with one connect to its socket
        for args in (("enqueue", "startup:embedded"), ("ls", "pending")):
            _, modules = loaded_modules(*args, env=env)
            assert heavy(modules, "redis", "asyncio", "asynq_py.engine.redispy") == []
    finally:
        server.stop()


def test_the_command_table_matches_the_modules() -> None:
    import importlib

    import typer.main

    from asynq_py.cli.main import COMMANDS

    found: dict[str, str] = {}
    for module_name in dict.fromkeys(COMMANDS.values()):
        module = importlib.import_module(f"asynq_py.cli.{module_name}")
        built = typer.main.get_command(module.app)
        names = list(getattr(built, "commands", {built.name: built}))
        found |= dict.fromkeys(names, module_name)
    assert found == COMMANDS
    apps = {p.stem for p in Path(importlib.import_module("asynq_py.cli").__path__[0]).glob("*.py")
            if p.stem != "main" and "\napp = typer.Typer(" in p.read_text()}  # fmt: skip
    assert apps == set(COMMANDS.values())
