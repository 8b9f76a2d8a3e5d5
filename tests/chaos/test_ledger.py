"""The checker itself: each figure it prints is counted from ledgers and Redis as the module doc says."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import fakeredis
import pytest
from chaos.ledger import FaultLedger, HandlerLedger, ProducerLedger, check, read_ledgers

from asynq_py.engine import Client, Inspector, Task, TaskState, keys


@pytest.fixture
def fake() -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis(server=fakeredis.FakeServer())


def test_checker_counts_each_kind_of_anomaly(fake, tmp_path) -> None:
    queue = "q"
    producer = ProducerLedger(tmp_path, "p")
    handler = HandlerLedger(tmp_path)
    client = Client(fake)
    ids: dict[str, str] = {}

    def enqueue(name: str, *, acked: bool = True, terminal: str = "completed", **options: object) -> str:
        task_id: str = producer.attempt(queue, name, terminal=terminal)
        client.enqueue(Task("ok", task_id=task_id, retention=3600, **options), queue=queue)
        if acked:
            producer.ack(task_id)
        else:
            producer.fail(task_id, ConnectionError("reply lost"))
        ids[name] = task_id
        return task_id

    def run(task_id: str, outcome: str | None = "ok", retry: int = 0) -> None:
        handler.start(task_id, retry)
        if outcome:
            handler.end(task_id, retry, outcome)

    inspector = Inspector(fake)
    for name in ("fine", "twice", "lost", "phantom"):
        enqueue(name)
    enqueue("waiting")  # still pending
    enqueue("retrying", process_in=600)  # scheduled: not terminal either
    enqueue("indeterminate", acked=False)
    enqueue("archived", terminal="archived")
    inspector.archive_task(queue, ids["archived"])
    enqueue("unarchived", terminal="archived")
    inspector.delete_task(queue, ids["unarchived"])
    # What the workers did: lost/phantom never ran (lost is gone from Redis; phantom is marked completed).
    run(ids["fine"], None)  # cut short by a crash, then rerun
    run(ids["fine"], "ok", retry=1)
    run(ids["twice"])
    run(ids["twice"], retry=1)
    run(ids["archived"], "error")
    stranger = uuid.uuid4().hex
    run(stranger)
    # Done, as far as Redis is concerned (completed tasks may also be gone once their retention ends).
    for name in ("fine", "twice", "lost", "phantom"):
        fake.lrem(keys.pending_key(queue), 0, ids[name])
        if name != "phantom":
            fake.delete(keys.task_key(queue, ids[name]))
    fake.hset(keys.task_key(queue, ids["phantom"]), "state", "completed")
    FaultLedger(tmp_path).record("sigkill", inflight=1, pid=os.getpid())

    verdict = check(fake, tmp_path, [queue])
    assert verdict.accepted == 8
    assert verdict.refused == 1
    assert verdict.recovered == [ids["indeterminate"]]
    assert sorted(verdict.lost) == sorted([ids["lost"], ids["unarchived"]])
    assert sorted(verdict.not_terminal) == sorted(
        [(ids["waiting"], "pending"), (ids["retrying"], "scheduled")]
    )
    assert verdict.duplicated == 1  # twice
    assert verdict.extra_starts == 2  # fine and twice ran twice, archived once as expected
    assert (verdict.faults, verdict.bound, verdict.within_bound) == (1, 1, False)
    assert sorted(verdict.unexpected) == sorted(
        [(stranger, "ran, never enqueued"), (ids["phantom"], "completed in Redis, no run ended ok")]
    )
    assert verdict.recovery_s == [float("inf")]  # the crash cut "fine", recorded too late to see a rerun
    assert not verdict.ok
    text = verdict.render()
    for line in (
        "lost          2",
        "not terminal  2",
        "duplicated    1",
        "bound 1",
        "OVER",
        "unexpected    2",
    ):
        assert line in text, text
    assert inspector.get_task_info(queue, ids["archived"]).state == TaskState.ARCHIVED


def test_handler_records_survive_sigkill_whole(tmp_path) -> None:
    """A writer killed mid-stream leaves only whole lines; each process writes its own file."""
    script = (
        "import os, signal, sys\n"
        "from chaos.ledger import HandlerLedger\n"
        "ledger = HandlerLedger(sys.argv[1])\n"
        "for i in range(5000):\n"
        "    ledger.start('t%d' % i, 0)\n"
        "    if i == 3000 and sys.argv[2] == 'kill':\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    ledger.end('t%d' % i, 0, 'ok')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path), mode], env=env)
        for mode in ("kill", "run")
    ]
    codes = [p.wait(60) for p in procs]
    assert codes == [-9, 0]
    ledgers = read_ledgers(tmp_path)
    runs = [r for runs in ledgers.runs.values() for r in runs]
    assert len(runs) == 2 * 5000 - 1999  # the killed writer stopped after start 3000
    assert sum(r.outcome is None for r in runs) == 1
