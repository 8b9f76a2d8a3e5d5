"""``asynq-py embedded status|stop``: the embedded server outlives commands until it is stopped."""

from __future__ import annotations

import json
import os
import subprocess

from asynq_py.engine.embedded import EmbeddedRedis

from .conftest import ASYNQ_PY


def run(env, *args):
    done = subprocess.run(
        [ASYNQ_PY, *args], capture_output=True, text=True, timeout=60, env={**os.environ, **env}
    )
    assert done.returncode == 0, done.stderr
    return done


def test_status_and_stop(env, short_tmp) -> None:
    env = {**env, "ASYNQ_REDIS_URL": "", "ASYNQ_PY_HOME": str(short_tmp)}
    server = EmbeddedRedis(short_tmp)
    try:
        before = json.loads(run(env, "embedded", "status", "--json").stdout)
        assert before == {
            "running": False, "pid": None, "socket": str(server.socket_path), "data_dir": str(short_tmp)
        }  # fmt: skip
        assert not server.is_running()  # status never starts it
        run(env, "enqueue", "t")  # starts it; it keeps running after the command exits
        status = json.loads(run(env, "embedded", "status", "--json").stdout)
        assert status["running"]
        assert status["pid"] == int((short_tmp / "server.pid").read_text())
        assert run(env, "embedded", "status").stdout.startswith(f"running (pid {status['pid']})")
        assert "stopped" in run(env, "embedded", "stop").stderr
        assert not server.is_running()
        assert run(env, "embedded", "status").stdout.startswith("not running")
        assert "not running" in run(env, "embedded", "stop").stderr
        assert run(env, "ls", "pending", "--ids").stdout.count("\n") == 1  # restarted, the task kept
    finally:
        server.stop()
