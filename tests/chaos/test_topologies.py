"""Issue 10's scenarios: Redis Cluster and Sentinel failovers, a live slot migration, a partitioned
worker, and a master cut off in a minority partition, each checked by the ledgers (``ledger.check``).

(a) cluster, tasks on 6 queues over 3 masters, the slot-0 master SIGKILLed (not restarted) while
    tasks longer than the lease run: 0 lost, every long task completes exactly once, every worker's
    heartbeat fresh again within 5 s of the promotion;
(b) the slot of a busy queue migrated live to another master: 0 lost, 0 duplicate executions;
(c) Sentinel, a backlog draining plus live enqueues, master SIGKILLed: 0 lost, tasks start again
    within 5 s of the promotion;
(d) one worker partitioned away (network namespace, link cut): no two runs of a task overlap, no
    run the partitioned worker had started completes after another worker took its task;
(e) the master and its producer cut off in a minority: with ``durability="replicated"`` no acked
    enqueue is lost (each loss is a raised error); with the default, acked enqueues are lost.

Sizes follow ``ASYNQ_CHAOS`` (``short`` in ``make test``, ``full`` by hand; see docs/reliability.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from chaos.harness import (
    Kind,
    WorkerProc,
    Workload,
    background,
    report,
    wait_drained,
    worker_command,
    worker_env,
)
from chaos.ledger import ProducerLedger, Run, check, read_ledgers
from conftest import RealServer
from helpers import wait_for
from redis.crc import key_slot
from topology import (
    Cluster,
    SentinelGroup,
    cluster_factory,
    partition_factory,
    replication,
    sentinel_factory,
    start_sentinels,
)

from asynq_py.engine import Client, Inspector, Task

pytestmark = [pytest.mark.real, pytest.mark.slow, pytest.mark.cluster, pytest.mark.timeout(1800)]
__all__ = ["cluster_factory", "partition_factory", "sentinel_factory"]

FULL = os.environ.get("ASYNQ_CHAOS", "short") == "full"
SIZES: dict[str, Any] = (
    {"a_tasks": 10_000, "a_long": 24, "b_tasks": 10_000, "c_tasks": 20_000, "c_rate": 100.0,
     "d_cuts": (20.0, 60.0), "e_cut_s": 20.0, "e_rate": 50.0}
    if FULL else
    {"a_tasks": 600, "a_long": 6, "b_tasks": 600, "c_tasks": 1_000, "c_rate": 40.0,
     "d_cuts": (10.0,), "e_cut_s": 8.0, "e_rate": 40.0}
)  # fmt: skip
"""Scenario sizes of this run (``ASYNQ_CHAOS=full`` for the figures in docs/reliability.md)."""
WORKERS = 2
CONCURRENCY = 8
LEASE_S = 10
"""The lease of (a)'s workers: it must outlast a failover (about 3 s) plus a heartbeat interval
(1 s) with room to spare; the fast profile's 6 s (truncated to whole seconds) does not."""
BACK_S = 5.0
LONG = Kind(
    "long",
    lambda rng, tid: Task("ok", {"ms": (LEASE_S + 3) * 1000}, task_id=tid, timeout=120),
    1,
    "completed",
)
"""A task that runs longer than its lease, so it lives only if the heartbeat keeps extending it."""
QUICK = {"ok": 1, "aok": 1}


