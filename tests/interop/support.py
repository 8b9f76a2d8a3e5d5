"""Helpers shared by the interop tests: running the Go programs, polling, and putting asynq-py's
records into the JSON shapes the Go programs print so the two can be compared field by field.

Every subprocess started here has a timeout and is stopped in a ``finally`` block; every wait
polls with a deadline. The Redis server is shared by the whole session, so each test works in
queues of its own (``helpers.unique_queue``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from helpers import wait_for

from asynq_py.engine import QueueInfo, ServerInfo, TaskInfo, WorkerInfo

T = TypeVar("T")

RUN_TIMEOUT_S = 30.0
"""Longest a one-shot Go program (goclient, goinspect, asynq) may run."""
START_TIMEOUT_S = 15.0
"""Longest a goserver or pyserver may take to print its "started" line."""


def b64(data: bytes | str | None) -> str | None:
    if data is None:
        return None
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


def unb64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)


def _communicate(
    args: list[str], *, stdin: str | None, timeout: float, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    proc = subprocess.Popen(
        args,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        out, err = proc.communicate(stdin, timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.communicate(timeout=5)
    return proc.returncode, out, err


class Go:
    """The Go programs of the harness, bound to one Redis URL."""

    def __init__(self, tools: dict[str, Path], redis_url: str, home: Path) -> None:
        self.tools = tools
        self.redis_url = redis_url
        self.home = home

    # goclient -----------------------------------------------------------------------------

    def enqueue_many(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send requests to goclient; return its replies (TaskInfo or {"error", "kind"}) in order."""
        stdin = "".join(json.dumps(r) + "\n" for r in requests)
        code, out, err = _communicate(
            [str(self.tools["goclient"]), "-redis", self.redis_url], stdin=stdin, timeout=RUN_TIMEOUT_S
        )
        assert code == 0, f"goclient exited {code}\nstdout: {out}\nstderr: {err}"
        replies = [json.loads(line) for line in out.splitlines() if line.strip()]
        assert len(replies) == len(requests), (replies, err)
        return replies

    def enqueue(
        self,
        task_type: str,
        payload: bytes | str | None = None,
        *,
        headers: dict[str, str] | None = None,
        payload_json: Any = None,
        **opts: Any,
    ) -> dict[str, Any]:
        """Enqueue one task with Go's client; ``opts`` use goclient's keys (``unique_s``, ...)."""
        request: dict[str, Any] = {"type": task_type, "opts": opts}
        if payload is not None:
            request["payload_b64"] = b64(payload)
        if payload_json is not None:
            request["payload_json"] = payload_json
        if headers is not None:
            request["headers"] = headers
        return self.enqueue_many([request])[0]

    # gotrace ------------------------------------------------------------------------------

    def trace_enqueue(self, queue: str, task_type: str = "trace:go") -> dict[str, Any]:
        """Enqueue a task under a Go producer span; return its task, trace and span ids and headers."""
        args = [str(self.tools["gotrace"]), "-redis", self.redis_url, "-mode", "enqueue", "-queue", queue,
                "-type", task_type]  # fmt: skip
        code, out, err = _communicate(args, stdin=None, timeout=RUN_TIMEOUT_S)
        assert code == 0, f"gotrace exited {code}\nstdout: {out}\nstderr: {err}"
        return dict(json.loads(out))

    def trace_serve(self, queue: str, count: int) -> list[dict[str, Any]]:
        """Run a Go server with a trace-extracting handler until it processed ``count`` tasks."""
        args = [str(self.tools["gotrace"]), "-redis", self.redis_url, "-mode", "serve", "-queue", queue,
                "-count", str(count)]  # fmt: skip
        code, out, err = _communicate(args, stdin=None, timeout=RUN_TIMEOUT_S)
        assert code == 0, f"gotrace exited {code}\nstdout: {out}\nstderr: {err}"
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    # goinspect ----------------------------------------------------------------------------

    def inspect_raw(self, *args: str) -> tuple[int, Any]:
        """Run goinspect; return its exit code and its JSON output."""
        code, out, err = _communicate(
            [str(self.tools["goinspect"]), "-redis", self.redis_url, *args], stdin=None, timeout=RUN_TIMEOUT_S
        )
        try:
            return code, json.loads(out)
        except json.JSONDecodeError:
            raise AssertionError(f"goinspect {args} printed no JSON (exit {code})\n{out}\n{err}") from None

    def inspect(self, *args: str) -> Any:
        """Run goinspect and return its JSON output; fail unless it succeeded."""
        code, data = self.inspect_raw(*args)
        assert code == 0, f"goinspect {args} failed: {data}"
        return data

    # asynq (Go's own CLI) -----------------------------------------------------------------

    def cli(self, *args: str) -> str:
        """Run Go asynq's CLI against the session's Redis; return its stdout."""
        url = urlsplit(self.redis_url)
        db = url.path.strip("/") or "0"
        env = {**os.environ, "HOME": str(self.home)}  # no ~/.asynq.yaml of the developer's
        code, out, err = _communicate(
            [str(self.tools["asynq"]), *args, "--uri", f"{url.hostname}:{url.port}", "--db", db],
            stdin=None,
            timeout=RUN_TIMEOUT_S,
            env=env,
        )
        assert code == 0, f"asynq {args} exited {code}\nstdout: {out}\nstderr: {err}"
        return out

    # goserver -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def server(self, workdir: Path, *flags: str, queues: dict[str, int]) -> Iterator[ServerProcess]:
        """Run a goserver for the ``with`` block; it is stopped (SIGTERM, then SIGKILL) at the end.

        Defaults: shutdown timeout 2 s, forwarder every 1 s, idle poll every 100 ms.
        """
        command = [str(self.tools["goserver"]), "-redis", self.redis_url,
                   "-shutdown-timeout", "2s", "-delayed-check", "1s", "-task-check", "100ms"]  # fmt: skip
        with run_server("goserver", command, workdir, queues, flags) as srv:
            yield srv


