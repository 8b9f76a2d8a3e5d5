"""Jepsen-style accounting for chaos scenarios: ledgers kept outside Redis, and a checker.

Every process of a scenario writes what it did to its own file in one ledger directory. A record is
one line of space-separated fields written with a single ``os.write`` on an ``O_APPEND`` descriptor,
so a writer killed with SIGKILL leaves only whole lines (its ``write`` calls are in the page cache)
and nothing depends on the Redis under test. Fields never contain spaces (task ids, queue names and
kinds are chosen by the scenario; outcomes are single words).

Files and lines (``t`` is ``time.time()``):

- ``producer-<name>.log``, written by ``ProducerLedger``: ``try <id> <queue> <kind> <runs> <terminal> <t>``
  before each enqueue, then ``ack <id> <t>`` when it returned or ``fail <id> <t> <ErrorClass>`` when it
  raised. ``runs`` is how many handler starts the task needs when nothing goes wrong (2 for a task
  that fails once), ``terminal`` the state it must end in: ``completed`` (a handler run ended ``ok``),
  ``archived`` (it is in the archive), or ``gone`` (archived, or no longer in the queue at all: for
  records the scenario planted itself).
- ``handler-<pid>.log``, written by ``HandlerLedger`` in the worker: ``start <id> <pid> <retry> <t>``
  when a handler starts, ``end <id> <pid> <retry> <t> <outcome>`` when it stops (``ok``, ``error``,
  ``cancelled``, ...). A run killed with its process has no ``end``.
- ``faults.log``, written by ``FaultLedger`` (the nemesis): ``fault <what> <inflight> <t> <pid>`` for
  each crash it caused, where ``inflight`` is the most task runs that crash can cut short (the killed
  worker's concurrency; every worker's, for a Redis crash) and ``pid`` the killed worker (0 if the
  fault is not the death of one worker).

``check(redis, ledger_dir, queues)`` reads the ledgers, then asks Redis, through ``Inspector``
only, which of the queues' tasks are still pending, active, scheduled, retry or archived; it works
for every URL the engine accepts (``redis://``, ``redis-sentinel://``, ``redis-cluster://``, ...).
It returns a ``Verdict``:

- ``accepted``: enqueues acknowledged to the producer; ``refused``: enqueues that raised;
- ``lost``: accepted tasks that did not reach their terminal state and are in no queue state either;
- ``not_terminal``: accepted tasks still pending, active, scheduled or in retry (or, for
  ``completed`` tasks, whose run ended ``ok`` but Redis still holds them outside ``completed``);
- ``duplicated``: handler runs that ended ``ok`` beyond the first, per task, summed (work done twice);
- ``extra_starts``: handler starts beyond each task's ``runs``, summed (every re-run, finished or not);
- ``bound``: the sum of the faults' ``inflight``; at-least-once allows ``extra_starts <= bound``;
- ``unexpected``: starts of ids no producer tried, tasks in the queues no producer tried, and
  ``completed`` tasks Redis holds as completed while no run of theirs ended ``ok``;
- ``recovered``: enqueues that raised (indeterminate) but whose task ran or exists anyway;
- ``orphans``: runs cut short by a worker's death (no ``end`` in the killed pid's ledger), and
  ``recovery_s``: for each, the time from the kill to the task's next start (``inf`` if none).

``Verdict.ok`` is true when nothing is lost, not terminal or unexpected and the starts are within
the bound; ``Verdict.render()`` prints the figures in one block. Typical use::

    producer = ProducerLedger(ledger_dir, "p1")
    task_id = producer.attempt(queue, "ok")           # before Client.enqueue(..., task_id=task_id)
    producer.ack(task_id)                             # or producer.fail(task_id, exc)
    ...                                               # workers write handler-<pid>.log
    FaultLedger(ledger_dir).record("sigkill", inflight=8, pid=1234)
    verdict = check(redis_url, ledger_dir, [queue])
    assert verdict.ok, verdict.render()
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from asynq_py.engine import DecodeError, Inspector, TaskNotFoundError, TaskState
from asynq_py.engine.broker import RedisLike

__all__ = [
    "FaultLedger",
    "HandlerLedger",
    "ProducerLedger",
    "Verdict",
    "check",
    "read_ledgers",
]

OPEN_STATES = (TaskState.PENDING, TaskState.ACTIVE, TaskState.SCHEDULED, TaskState.RETRY)
"""States from which a task will still run (or be recovered)."""
TERMINALS = ("completed", "archived", "gone")
LIST_PAGE = 1000


class _AppendFile:
    """One ``O_APPEND`` descriptor; each record is a single ``os.write`` of one line."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, *fields: object) -> None:
        line = " ".join(str(f) for f in fields) + "\n"
        os.write(self._fd, line.encode())

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class ProducerLedger:
    """What one producer tried to enqueue, and whether Redis acknowledged it."""

    def __init__(self, ledger_dir: Path, name: str) -> None:
        self._file = _AppendFile(Path(ledger_dir) / f"producer-{name}.log")

    def attempt(
        self, queue: str, kind: str, *, runs: int = 1, terminal: str = "completed", task_id: str | None = None
    ) -> str:
        """Record an enqueue about to be made and return its task id (a fresh one unless given)."""
        if terminal not in TERMINALS:
            raise ValueError(f"terminal must be one of {TERMINALS}, not {terminal!r}")
        task_id = task_id or uuid.uuid4().hex
        self._file.write("try", task_id, queue, kind, runs, terminal, time.time())
        return task_id

    def ack(self, task_id: str) -> None:
        """Record that the enqueue of ``task_id`` returned."""
        self._file.write("ack", task_id, time.time())

    def fail(self, task_id: str, exc: BaseException) -> None:
        """Record that the enqueue of ``task_id`` raised ``exc`` (its outcome is unknown)."""
        self._file.write("fail", task_id, time.time(), type(exc).__name__)

    def close(self) -> None:
        """Close the file."""
        self._file.close()


