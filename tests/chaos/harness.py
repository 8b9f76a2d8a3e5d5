"""Processes, workload and nemesis of the chaos scenarios (the accounting itself is in ``ledger``).

- ``Tier``: the sizes of a run. The short tier (default) runs in ``make test``; ``ASYNQ_CHAOS=full``
  selects the full sizes, ``ASYNQ_CHAOS_SOAK_S`` sets the soak's length (full default 7200 s) and
  ``ASYNQ_CHAOS_SCALE`` the scale checks' task count (full default 1,000,000).
- ``WorkerProc``/``Fleet``: ``chaos.worker`` processes, each a session leader so that SIGKILL of its
  process group takes any children too; a watchdog kills any worker that outlives its run.
- ``Workload``: the mixed task kinds (ok, fail once, always fail, timeout, scheduled, unique), each
  enqueued with its ledger ``try``/``ack``/``fail`` records.
- ``wait_for``/``wait_drained``: polls against a deadline.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from helpers import wait_for

from asynq_py.engine import AsynqError, Client, Inspector, Task
from asynq_py.engine.scripts import all_scripts

from .ledger import FaultLedger, ProducerLedger

TESTS_DIR = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Tier:
    """Sizes of the scenarios for one run."""

    name: str
    kill_loop_tasks: int
    kill_loop_interval_s: float
    sigterm_tasks: int
    outage_s: float
    poison_good: int
    soak_s: float
    soak_rate: float
    soak_kill_every_s: float
    scale_tasks: int

    @classmethod
    def from_env(cls) -> Tier:
        """The tier chosen by ``ASYNQ_CHAOS`` (``short`` or ``full``) and its overrides."""
        name = os.environ.get("ASYNQ_CHAOS", "short")
        if name == "full":
            tier = cls("full", 20_000, 2.0, 2_000, 30.0, 10_000, 7200.0, 50.0, 90.0, 1_000_000)
        elif name == "short":
            tier = cls("short", 1_500, 2.0, 36, 6.0, 600, 25.0, 40.0, 6.0, 10_000)
        else:
            raise ValueError(f"ASYNQ_CHAOS must be 'short' or 'full', not {name!r}")
        soak = float(os.environ.get("ASYNQ_CHAOS_SOAK_S", tier.soak_s))
        scale = int(os.environ.get("ASYNQ_CHAOS_SCALE", tier.scale_tasks))
        return cls(**{**tier.__dict__, "soak_s": soak, "scale_tasks": scale})


def open_count(inspector: Inspector, queues: list[str]) -> int:
    """Tasks of ``queues`` still pending, active, scheduled or in retry."""
    total = 0
    for queue in queues:
        info = inspector.get_queue_info(queue)
        total += info.pending + info.active + info.scheduled + info.retry
    return total


def wait_drained(inspector: Inspector, queues: list[str], timeout: float) -> None:
    """Wait until no task of ``queues`` is left to run (Redis errors count as not yet)."""

    def drained() -> bool:
        try:
            return open_count(inspector, queues) == 0
        except AsynqError:
            return False

    try:
        wait_for(drained, timeout, f"queues {queues} to drain", interval=0.5)
    except AssertionError as exc:
        left = {}
        for q in queues:
            info = inspector.get_queue_info(q)
            left[q] = {"pending": info.pending, "active": info.active, "scheduled": info.scheduled,
                       "retry": info.retry}  # fmt: skip
        exc.add_note(f"left: {left}")
        raise


def worker_command(
    redis_url: str,
    queues: list[str],
    ledger_dir: Path,
    *,
    concurrency: int = 8,
    processes: int = 1,
    shutdown_timeout_s: float = 8.0,
    lease_s: int | None = None,
) -> list[str]:
    """The command line of one chaos worker (run it with ``worker_env()``); ``lease_s`` replaces the
    fast profile's lease."""
    lease = [] if lease_s is None else ["--lease", str(lease_s)]
    return [sys.executable, "-m", "chaos.worker", "--redis", redis_url, "--queues", ",".join(queues),
            "--ledger-dir", str(ledger_dir), "--concurrency", str(concurrency),
            "--processes", str(processes), "--shutdown-timeout", str(shutdown_timeout_s), *lease]  # fmt: skip


