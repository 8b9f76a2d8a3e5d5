"""Health: ``serve --health`` probes while Redis is up, down and back; ``servers --check`` exit codes."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import probe, stop

from asynq_py.engine import Server, ServerConfig

from ..conftest import free_port
from .conftest import ASYNQ_PY

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.real


def wait_for(check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)
    return value


def serve(env: dict[str, str], redis_url: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [ASYNQ_PY, "--redis", redis_url, "serve", "examples/app.py:mux", "-q", "hq",
         "--shutdown-timeout", "1s", *args],
        cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def test_probes_follow_redis_down_and_back(env, real_server_factory) -> None:
    redis_server = real_server_factory()
    port = free_port()
    proc = serve(env, redis_server.url, "--health", f"127.0.0.1:{port}")
    live, ready = f"http://127.0.0.1:{port}/livez", f"http://127.0.0.1:{port}/readyz"
    try:
        wait_for(lambda: probe(ready)[0] == 200)
        assert probe(live) == (200, "ok\n")
        redis_server.stop()
        _, body = wait_for(lambda: (r := probe(ready))[0] == 503 and r)
        assert "Redis" in body
        assert probe(live)[0] == 200  # the process itself is fine
        redis_server.start()
        wait_for(lambda: probe(ready)[0] == 200)  # the next heartbeat makes it ready again
        assert probe(f"http://127.0.0.1:{port}/metrics")[0] == 404  # not asked for
    finally:
        err = stop(proc)
    assert proc.returncode == 0, err
    assert b"Traceback" not in err


def test_group_probes_and_metrics_share_one_address(env, real_redis_url: str) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = serve(env, real_redis_url, "--processes", "2", "--health", f"127.0.0.1:{port}",
                 "--metrics", f"127.0.0.1:{port}")  # fmt: skip
    try:
        wait_for(lambda: probe(f"{base}/readyz")[0] == 200)
        assert probe(f"{base}/livez")[0] == 200
        status, text = probe(f"{base}/metrics")
        assert status == 200
        assert "asynq_worker_concurrency" in text
    finally:
        err = stop(proc)
    assert proc.returncode == 0, err


def test_servers_check_exit_codes(cli, real_redis_url: str) -> None:
    assert cli("servers", "--check").exit_code == 3
    server = Server(real_redis_url, ServerConfig(queues={"hq": 1, "low": 1}, concurrency=1))
    server.start(lambda ctx, task: None)
    try:
        assert server.alive()
        assert server.worker_pids() == [os.getpid()]
        ok = cli("servers", "--check", "-q", "hq", "-q", "low")
        assert (ok.exit_code, ok.stdout) == (0, "")
        assert cli("servers", "--check").exit_code == 0
        missing = cli("servers", "--check", "-q", "hq", "-q", "other")
        assert missing.exit_code == 3
        assert "'other'" in missing.stderr
        down = cli("--redis", "redis://127.0.0.1:1/0", "servers", "--check")
        assert down.exit_code == 5
    finally:
        server.shutdown()
    assert not server.alive()
    assert server.worker_pids() == []
    assert cli("servers", "--check", "-q", "hq").exit_code == 3