class HandlerLedger:
    """Handler starts and ends of the calling process (``handler-<pid>.log``, opened lazily per pid)."""

    def __init__(self, ledger_dir: Path) -> None:
        self._dir = Path(ledger_dir)
        self._pid = 0
        self._file: _AppendFile | None = None

    def _out(self) -> _AppendFile:
        pid = os.getpid()
        if self._file is None or pid != self._pid:  # a forked child writes its own file
            self._file = _AppendFile(self._dir / f"handler-{pid}.log")
            self._pid = pid
        return self._file

    def start(self, task_id: str, retry_count: int) -> None:
        """Record that a handler run of ``task_id`` starts."""
        self._out().write("start", task_id, os.getpid(), retry_count, time.time())

    def end(self, task_id: str, retry_count: int, outcome: str) -> None:
        """Record that the run ends with ``outcome`` (one word: ok, error, cancelled, ...)."""
        self._out().write("end", task_id, os.getpid(), retry_count, time.time(), outcome)


class FaultLedger:
    """Faults the nemesis caused, with the most task runs each can cut short."""

    def __init__(self, ledger_dir: Path) -> None:
        self._file = _AppendFile(Path(ledger_dir) / "faults.log")

    def record(self, what: str, *, inflight: int, pid: int = 0) -> None:
        """Record one crash (``what`` is one word, e.g. ``sigkill``; ``pid`` the worker it killed)."""
        self._file.write("fault", what, inflight, time.time(), pid)

    def close(self) -> None:
        """Close the file."""
        self._file.close()


@dataclass(frozen=True)
class Attempt:
    """One enqueue as the producer ledger tells it."""

    task_id: str
    queue: str
    kind: str
    runs: int
    terminal: str
    acked: bool | None
    """True if acknowledged, False if it raised, None if the producer died before knowing."""


@dataclass(frozen=True)
class Run:
    """One handler start, with its end if the ledger has one."""

    task_id: str
    pid: int
    retry_count: int
    started: float
    outcome: str | None
    ended: float | None = None
    """When the handler stopped (None if the ledger has no end)."""