def worker_env() -> dict[str, str]:
    """The environment of a chaos worker: ours, with ``tests`` on ``PYTHONPATH``."""
    path = os.pathsep.join(p for p in (str(TESTS_DIR), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}


class WorkerProc:
    """One chaos worker process, killed with its process group by ``kill`` or by its watchdog."""

    def __init__(self, command: list[str], log_path: Path, lifetime_s: float, concurrency: int) -> None:
        self.log_path = log_path
        self.concurrency = concurrency
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in kill()
        self.proc = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True, env=worker_env(),
        )  # fmt: skip
        self.pid = self.proc.pid
        self.killed = False
        """Whether the harness killed it (a worker that exits by itself while not killed crashed)."""
        self._watchdog = threading.Timer(lifetime_s, self.kill)
        self._watchdog.daemon = True
        self._watchdog.start()

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.proc.poll() is None

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the worker itself."""
        self.proc.send_signal(signum)

    def wait(self, timeout: float) -> int:
        """Return the exit code; fail if the worker runs past ``timeout``."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"worker {self.pid} still running after {timeout:g}s\n{self.log()}"
            ) from None

    def kill(self) -> None:
        """SIGKILL the process group and reap the worker (idempotent)."""
        self._watchdog.cancel()
        self.killed = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        try:
            self.proc.wait(10)
        finally:
            self._log.close()

    def rss_kb(self) -> int:
        """Resident set size of the worker process in KiB (0 once it is gone)."""
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except FileNotFoundError:
            return 0
        line = next((x for x in status.splitlines() if x.startswith("VmRSS:")), "VmRSS: 0 kB")
        return int(line.split()[1])

    def log(self, tail: int | None = 6000) -> str:
        """The worker's log: its last ``tail`` characters, or all of it with ``tail=None``."""
        text = self.log_path.read_text(errors="replace")
        return text[-tail:] if tail else text


class Fleet:
    """Chaos workers on one Redis and one ledger directory; ``close`` kills whatever is left."""

    def __init__(
        self, redis_url: str, queues: list[str], ledger_dir: Path, log_dir: Path, lifetime_s: float = 600.0
    ) -> None:
        self.redis_url = redis_url
        self.queues = queues
        self.ledger_dir = ledger_dir
        self.log_dir = log_dir
        self.lifetime_s = lifetime_s
        self.faults = FaultLedger(ledger_dir)
        self.workers: list[WorkerProc] = []
        self.started = 0

    def spawn(
        self,
        concurrency: int = 8,
        shutdown_timeout_s: float = 8.0,
        processes: int = 1,
        lease_s: int | None = None,
    ) -> WorkerProc:
        """Start one more worker."""
        command = worker_command(
            self.redis_url, self.queues, self.ledger_dir,
            concurrency=concurrency, shutdown_timeout_s=shutdown_timeout_s, processes=processes,
            lease_s=lease_s,
        )  # fmt: skip
        worker = WorkerProc(command, self.log_dir / f"worker{self.started}.log", self.lifetime_s, concurrency)
        self.started += 1
        self.workers.append(worker)
        return worker

    def alive(self) -> list[WorkerProc]:
        """The workers still running."""
        return [w for w in self.workers if w.alive()]

    def exited(self) -> list[WorkerProc]:
        """The workers that exited although the harness neither killed nor stopped them."""
        return [w for w in self.workers if not w.killed and not w.alive()]

    def sigkill(self, worker: WorkerProc) -> None:
        """SIGKILL ``worker`` (recorded as a fault that may orphan its whole concurrency)."""
        self.faults.record("sigkill", inflight=worker.concurrency, pid=worker.pid)
        worker.kill()

    def kill_and_replace(self, rng: random.Random) -> WorkerProc:
        """SIGKILL a random live worker and start a new one like it; return the new one."""
        victim = rng.choice(self.alive())
        self.sigkill(victim)
        return self.spawn(victim.concurrency)

    def close(self) -> None:
        """SIGKILL every worker still running."""
        for worker in self.workers:
            worker.kill()
        self.faults.close()


@dataclass(frozen=True)
class Kind:
    """One kind of task in a workload: how to build it and what the checker must expect."""

    name: str
    build: Callable[[random.Random, str], Task]
    runs: int
    terminal: str


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("ok", lambda rng, tid: Task("ok", {"ms": rng.randint(10, 200)}, task_id=tid), 1, "completed"),
        Kind("aok", lambda rng, tid: Task("aok", {"ms": rng.randint(10, 200)}, task_id=tid), 1, "completed"),
        Kind(
            "fail_once",
            lambda rng, tid: Task("fail_once", {"ms": 20}, task_id=tid, max_retry=3),
            2,
            "completed",
        ),
        Kind(
            "always_fail",
            lambda rng, tid: Task("always_fail", None, task_id=tid, max_retry=1),
            2,
            "archived",
        ),
        Kind(
            "timeout",
            lambda rng, tid: Task(
                "timeout", {"first_ms": 5000, "ms": 20}, task_id=tid, timeout=1, max_retry=3
            ),
            2,
            "completed",
        ),
        Kind(
            "scheduled",
            lambda rng, tid: Task("aok", {"ms": 20}, task_id=tid, process_in=rng.uniform(0.5, 5.0)),
            1,
            "completed",
        ),
        Kind(
            "unique",
            lambda rng, tid: Task("ok", {"ms": 20, "key": rng.getrandbits(64)}, task_id=tid, unique=60),
            1,
            "completed",
        ),
    )
}
MIXED = {"ok": 40, "aok": 30, "fail_once": 8, "always_fail": 2, "timeout": 4, "scheduled": 8, "unique": 8}
"""The soak's mix (weights)."""


