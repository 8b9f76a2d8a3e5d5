"""What a user's type checker sees: typed enqueue options, from an editable and from a wheel install."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

GOOD = """\
from datetime import UTC, datetime, timedelta
from asynq_py.engine import AsyncClient, Client, Options, ServeMux, Task, TaskContext

def options() -> Options:
    return {"queue": "critical", "headers": {"k": "v"}}

def use(client: Client, aclient: AsyncClient) -> None:
    client.enqueue(Task("t", max_retry=3, process_in=5), queue="q", timeout=timedelta(seconds=9))
    client.enqueue(Task("t"), **options())
    client.enqueue_in(timedelta(minutes=1), Task("t"), unique=60, group="g")
    client.enqueue_at(datetime.now(UTC), Task("t"), retention=3600.0, deadline=datetime.now(UTC))
    client.enqueue_many([Task("t")], queue="q", process_at=datetime.now(UTC))
    client.set_default_options("t", max_retry=None, task_id="x")
    aclient.set_default_options("t", queue="q")


mux = ServeMux()


@mux.task("email:deliver", queue="critical", max_retry=5)
async def deliver(ctx: TaskContext, user_id: int, subject: str = "") -> None: ...


def typed(client: Client) -> None:
    client.enqueue(deliver.task(42, subject="hi"), process_in=timedelta(hours=24))
    client.enqueue(deliver.task(user_id=1))
"""

BAD = """\
from asynq_py.engine import AsyncClient, Client, ServeMux, Task, TaskContext

async def use(client: Client, aclient: AsyncClient) -> None:
    client.enqueue(Task("t"), max_retries=5)
    client.enqueue(Task("t"), queue=5)
    client.enqueue_in(5, Task("t"), process_in=9)
    client.enqueue_many([Task("t")], timeout="5m")
    client.set_default_options("t", qeue="q")
    Task("t", retention=[1])
    await aclient.enqueue_at(0, Task("t"))  # type: ignore[arg-type]
    await aclient.enqueue(Task("t"), group=1)

mux = ServeMux()

@mux.task("email:deliver", queu="critical")
def deliver(ctx: TaskContext, user_id: int, subject: str = "") -> None: ...

deliver.task(user_id="42")
deliver.task(usr_id=42)
deliver.task(1, "s", 3)
"""

EXPECTED = [
    (4, 'Unexpected keyword argument "max_retries" for "enqueue" of "Client"; did you mean "max_retry"?'),
    (5, 'Argument "queue" to "enqueue" of "Client" has incompatible type "int"'),
    (6, 'Unexpected keyword argument "process_in" for "enqueue_in" of "Client"'),
    (7, 'Argument "timeout" to "enqueue_many" of "Client" has incompatible type "str"'),
    (8, 'Unexpected keyword argument "qeue" for "set_default_options" of "Client"'),
    (9, 'Argument "retention" to "Task" has incompatible type "list[int]"'),
    (11, 'Argument "group" to "enqueue" of "AsyncClient" has incompatible type "int"'),
    (15, 'Unexpected keyword argument "queu" for "task" of "ServeMux"'),
    (18, 'Argument "user_id" to "task" of "TaskDef" has incompatible type "str"; expected "int"'),
    (19, 'Unexpected keyword argument "usr_id" for "task" of "TaskDef"'),
    (20, 'Too many arguments for "task" of "TaskDef"'),
]


def _check_options_typing(tmp_path: Path, python: str) -> None:
    """Run a user's mypy on GOOD and BAD: GOOD is clean, BAD has exactly the EXPECTED errors."""
    (tmp_path / "good.py").write_text(GOOD)
    (tmp_path / "bad.py").write_text(BAD)
    # An empty config, run from elsewhere: asynq_py is found only the way a user's mypy finds it.
    (tmp_path / "mypy.ini").write_text("[mypy]\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            "mypy.ini",
            "--strict",
            "--no-incremental",
            "--python-executable",
            python,
            "good.py",
            "bad.py",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    out = proc.stdout + proc.stderr
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert all(line.startswith("bad.py:") for line in errors), out
    for lineno, message in EXPECTED:
        assert any(line.startswith(f"bad.py:{lineno}: error: {message}") for line in errors), (message, out)
    assert len(errors) == len(EXPECTED), out


@pytest.mark.timeout(600)  # a cold mypy run over the package: a minute on a loaded machine
def test_mypy_rejects_unknown_and_mistyped_options(tmp_path: Path) -> None:
    _check_options_typing(tmp_path, sys.executable)


def _source_copy(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("engine", "cli", "tui", ".typecheck"):
        shutil.copytree(ROOT / folder, src / folder, symlinks=True, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    return src


def _empty_venv(path: Path) -> str:
    venv.create(path, with_pip=False)
    return str(path / "bin" / "python")


def _pip(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check", *args],
        check=True,
        timeout=300,
        capture_output=True,
    )


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_editable_install_is_visible_to_mypy(tmp_path: Path) -> None:
    src = _source_copy(tmp_path)
    python = _empty_venv(tmp_path / "venv")
    _pip("--python", python, "install", "--no-deps", "-e", str(src))
    _check_options_typing(tmp_path, python)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_wheel_install_is_visible_to_mypy(tmp_path: Path) -> None:
    src = _source_copy(tmp_path)
    _pip("wheel", "--no-deps", "-w", str(tmp_path / "dist"), str(src))
    (wheel,) = (tmp_path / "dist").glob("asynq_py-*.whl")
    python = _empty_venv(tmp_path / "venv")
    _pip("--python", python, "install", "--no-deps", str(wheel))
    _check_options_typing(tmp_path, python)
