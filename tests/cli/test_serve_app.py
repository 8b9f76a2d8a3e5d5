"""``asynq-py serve`` without APP: the app comes from ASYNQ_APP or the config file's [serve] table."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from asynq_py.engine import Inspector

from .conftest import ASYNQ_PY

ROOT = Path(__file__).resolve().parents[2]


def serve_until_registered(
    env: dict[str, str], inspector: Inspector, cwd: Path
) -> subprocess.CompletedProcess[str]:
    """Run the product's usage line, wait for the worker to register, stop it, and return its run."""
    proc = subprocess.Popen(
        [ASYNQ_PY, "serve", "--queues", "critical=6,default=3", "--shutdown-timeout", "1s"],
        cwd=cwd, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not [s for s in inspector.servers() if s.pid == proc.pid]:
            assert proc.poll() is None, proc.communicate(timeout=10)
            assert time.monotonic() < deadline, "the worker never registered"
            time.sleep(0.05)
        server = next(s for s in inspector.servers() if s.pid == proc.pid)
        assert server.queues == {"critical": 6, "default": 3}
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, err
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.parametrize("source", ["ASYNQ_APP", "config init --app"])
def test_serve_finds_the_app_without_an_argument(env, inspector, tmp_path, source) -> None:
    if source == "ASYNQ_APP":
        env = {**env, "ASYNQ_APP": str(ROOT / "examples/app.py") + ":mux"}
    else:
        init = subprocess.run(
            [ASYNQ_PY, "config", "init", "--app", "examples/app.py:mux"],
            cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert init.returncode == 0, init.stderr
        written = (Path(env["XDG_CONFIG_HOME"]) / "asynq-py" / "config.toml").read_text()
        assert f'app = "{ROOT / "examples/app.py"}:mux"' in written
    done = serve_until_registered(env, inspector, cwd=tmp_path)  # another folder: the path still works
    assert "serving critical=6, default=3" in done.stderr


def test_serve_without_any_app_names_all_three_ways(env, tmp_path) -> None:
    done = subprocess.run(
        [ASYNQ_PY, "serve", "--queues", "critical=6,default=3"],
        cwd=tmp_path, env={**os.environ, **env}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert "APP" in lines[0]
    assert "ASYNQ_APP" in lines[0]
    assert "[serve]" in lines[0]


def test_config_file_app_is_relative_to_the_config_folder(env, tmp_path) -> None:
    folder = Path(env["XDG_CONFIG_HOME"]) / "asynq-py"
    folder.mkdir(parents=True)
    (folder / "tasks.py").write_text("raise RuntimeError('imported from the config folder')\n")
    (folder / "config.toml").write_text('[serve]\napp = "tasks.py:mux"\n')
    done = subprocess.run(
        [ASYNQ_PY, "serve"],
        cwd=tmp_path,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert f"{folder / 'tasks.py'}:1: RuntimeError" in done.stderr, done.stderr
