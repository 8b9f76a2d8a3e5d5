"""Smoke test of the Go side of the harness: Go client, inspector, server and
Go asynq's own CLI all work against the same Redis."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.interop

QUEUE = f"smoke-{uuid.uuid4().hex[:8]}"  # the session's server is shared with other tests


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def run_json(args: list[str], *, stdin: str | None = None, timeout: float = 30.0) -> Any:
    """Runs a Go program to completion and parses its stdout as JSON."""
    proc = subprocess.Popen(
        args,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = proc.communicate(stdin, timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, f"{args} exited {proc.returncode}\nstdout: {out}\nstderr: {err}"
    return json.loads(out)


def read_ledger(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if the process does not exit in time."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@pytest.mark.timeout(180)
def test_go_client_inspector_server_and_cli(
    go_tools: dict[str, Path], real_redis_url: str, tmp_path: Path
) -> None:
    redis = ["-redis", real_redis_url]

    # Go client enqueues one task.
    request = {
        "type": "ok",
        "payload_b64": b64("hello"),
        "headers": {"trace": "smoke-1"},
        "opts": {"queue": QUEUE, "max_retry": 2, "retention_s": 600},
    }
    enqueued = run_json([str(go_tools["goclient"]), *redis], stdin=json.dumps(request) + "\n")
    assert enqueued["state"] == "pending"
    assert enqueued["queue"] == QUEUE
    assert enqueued["max_retry"] == 2
    task_id = enqueued["id"]

    # The Go inspector lists it as pending, headers included.
    pending = run_json([str(go_tools["goinspect"]), *redis, "list", QUEUE, "pending"])
    assert [t["id"] for t in pending] == [task_id]
    assert pending[0]["payload_b64"] == b64("hello")
    assert pending[0]["headers"] == {"trace": "smoke-1"}

    # The Go server processes it; the ledger shows start and end.
    ledger = tmp_path / "ledger.jsonl"
    server_out = tmp_path / "goserver.out"
    server_err = tmp_path / "goserver.err"
    with server_out.open("wb") as out, server_err.open("wb") as err:
        server = subprocess.Popen(
            [
                str(go_tools["goserver"]),
                *redis,
                "-queues",
                f"{QUEUE}=1",
                "-concurrency",
                "2",
                "-ledger",
                str(ledger),
                "-shutdown-timeout",
                "3s",
            ],
            stdout=out,
            stderr=err,
        )
        try:
            deadline = time.monotonic() + 30
            events: list[dict[str, Any]] = []
            while time.monotonic() < deadline:
                events = [e for e in read_ledger(ledger) if e["id"] == task_id]
                if any(e["event"] == "end" for e in events):
                    break
                assert server.poll() is None, f"goserver exited early: {server_err.read_text()}"
                time.sleep(0.1)
            assert [e["event"] for e in events] == ["start", "end"], events
            start, end = events
            assert start["type"] == "ok"
            assert start["queue"] == QUEUE
            assert start["payload_b64"] == b64("hello")
            assert start["headers"] == {"trace": "smoke-1"}
            assert start["retry_count"] == 0
            assert start["max_retry"] == 2
            assert end["error"] is None
            assert end["pid"] == server.pid
        finally:
            stop(server)
    assert server.returncode == 0, server_err.read_text()
    lines = [json.loads(line) for line in server_out.read_text().splitlines()]
    assert [line["event"] for line in lines] == ["started", "stopped"]

    # Kept for its retention: the inspector sees it completed.
    done = run_json([str(go_tools["goinspect"]), *redis, "task", QUEUE, task_id])
    assert done["state"] == "completed"
    assert done["completed_at_unix"] is not None

    # Go asynq's own CLI reads the queue.
    url = urlsplit(real_redis_url)
    db = url.path.strip("/") or "0"
    env = {**os.environ, "HOME": str(tmp_path)}  # no ~/.asynq.yaml from the developer's home
    proc = subprocess.Popen(
        [str(go_tools["asynq"]), "stats", "--json", "--uri", f"{url.hostname}:{url.port}", "--db", db],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        out_text, err_text = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.communicate(timeout=5)
    assert proc.returncode == 0, err_text
    stats = json.loads(out_text)
    queues = {q["Queue"]: q for q in stats["queues"]}
    assert queues[QUEUE]["Completed"] == 1
    assert queues[QUEUE]["Processed"] == 1
    assert queues[QUEUE]["Pending"] == 0
