"""The recipes of docs/recipes.md run: a script, FastAPI, Django, and a Go service feeding a Python worker."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import wait_for

from asynq_py.engine import Inspector, TaskInfo, TaskState

pytestmark = [pytest.mark.real, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
ASYNQ_PY = str(Path(sys.executable).with_name("asynq-py"))


@pytest.fixture
def inspector(real_redis_url: str) -> Iterator[Inspector]:
    with Inspector(real_redis_url) as insp:
        yield insp


def _completed(inspector: Inspector, queue: str, task_id: str) -> Callable[[], TaskInfo | None]:
    def check() -> TaskInfo | None:
        info = inspector.get_task_info(queue, task_id)
        return info if info.state is TaskState.COMPLETED else None

    return check


def _stop(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    """SIGTERM ``proc`` (a graceful shutdown), then SIGKILL if it hangs; return its code and output."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=10)
    return proc.returncode, out, err


def test_plain_script(real_redis_url: str, queue: str) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "script.py"),
            "--redis",
            real_redis_url,
            "--queue",
            queue,
            "--users",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    results = sorted(line.split(" ", 1)[1] for line in proc.stdout.splitlines())
    assert results == ["sent 'Hello #1' to user 1", "sent 'Hello #2' to user 2"]


def test_fastapi_route_enqueues_through_the_lifespan_client(
    real_redis_url: str, inspector: Inspector, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("fastapi", reason="the fastapi extra is not installed")
    from fastapi.testclient import TestClient

    monkeypatch.setenv("ASYNQ_REDIS_URL", real_redis_url)
    monkeypatch.syspath_prepend(str(EXAMPLES))
    spec = importlib.util.spec_from_file_location("fastapi_app", EXAMPLES / "fastapi_app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with TestClient(module.app) as http:
        reply = http.post("/users/42/welcome", params={"subject": "Hi <there>"})
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["queue"] == "emails"
        info = inspector.get_task_info("emails", body["task_id"])
        assert bytes(info.payload) == b'{"subject":"Hi \\u003cthere\\u003e","user_id":42}'
        assert (info.type, info.state, info.max_retry) == ("email:welcome", TaskState.PENDING, 5)
        assert http.post("/users/abc/welcome").status_code == 422  # FastAPI's own check
    inspector.delete_task("emails", body["task_id"])


def test_django_management_command_serves_the_tasks(real_redis_url: str, inspector: Inspector) -> None:
    pytest.importorskip("django", reason="the django extra is not installed")
    from asynq_py.engine import Client, Task

    project = EXAMPLES / "django_project"
    env = {**os.environ, "ASYNQ_REDIS_URL": real_redis_url, "PYTHONPATH": str(project)}
    proc = subprocess.Popen(
        [sys.executable, str(project / "manage.py"), "asynq_serve"],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with Client(real_redis_url) as client:
            # As another service would enqueue it: the arguments as JSON (the date as ISO 8601).
            task = Task("report:build", {"account_id": 7, "day": "2026-12-03", "formats": ["csv"]})
            info = client.enqueue(task, queue="reports", retention=600)
        done = wait_for(_completed(inspector, "reports", info.id), 30, "report built")
        assert done.result == b"report 7 2026-12-03 csv tz=True"
    finally:
        code, out, err = _stop(proc)
    assert code == 0, err
    assert out.startswith("serving reports, default")


def test_go_service_enqueues_to_a_python_worker(
    real_redis_url: str, inspector: Inspector, tmp_path: Path
) -> None:
    if shutil.which("go") is None:
        pytest.skip("the Go toolchain is not on PATH")
    binary = tmp_path / "welcome"
    build = subprocess.run(
        ["go", "build", "-o", str(binary), "."],
        cwd=EXAMPLES / "go_service",
        env={**os.environ, "GOFLAGS": "-mod=mod"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr
    worker = subprocess.Popen(
        [ASYNQ_PY, "--redis", real_redis_url, "serve", "examples/typed_tasks.py:mux", "-q", "emails"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        run = [str(binary), "-redis", real_redis_url]
        good = subprocess.run(
            [*run, "-user", "42", "-subject", "Hej"], capture_output=True, text=True, timeout=60
        )
        assert good.returncode == 0, good.stderr
        done = wait_for(_completed(inspector, "emails", good.stdout.strip()), 30, "welcome sent")
        assert done.result == b"sent 'Hej' to user 42"
        assert bytes(done.payload) == b'{"subject":"Hej","user_id":42}'  # Go's bytes, canonical
    finally:
        code, _, err = _stop(worker)
    assert code == 0, err