@dataclass(frozen=True)
class Fault:
    """One crash the nemesis caused."""

    what: str
    inflight: int
    t: float
    pid: int


@dataclass
class Ledgers:
    """Everything the ledger directory holds."""

    attempts: dict[str, Attempt] = field(default_factory=dict)
    runs: dict[str, list[Run]] = field(default_factory=lambda: defaultdict(list))
    faults: list[Fault] = field(default_factory=list)


def _lines(path: Path) -> Iterable[list[str]]:
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.endswith("\n"):  # a torn last line cannot happen with one write, but be safe
                yield line.split()


def read_ledgers(ledger_dir: Path) -> Ledgers:
    """Read every producer, handler and fault ledger in ``ledger_dir``."""
    ledgers = Ledgers()
    directory = Path(ledger_dir)
    outcomes: dict[str, bool] = {}
    for path in sorted(directory.glob("producer-*.log")):
        for rec in _lines(path):
            if rec[0] == "try":
                ledgers.attempts[rec[1]] = Attempt(rec[1], rec[2], rec[3], int(rec[4]), rec[5], None)
            else:
                outcomes[rec[1]] = rec[0] == "ack"
    for task_id, acked in outcomes.items():
        ledgers.attempts[task_id] = replace(ledgers.attempts[task_id], acked=acked)
    for path in sorted(directory.glob("handler-*.log")):
        open_runs: dict[tuple[str, int], list[Run]] = defaultdict(list)
        for rec in _lines(path):
            if rec[0] == "start":
                open_runs[(rec[1], int(rec[3]))].append(
                    Run(rec[1], int(rec[2]), int(rec[3]), float(rec[4]), None)
                )
            else:
                pending = open_runs[(rec[1], int(rec[3]))]
                started = pending.pop(0)
                ledgers.runs[rec[1]].append(replace(started, outcome=rec[5], ended=float(rec[4])))
        for pending in open_runs.values():
            for run in pending:
                ledgers.runs[run.task_id].append(run)
    faults = directory / "faults.log"
    if faults.exists():
        ledgers.faults = [Fault(rec[1], int(rec[2]), float(rec[3]), int(rec[4])) for rec in _lines(faults)]
    for runs in ledgers.runs.values():
        runs.sort(key=lambda r: r.started)
    return ledgers


@dataclass
class Verdict:
    """The checker's figures; lists hold task ids (``not_terminal`` and ``unexpected`` with a reason)."""

    accepted: int = 0
    refused: int = 0
    lost: list[str] = field(default_factory=list)
    not_terminal: list[tuple[str, str]] = field(default_factory=list)
    duplicated: int = 0
    extra_starts: int = 0
    bound: int = 0
    faults: int = 0
    unexpected: list[tuple[str, str]] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)
    starts: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    recovery_s: list[float] = field(default_factory=list)

    @property
    def within_bound(self) -> bool:
        """Whether the re-runs are within what the recorded faults can explain."""
        return self.extra_starts <= self.bound

    @property
    def ok(self) -> bool:
        """Nothing lost, left behind or unexpected, and no more re-runs than the faults explain."""
        return not (self.lost or self.not_terminal or self.unexpected) and self.within_bound

    def render(self) -> str:
        """The figures as a few lines of text, with up to five examples of each problem."""

        def sample(items: list[str] | list[tuple[str, str]]) -> str:
            return f"  e.g. {items[:5]}" if items else ""

        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.by_kind.items()))
        within = "within" if self.within_bound else "OVER"
        return "\n".join(
            [
                f"accepted      {self.accepted} ({kinds}); refused {self.refused}; "
                f"recovered {len(self.recovered)}",
                f"lost          {len(self.lost)}{sample(self.lost)}",
                f"not terminal  {len(self.not_terminal)}{sample(self.not_terminal)}",
                f"duplicated    {self.duplicated} (runs that ended ok again)",
                f"extra starts  {self.extra_starts} of {self.starts} starts; bound {self.bound} "
                f"({self.faults} faults x in-flight): {within}",
                f"unexpected    {len(self.unexpected)}{sample(self.unexpected)}",
                f"orphans       {len(self.recovery_s)}, rerun after the kill within "
                f"{max(self.recovery_s, default=0.0):.1f}s at worst",
            ]
        )


