"""Payloads on the command line: size checked before reading, JSON stored in the library's canonical form."""

from __future__ import annotations

import os
import subprocess

import pytest

from asynq_py.engine import Client, Inspector, Task

from .conftest import ASYNQ_PY

LIMIT = "33554432 bytes (32 MiB)"


def run(env, *args, stdin=None):
    return subprocess.run(
        [ASYNQ_PY, *args], stdin=stdin, capture_output=True, text=True, timeout=60, env={**os.environ, **env}
    )


def refused(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, (done.returncode, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert LIMIT in lines[0], done.stderr
    return lines[0]


def test_a_huge_payload_file_is_refused_from_its_size(env, r, tmp_path):
    big = tmp_path / "600MB.json"
    with big.open("wb") as f:
        f.truncate(600 * 1024 * 1024)  # sparse: reading it whole would take seconds and 600 MB
    assert "629145600 bytes" in refused(run(env, "enqueue", "t", "--payload", f"@{big}"))
    assert r.dbsize() == 0


@pytest.mark.parametrize("source", ["stdin", "@/dev/zero"])
def test_an_endless_payload_stream_is_read_only_up_to_the_limit(env, r, source):
    args = ("--payload", "-") if source == "stdin" else ("--payload", source)
    with open("/dev/zero", "rb") as endless:  # never ends: only a capped read can refuse it
        refused(run(env, "enqueue", "t", *args, "--raw", stdin=endless))
    assert r.dbsize() == 0


def test_json_payload_is_stored_as_the_library_stores_it(env, r, real_redis_url):
    typed = '{"user_id": 42, "name": "Zoë", "tags": ["a", "b"], "ratio": 1.50}'
    task_id = run(env, "enqueue", "t", "--payload", typed).stdout.strip()
    with Inspector(real_redis_url) as inspector:
        stored = bytes(inspector.get_task_info("default", task_id).payload)
    with Client(real_redis_url) as client:
        info = client.enqueue(Task("t", {"user_id": 42, "name": "Zoë", "tags": ["a", "b"], "ratio": 1.5}))
    canonical = '{"name":"Zoë","ratio":1.5,"tags":["a","b"],"user_id":42}'.encode()
    assert stored == bytes(info.payload) == canonical


def test_unique_locks_from_the_cli_and_from_code_collide(env, r, real_redis_url):
    with Client(real_redis_url) as client:
        client.enqueue(Task("report", {"user_id": 42}), unique=60)
    done = run(env, "enqueue", "report", "--payload", '{"user_id": 42}', "--unique", "1m")
    assert done.returncode == 4, done.stderr


def test_raw_keeps_the_bytes_as_typed(env, r, real_redis_url):
    task_id = run(env, "enqueue", "t", "--raw", "--payload", '{"user_id": 42}').stdout.strip()
    with Inspector(real_redis_url) as inspector:
        assert bytes(inspector.get_task_info("default", task_id).payload) == b'{"user_id": 42}'
