"""Unreachable Sentinel and Cluster URLs: exit 5 and one short line naming what could not be reached."""

from __future__ import annotations

import os
import subprocess

import pytest

from asynq_py.engine import AsyncInspector, RedisUnavailableError

from .conftest import ASYNQ_PY


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("redis-cluster://127.0.0.1:1", "Redis Cluster node"),
        ("redis-sentinel://127.0.0.1:1", "master 'mymaster'"),
    ],
)
def test_unreachable_cluster_or_sentinel_is_exit_5_in_one_short_line(env, url: str, named: str) -> None:
    done = subprocess.run(
        [ASYNQ_PY, "--redis", url, "queues"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )
    assert done.returncode == 5, done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: cannot reach"), lines[0]
    assert named in lines[0], lines[0]
    assert "127.0.0.1:1" in lines[0]
    assert len(lines[0]) < 200, lines[0]
    assert "<" not in lines[0]  # no Python object reprs


@pytest.mark.parametrize("url", ["redis-cluster://127.0.0.1:1", "redis-sentinel://127.0.0.1:1"])
async def test_async_inspector_reports_the_same_unreachable_error(url: str) -> None:
    inspector = AsyncInspector(url)
    try:
        with pytest.raises(RedisUnavailableError, match="cannot reach") as caught:
            await inspector.queues()
    finally:
        await inspector.aclose()
    assert "<" not in str(caught.value)