def _queue_states(inspector: Inspector, queue: str) -> dict[str, TaskState]:
    """Map every task id of ``queue`` in an open state or the archive to that state."""
    found: dict[str, TaskState] = {}
    for state in (*OPEN_STATES, TaskState.ARCHIVED):
        page = 1
        while True:
            infos = inspector.list_tasks(queue, state, page=page, page_size=LIST_PAGE)
            found.update((info.id, state) for info in infos)
            if len(infos) < LIST_PAGE:
                break
            page += 1
    return found


def check(redis: RedisLike, ledger_dir: Path, queues: Iterable[str]) -> Verdict:
    """Compare the ledgers in ``ledger_dir`` with what Redis holds for ``queues`` (see the module doc).

    ``redis`` is anything ``Inspector`` takes: a URL of any topology, or a client (left open).
    """
    ledgers = read_ledgers(ledger_dir)
    verdict = Verdict(faults=len(ledgers.faults), bound=sum(f.inflight for f in ledgers.faults))
    verdict.recovery_s = _recovery_times(ledgers)
    inspector = Inspector(redis)
    try:
        states: dict[str, TaskState] = {}
        for queue in queues:
            states.update(_queue_states(inspector, queue))
        for task_id, attempt in ledgers.attempts.items():
            runs = ledgers.runs.get(task_id, [])
            oks = sum(1 for r in runs if r.outcome == "ok")
            state = states.get(task_id)
            if not attempt.acked:
                verdict.refused += attempt.acked is False
                if runs or state is not None:
                    verdict.recovered.append(task_id)
                continue
            verdict.accepted += 1
            verdict.by_kind[attempt.kind] += 1
            verdict.starts += len(runs)
            verdict.extra_starts += max(0, len(runs) - attempt.runs)
            verdict.duplicated += max(0, oks - 1)
            if state in OPEN_STATES:
                verdict.not_terminal.append((task_id, state.value))
            elif attempt.terminal == "archived" and state != TaskState.ARCHIVED:
                verdict.lost.append(task_id)
            elif attempt.terminal == "completed" and state == TaskState.ARCHIVED:
                verdict.not_terminal.append((task_id, "archived"))
            elif attempt.terminal == "completed" and not oks:
                verdict.lost.append(task_id)
                if _state_of(inspector, attempt.queue, task_id) == TaskState.COMPLETED:
                    verdict.lost.pop()
                    verdict.unexpected.append((task_id, "completed in Redis, no run ended ok"))
        for task_id in ledgers.runs.keys() - ledgers.attempts.keys():
            verdict.unexpected.append((task_id, "ran, never enqueued"))
        for task_id in states.keys() - ledgers.attempts.keys():
            verdict.unexpected.append((task_id, f"{states[task_id].value} in Redis, never enqueued"))
    finally:
        inspector.close()
    return verdict


def _recovery_times(ledgers: Ledgers) -> list[float]:
    """For each run cut short by a worker kill: seconds from the kill to that task's next start."""
    unfinished: dict[int, list[Run]] = defaultdict(list)
    for runs in ledgers.runs.values():
        for run in runs:
            if run.outcome is None:
                unfinished[run.pid].append(run)
    delays: list[float] = []
    for fault in ledgers.faults:
        for cut in unfinished.get(fault.pid, []) if fault.pid else []:
            later = [r.started for r in ledgers.runs[cut.task_id] if r.started > fault.t]
            delays.append(min(later) - fault.t if later else float("inf"))
    return delays


def _state_of(inspector: Inspector, queue: str, task_id: str) -> TaskState | None:
    try:
        return inspector.get_task_info(queue, task_id).state
    except (TaskNotFoundError, DecodeError):  # gone, or a hash with no message of its own: lost
        return None