PYSERVER = Path(__file__).resolve().parent / "pyserver.py"


@contextlib.contextmanager
def py_server(redis_url: str, workdir: Path, *flags: str, queues: dict[str, int]) -> Iterator[ServerProcess]:
    """Run asynq-py's Server (pyserver.py) in a subprocess for the ``with`` block, like ``Go.server``.

    Its flags are goserver's, in seconds (``-retry-delay 2``).
    """
    command = [sys.executable, str(PYSERVER), "-redis", redis_url]
    with run_server("pyserver", command, workdir, queues, flags) as srv:
        yield srv


@contextlib.contextmanager
def run_server(
    name: str, command: list[str], workdir: Path, queues: dict[str, int], flags: tuple[str, ...]
) -> Iterator[ServerProcess]:
    srv = ServerProcess(name, command, workdir, queues, flags)
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()


class ServerProcess:
    """One goserver or pyserver process with a ledger of handler calls."""

    def __init__(
        self, name: str, command: list[str], workdir: Path, queues: dict[str, int], flags: tuple[str, ...]
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        tag = uuid.uuid4().hex[:6]
        self.name = name
        self.ledger_path = workdir / f"{name}-{tag}.ledger.jsonl"
        self.out_path = workdir / f"{name}-{tag}.out"
        self.err_path = workdir / f"{name}-{tag}.err"
        queue_flag = ",".join(f"{q}={p}" for q, p in queues.items())
        self.args = [*command, "-queues", queue_flag, "-ledger", str(self.ledger_path), *flags]
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        with self.out_path.open("wb") as out, self.err_path.open("wb") as err:
            self.proc = subprocess.Popen(self.args, stdout=out, stderr=err)
        wait_for(self._started, timeout=START_TIMEOUT_S, what=f"{self.name} to start")

    def _started(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited {self.proc.returncode}: {self.stderr()}")
        return any(line.get("event") == "started" for line in self.stdout_lines())

    def stdout_lines(self) -> list[dict[str, Any]]:
        if not self.out_path.exists():
            return []
        lines = []
        for line in self.out_path.read_text().splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                lines.append(json.loads(line))
        return lines

    def stderr(self) -> str:
        return self.err_path.read_text() if self.err_path.exists() else ""

    def ledger(self, task_id: str | None = None) -> list[dict[str, Any]]:
        """The handler events so far (all, or those of one task), in order."""
        if not self.ledger_path.exists():
            return []
        events = []
        for line in self.ledger_path.read_text().splitlines():
            with contextlib.suppress(json.JSONDecodeError):  # a line being written
                events.append(json.loads(line))
        return [e for e in events if task_id is None or e["id"] == task_id]

    def wait_ledger(
        self, task_id: str, event: str, *, count: int = 1, timeout: float = 20.0
    ) -> list[dict[str, Any]]:
        """Wait until ``task_id`` has ``count`` ``event`` entries; return all its entries."""

        def check() -> list[dict[str, Any]] | None:
            self._assert_alive()
            events = self.ledger(task_id)
            return events if sum(e["event"] == event for e in events) >= count else None

        return wait_for(check, timeout=timeout, what=f"{count} {event!r} ledger event(s) of {task_id}")

    def _assert_alive(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited {self.proc.returncode}: {self.stderr()}")

    def kill(self) -> None:
        """SIGKILL: the server dies without clearing its state or its tasks' leases."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=15)

    def stop(self) -> None:
        """SIGTERM (a graceful Shutdown), then SIGKILL if it takes too long."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)


# asynq-py records in the JSON shapes of the Go programs ---------------------------------------


def _unix_int(when: datetime | None) -> int | None:
    return None if when is None else int(when.timestamp())


def _unix_float(when: datetime | None) -> float | None:
    return None if when is None else when.timestamp()


def task_json(info: TaskInfo) -> dict[str, Any]:
    """A ``TaskInfo`` of ours in the shape of the harness's ``TaskInfoJSON``.

    Go decodes an absent (or empty) payload as nil, which the harness prints as null.
    """
    payload = bytes(info.payload)
    return {
        "id": info.id,
        "queue": info.queue,
        "type": info.type,
        "payload_b64": b64(payload) if payload else None,
        "headers": dict(info.headers),
        "state": info.state.value,
        "max_retry": info.max_retry,
        "retried": info.retried,
        "last_err": info.last_error,
        "last_failed_at_unix": _unix_int(info.last_failed_at),
        "timeout_s": info.timeout.total_seconds() if info.timeout else 0.0,
        "deadline_unix": _unix_int(info.deadline),
        "group": info.group,
        "retention_s": info.retention.total_seconds() if info.retention else 0.0,
        "next_process_at_unix": _unix_float(info.next_process_at),
        "completed_at_unix": _unix_int(info.completed_at),
        "is_orphaned": info.is_orphaned,
        "result_b64": b64(info.result) if info.result else None,
    }


def assert_same_task(ours: dict[str, Any], theirs: dict[str, Any], *, now_tolerance_s: float = 3.0) -> None:
    """Compare two task JSONs field by field.

    ``next_process_at_unix`` of a pending task is "now" at the time of reading, so it is compared
    with a tolerance; every other field must be equal.
    """
    assert set(ours) == set(theirs), (sorted(ours), sorted(theirs))
    for name in ours:
        a, b = ours[name], theirs[name]
        if name == "next_process_at_unix" and a is not None and b is not None:
            tolerance = now_tolerance_s if ours["state"] == "pending" else 1.0
            assert abs(a - b) <= tolerance, f"{name}: ours {a} vs Go {b}"
            continue
        assert a == b, f"{name}: ours {a!r} vs Go {b!r}\nours: {ours}\nGo:   {theirs}"


def queue_json(info: QueueInfo) -> dict[str, Any]:
    """Our ``QueueInfo`` in the shape goinspect prints for ``queue-info``."""
    return {
        "Queue": info.queue,
        "MemoryUsage": info.memory_usage,
        "Latency": info.latency.total_seconds(),
        "Size": info.size,
        "Groups": info.groups,
        "Pending": info.pending,
        "Active": info.active,
        "Scheduled": info.scheduled,
        "Retry": info.retry,
        "Archived": info.archived,
        "Completed": info.completed,
        "Aggregating": info.aggregating,
        "Processed": info.processed,
        "Failed": info.failed,
        "ProcessedTotal": info.processed_total,
        "FailedTotal": info.failed_total,
        "Paused": info.paused,
        "Timestamp": info.timestamp.timestamp(),
    }


def worker_json(w: WorkerInfo) -> dict[str, Any]:
    return {
        "TaskID": w.task_id,
        "TaskType": w.task_type,
        "TaskPayload": b64(w.task_payload) if w.task_payload else None,
        "Queue": w.queue,
        "Started": _unix_float(w.started),
        "Deadline": _unix_float(w.deadline),
    }


def server_json(s: ServerInfo) -> dict[str, Any]:
    """Our ``ServerInfo`` in the shape goinspect prints for ``servers``."""
    return {
        "ID": s.id,
        "Host": s.host,
        "PID": s.pid,
        "Concurrency": s.concurrency,
        "Queues": dict(s.queues),
        "StrictPriority": s.strict_priority,
        "Started": _unix_float(s.started),
        "Status": s.status,
        "ActiveWorkers": sorted((worker_json(w) for w in s.active_workers), key=lambda w: w["TaskID"]),
    }


def assert_close_times(ours: dict[str, Any], theirs: dict[str, Any], fields: tuple[str, ...]) -> None:
    """Times that went through a protobuf Timestamp may differ below a microsecond."""
    for name in fields:
        a, b = ours.pop(name), theirs.pop(name)
        assert (a is None) == (b is None), f"{name}: ours {a} vs Go {b}"
        if a is not None:
            assert abs(a - b) < 1e-3, f"{name}: ours {a} vs Go {b}"