class Workload:
    """Enqueues tasks of chosen kinds through one client, recording each in a producer ledger."""

    def __init__(self, client: Client, ledger: ProducerLedger, queue: str, seed: int = 0) -> None:
        self.client = client
        self.ledger = ledger
        self.queue = queue
        self.rng = random.Random(seed)
        self.acked = 0
        self.failed = 0

    def enqueue(self, kind: str | Kind) -> str:
        """Enqueue one task of ``kind`` (a name in ``KINDS`` or a ``Kind``) and return its id.

        A ``unique`` task is then enqueued again: refused while the first holds its lock.
        """
        kind = KINDS[kind] if isinstance(kind, str) else kind
        task_id = self.ledger.attempt(self.queue, kind.name, runs=kind.runs, terminal=kind.terminal)
        task = kind.build(self.rng, task_id)
        self._send(task_id, task)
        if kind.name == "unique":
            # Refused while the first holds the lock; accepted (and run) if the first already finished.
            twin_id = self.ledger.attempt(self.queue, "unique_twin")
            self._send(twin_id, Task(task.type, bytes(task.payload), task_id=twin_id, unique=60))
        return task_id

    def _send(self, task_id: str, task: Task) -> None:
        try:
            self.client.enqueue(task, queue=self.queue)
        except AsynqError as exc:
            self.ledger.fail(task_id, exc)
            self.failed += 1
        else:
            self.ledger.ack(task_id)
            self.acked += 1

    def pick(self, weights: dict[str, int]) -> str:
        """A kind drawn from ``weights``."""
        return self.rng.choices(list(weights), weights=list(weights.values()))[0]


@contextlib.contextmanager
def background(target: Callable[[threading.Event], None]) -> Iterator[threading.Event]:
    """Run ``target(stop)`` in a thread; set ``stop`` and join it on exit (errors are re-raised)."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            target(stop)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(30)
    if errors:
        raise errors[0]


def fd_count(pid: int) -> int:
    """Open file descriptors of ``pid`` (0 once it is gone)."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except FileNotFoundError:
        return 0


class RedisProbe:
    """Raw reads of the private Redis under test that ``Inspector`` does not offer (SLOWLOG, INFO).

    SLOWLOG is reset by a Redis restart, so ``harvest`` is called before each one and at the end; the
    server is started with ``SLOWLOG_ARGS`` so that every command over 1 ms is kept.
    """

    SLOWLOG_ARGS = ("--slowlog-log-slower-than", "1000", "--slowlog-max-len", "10000")

    def __init__(self, url: str) -> None:
        self.url = url
        self.longest_us = 0
        self.longest_cmd = ""
        self._scripts = {lua.sha: f"{name}.lua" for name, lua in all_scripts().items()}

    def reset(self) -> None:
        """Forget the longest command seen so far."""
        self.longest_us = 0
        self.longest_cmd = ""

    def _client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=10)

    def harvest(self) -> None:
        """Fold the SLOWLOG into the longest command seen so far, then reset it."""
        with self._client() as client:
            for entry in client.slowlog_get(10000):
                if entry["duration"] > self.longest_us:
                    self.longest_us = int(entry["duration"])
                    words = entry["command"].decode(errors="replace").split()[:2]
                    if words[0].upper() == "EVALSHA" and len(words) > 1:
                        words[1] = self._scripts.get(words[1], words[1])
                    self.longest_cmd = " ".join(w[:40] for w in words)
            client.slowlog_reset()

    def used_memory(self) -> int:
        """Redis's used memory in bytes."""
        with self._client() as client:
            return int(client.info("memory")["used_memory"])

    def dbsize(self) -> int:
        """How many keys the database holds."""
        with self._client() as client:
            return int(client.dbsize())


def crash_redis(server: Any, down_s: float = 1.0, load_timeout_s: float = 120.0) -> None:
    """SIGKILL a ``RealServer`` (tests/conftest.py), wait ``down_s``, start it again on the same port
    (loading a long run's AOF on a busy machine takes a while, hence ``load_timeout_s``)."""
    proc = server.proc
    proc.kill()
    proc.wait(10)
    server.proc = None
    time.sleep(down_s)
    server.start(timeout_s=load_timeout_s)


def stall_redis(server: Any, seconds: float) -> None:
    """Freeze a ``RealServer`` with SIGSTOP for ``seconds``, then SIGCONT it."""
    server.proc.send_signal(signal.SIGSTOP)
    try:
        time.sleep(seconds)
    finally:
        server.proc.send_signal(signal.SIGCONT)


def report(title: str, lines: list[str]) -> None:
    """Print a scenario's figures; with ``ASYNQ_CHAOS_REPORT=path`` also append them there (Markdown)."""
    text = "\n".join([f"### {title}", "", "```", *lines, "```", ""])
    print("\n" + text)
    path = os.environ.get("ASYNQ_CHAOS_REPORT")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(text + "\n")