def spread_queues(per_master: int, masters: int = 3) -> list[str]:
    """Queue names whose hash slots fall ``per_master`` to each third of the slot space."""
    found: dict[int, list[str]] = {i: [] for i in range(masters)}
    i = 0
    while any(len(v) < per_master for v in found.values()):
        name = f"tq{i}"
        third = min(masters - 1, key_slot(f"asynq:{{{name}}}:pending".encode()) * masters // 16384)
        if len(found[third]) < per_master:
            found[third].append(name)
        i += 1
    return [q for names in found.values() for q in names]


def preload(url: str, ledger_dir: Path, queues: list[str], total: int, long: int = 0) -> list[str]:
    """Enqueue ``long`` long tasks, then ``total`` quick ones over ``queues`` (replicated, so that an
    acked enqueue survives the failover); return the long tasks' ids."""
    long_ids: list[str] = []
    with Client(url, durability="replicated") as client:
        ledger = ProducerLedger(ledger_dir, "preload")
        loads = [Workload(client, ledger, q, seed=n) for n, q in enumerate(queues)]
        for n in range(long):
            long_ids.append(loads[n % len(loads)].enqueue(LONG))
        for n in range(total):
            load = loads[n % len(loads)]
            load.enqueue(load.pick(QUICK))
        ledger.close()
    return long_ids


def settle_then(ledger_dir: Path, ids: list[str], at_least_s: float) -> None:
    """Wait until every task of ``ids`` has been running for ``at_least_s``."""

    def running() -> bool:
        runs = read_ledgers(ledger_dir).runs
        return all(runs.get(i) and time.time() - runs[i][0].started >= at_least_s for i in ids)

    wait_for(running, 60, "the long tasks to be running", interval=0.2)


def healthy_beating(url: str) -> bool:
    """Two servers have a heartbeat."""
    with Inspector(url) as inspector:
        return len(inspector.servers()) == 2


def overlapping(runs: list[Run]) -> list[tuple[Run, Run]]:
    """Pairs of runs of one task on different workers whose lifetimes overlap."""
    pairs = []
    ordered = sorted(runs, key=lambda r: r.started)
    for i, a in enumerate(ordered):
        for b in ordered[i + 1 :]:
            if a.pid != b.pid and (a.ended is None or b.started < a.ended):
                pairs.append((a, b))
    return pairs


# (a) -------------------------------------------------------------------------------------------


def test_a_cluster_master_sigkill(cluster_factory, make_fleet, ledger_dir) -> None:
    cluster: Cluster = cluster_factory()
    queues = spread_queues(2)
    fleet = make_fleet(cluster.url, queues)
    long_ids = preload(cluster.url, ledger_dir, queues, SIZES["a_tasks"], SIZES["a_long"])
    for _ in range(WORKERS):
        fleet.spawn(CONCURRENCY, lease_s=LEASE_S)
    inspector = Inspector(cluster.url)
    raw = redis.RedisCluster(host="127.0.0.1", port=cluster.replicas[-1].port)
    try:
        settle_then(ledger_dir, long_ids, 1.5)
        fleet.faults.record("cluster-master-sigkill", inflight=WORKERS * CONCURRENCY)
        _, replica = cluster.kill_master_of(0)
        cluster.wait_promoted(replica)
        promoted = time.time()

        def fresh() -> bool:
            # Each beat writes score = beat time + 2 (twice the 1 s interval) to asynq:servers.
            try:
                scores = [score for _, score in raw.zrange("asynq:servers", 0, -1, withscores=True)]
            except (redis.RedisError, redis.exceptions.RedisClusterException):
                return False
            return len(scores) == WORKERS and all(score - 2 >= int(promoted) + 1 for score in scores)

        wait_for(fresh, 30, "every worker's heartbeat after the promotion", interval=0.1)
        heartbeat_s = time.time() - promoted
        wait_drained(inspector, queues, timeout=600)
    finally:
        inspector.close()
        raw.close()
    verdict = check(cluster.url, ledger_dir, queues)
    runs = read_ledgers(ledger_dir).runs
    long_runs = {i: [(r.outcome, r.pid, round(r.started - promoted, 1)) for r in runs[i]] for i in long_ids}
    report(
        f"(a) cluster: slot-0 master SIGKILLed, {SIZES['a_tasks']} tasks on 6 queues, {len(long_ids)} "
        f"tasks of {LEASE_S + 3} s (lease {LEASE_S} s)",
        [verdict.render(), f"heartbeat fresh again {heartbeat_s:.2f}s after the promotion"],
    )
    assert fleet.exited() == []
    assert verdict.ok, verdict.render()
    assert verdict.lost == []
    assert verdict.not_terminal == []
    assert all(len(r) == 1 and r[0][0] == "ok" for r in long_runs.values()), long_runs
    assert heartbeat_s <= BACK_S


# (b) -------------------------------------------------------------------------------------------


def test_b_live_slot_migration_of_a_busy_queue(cluster_factory, make_fleet, ledger_dir) -> None:
    cluster: Cluster = cluster_factory()
    queue = spread_queues(1)[0]
    fleet = make_fleet(cluster.url, [queue])
    preload(cluster.url, ledger_dir, [queue], SIZES["b_tasks"])
    for _ in range(WORKERS):
        fleet.spawn(CONCURRENCY)
    slot = key_slot(f"asynq:{{{queue}}}:pending".encode())
    source = cluster.owner(slot)
    target = next(m for m in cluster.masters if m.port != source)

    def produce(stop: threading.Event) -> None:
        with Client(cluster.url) as client:
            workload = Workload(client, ProducerLedger(ledger_dir, "live"), queue, seed=7)
            while not stop.is_set():
                workload.enqueue(workload.pick(QUICK))
                stop.wait(0.02)

    inspector = Inspector(cluster.url)
    try:
        with background(produce):
            wait_for(lambda: len(read_ledgers(ledger_dir).runs) > 50, 60, "the workers to be busy")
            t0 = time.monotonic()
            moved = cluster.migrate_slot(slot, target, batch=20, pause_s=0.05)
            migrate_s = time.monotonic() - t0
            time.sleep(2)
        assert cluster.owner(slot) == target.port
        wait_drained(inspector, [queue], timeout=600)
    finally:
        inspector.close()
    verdict = check(cluster.url, ledger_dir, [queue])
    report(
        f"(b) live migration of slot {slot} (queue {queue}) under load",
        [verdict.render(), f"{moved} keys moved in {migrate_s:.2f}s"],
    )
    assert fleet.exited() == []
    assert verdict.ok, verdict.render()
    assert verdict.lost == []
    assert verdict.duplicated == 0
    assert verdict.extra_starts == 0


# (c) -------------------------------------------------------------------------------------------


def test_c_sentinel_master_sigkill(sentinel_factory, make_fleet, ledger_dir, queue) -> None:
    group: SentinelGroup = sentinel_factory()
    fleet = make_fleet(group.url, [queue])
    preload(group.url, ledger_dir, [queue], SIZES["c_tasks"])
    for _ in range(WORKERS):
        fleet.spawn(CONCURRENCY)

    def produce(stop: threading.Event) -> None:
        # Replicated: an enqueue acked by the old master alone may die with it (that is (e)).
        with Client(group.url, durability="replicated", replication_timeout_s=0.5) as client:
            workload = Workload(client, ProducerLedger(ledger_dir, "live"), queue, seed=3)
            while not stop.is_set():
                workload.enqueue(workload.pick(QUICK))
                stop.wait(1.0 / SIZES["c_rate"])

    inspector = Inspector(group.url)
    try:
        with background(produce):
            wait_for(lambda: len(read_ledgers(ledger_dir).runs) > 100, 60, "the workers to be busy")
            fleet.faults.record("sentinel-master-sigkill", inflight=WORKERS * CONCURRENCY)
            group.kill_master()
            group.wait_promoted()
            promoted = time.time()
            wait_for(
                lambda: any(
                    r.started >= promoted for rs in read_ledgers(ledger_dir).runs.values() for r in rs
                ),
                30,
                "a task to start after the promotion",
                interval=0.1,
            )
            resumed_s = time.time() - promoted
            time.sleep(2)
        wait_drained(inspector, [queue], timeout=900)
    finally:
        inspector.close()
    verdict = check(group.url, ledger_dir, [queue])
    # Each failover starts a new epoch. The bound (one fault of every run in flight) is that of the
    # one failover of a dead master; see docs/reliability.md for what a second one would cost.
    failovers = int(group.sentinels[0].master()["config-epoch"])
    report(
        f"(c) Sentinel: master SIGKILLed while {SIZES['c_tasks']} tasks drain with live enqueues",
        [verdict.render(), f"first start {resumed_s:.2f}s after the promotion; failovers {failovers}"],
    )
    assert fleet.exited() == []
    assert verdict.ok, f"{verdict.render()}\nfailovers {failovers}"
    assert verdict.lost == []
    assert resumed_s <= BACK_S


# (d) -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cut_s", SIZES["d_cuts"])
def test_d_partitioned_worker(
    partition_factory, real_server_factory, make_fleet, ledger_dir, tmp_path, queue, cut_s
):
    part = partition_factory()
    server: RealServer = real_server_factory(
        extra=("--bind", f"127.0.0.1 {part.host_ip}", "--protected-mode", "no")
    )
    fleet = make_fleet(server.url, [queue])
    ns_url = f"redis://{part.host_ip}:{server.port}/0"
    cut_off = WorkerProc(
        [
            "ip",
            "netns",
            "exec",
            part.name,
            *worker_command(ns_url, [queue], ledger_dir, concurrency=CONCURRENCY),
        ],
        tmp_path / "partitioned.log",
        600,
        CONCURRENCY,
    )
    fleet.workers.append(cut_off)
    long_kind = Kind(
        "long", lambda rng, tid: Task("ok", {"ms": 15_000}, task_id=tid, timeout=120), 1, "completed"
    )
    with Client(server.url) as client:
        ledger = ProducerLedger(ledger_dir, "p")
        workload = Workload(client, ledger, queue)
        ids = [workload.enqueue(long_kind) for _ in range(CONCURRENCY)]
        wait_for(
            lambda: len(read_ledgers(ledger_dir).runs) == CONCURRENCY,
            30,
            "the partitioned worker to take all",
        )
        # Idle, so it takes the recovered tasks at once: a late lease write from the cut-off
        # worker would then land on leases the healthy one holds (the failure this guards).
        healthy = fleet.spawn(CONCURRENCY)
        wait_for(lambda: healthy_beating(server.url), 30, "the healthy worker's first heartbeat")
        ledger.close()
    fleet.faults.record("partition", inflight=CONCURRENCY, pid=cut_off.pid)
    part.cut()
    try:
        time.sleep(cut_s)
    finally:
        part.heal()
        healed = time.time()
    inspector = Inspector(server.url)
    try:
        wait_drained(inspector, [queue], timeout=300)
        time.sleep(3)  # anything the partitioned worker still held would show now
    finally:
        inspector.close()
    verdict = check(server.url, ledger_dir, [queue])
    runs = read_ledgers(ledger_dir).runs
    overlaps = {i: overlapping(runs[i]) for i in ids if overlapping(runs[i])}
    # A run the partitioned worker started before the heal must not complete: its lease was gone.
    late_ok = [
        r for i in ids for r in runs[i] if r.pid == cut_off.pid and r.started < healed and r.outcome == "ok"
    ]
    report(
        f"(d) one worker partitioned for {cut_s:g} s with {CONCURRENCY} tasks of 15 s running, one idle",
        [verdict.render(), f"runs cut short on the partitioned worker: "
         f"{sum(1 for i in ids for r in runs[i] if r.pid == cut_off.pid and r.outcome != 'ok')}"],
    )  # fmt: skip
    assert cut_off.alive()
    assert healthy.alive()
    assert overlaps == {}, overlaps
    assert late_ok == [], "the partitioned worker completed a task it had lost"
    assert verdict.ok, verdict.render()
    assert verdict.duplicated == 0


# (e) -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("durability", ["replicated", "async"])
def test_e_minority_partition(partition_factory, make_fleet, ledger_dir, tmp_path, queue, durability) -> None:
    part = partition_factory()
    repl = ("--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0")
    master = part.start_server(tmp_path / "master", repl)
    replicas = [
        RealServer(
            tmp_path / f"replica{i}",
            # The master sees them at the veth address; Sentinels must reach them on loopback.
            extra=(*repl, "--replicaof", part.ns_ip, str(master.port), "--replica-announce-ip", "127.0.0.1"),
        )
        for i in range(2)
    ]
    sentinels = []
    try:
        for r in replicas:
            r.start()
        wait_for(
            lambda: all(replication(r.port).get("master_link_status") == "up" for r in replicas),
            20,
            "replicas",
        )
        sentinels = start_sentinels(tmp_path / "sentinels", master.port, 3, master_host=part.ns_ip)
        group = SentinelGroup(master, replicas, sentinels)
        wait_for(group.converged, 30, "the sentinels", interval=0.2)
        seconds = SIZES["e_cut_s"] + 6
        with open(tmp_path / "producer.log", "wb") as out:
            producer = part.popen(
                [sys.executable, "-m", "chaos.producer", "--redis", master.url, "--queue", queue,
                 "--ledger-dir", str(ledger_dir), "--seconds", str(seconds), "--rate", str(SIZES["e_rate"]),
                 "--durability", durability, "--replication-timeout", "0.5"],
                env=worker_env(), stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        wait_for(
            lambda: sum(a.acked is True for a in read_ledgers(ledger_dir).attempts.values()) >= 20,
            60,
            "the producer's first acknowledged enqueues",
            interval=0.1,
        )
        part.cut()
        try:
            promoted = wait_for(
                lambda: next((r for r in replicas if replication(r.port).get("role") == "master"), None),
                SIZES["e_cut_s"] + 30,
                "a replica to be promoted",
                interval=0.2,
            )
            time.sleep(max(0.0, SIZES["e_cut_s"] - 2))
        finally:
            part.heal()
        assert producer.wait(timeout=seconds + 30) == 0, (tmp_path / "producer.log").read_text()
        wait_for(
            lambda: replication(master.port, part.ns_ip).get("role") == "slave",
            60,
            "the old master's demotion",
        )
        fleet = make_fleet(group.url, [queue])
        fleet.spawn(CONCURRENCY)
        inspector = Inspector(group.url)
        try:
            wait_drained(inspector, [queue], timeout=300)
        finally:
            inspector.close()
        verdict = check(group.url, ledger_dir, [queue])
        report(
            f"(e) master and producer ({durability}) cut off in a minority for {SIZES['e_cut_s']:g} s, "
            f"replica on port {promoted.port} promoted",
            [verdict.render()],
        )
        if durability == "replicated":
            assert verdict.refused > 0, "no enqueue was refused while the master was cut off"
            assert verdict.lost == [], f"{len(verdict.lost)} acked enqueues lost"
            assert verdict.ok, verdict.render()
        else:
            # What the replicated mode is for: Redis acked these, then the failover dropped them.
            assert len(verdict.lost) > 0
    finally:
        for s in sentinels:
            s.stop()
        for r in replicas:
            r.stop()
        master.stop()
