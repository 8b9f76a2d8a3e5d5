"""R23: a soak with a mixed workload and a nemesis; nothing lost, re-runs within bound, no leaks.

Producers enqueue the mixed workload (ok, fail once, always fail, timeouts, scheduled, unique) at a
steady rate while a nemesis cycles through worker SIGKILLs, a Redis stall (SIGSTOP 3 s) and a Redis
SIGKILL with AOF. One worker is never killed: its RSS and open descriptors are sampled over the
whole run. Short tier: 25 s; ``ASYNQ_CHAOS=full``: 2 hours (``ASYNQ_CHAOS_SOAK_S`` to change it).
"""

from __future__ import annotations

import random
import threading
import time

import pytest
from chaos.harness import (
    MIXED,
    RedisProbe,
    Tier,
    Workload,
    background,
    crash_redis,
    fd_count,
    report,
    stall_redis,
    wait_drained,
)
from chaos.ledger import ProducerLedger, check

from asynq_py.engine import Client, Inspector

pytestmark = [pytest.mark.real, pytest.mark.slow]

WORKERS = 3
CONCURRENCY = 8
NEMESIS = ("sigkill", "redis-crash", "sigkill", "redis-stall")
RSS_GROWTH_LIMIT_KB = 20 * 1024
FD_DRIFT_LIMIT = 10


def _timeout() -> float:
    return float(Tier.from_env().soak_s) + 900


@pytest.mark.timeout(_timeout())
def test_soak_mixed_workload_with_nemesis(tier, aof_redis, make_fleet, ledger_dir) -> None:
    queues = ["soak-a", "soak-b"]
    fleet = make_fleet(aof_redis.url, queues, lifetime_s=tier.soak_s + 900)
    steady = fleet.spawn(CONCURRENCY)
    for _ in range(WORKERS - 1):
        fleet.spawn(CONCURRENCY)
    probe = RedisProbe(aof_redis.url)
    baseline_keys = probe.dbsize()
    redis_up = threading.Event()
    redis_up.set()
    samples: list[tuple[float, int, int, int]] = []  # (t, steady RSS KiB, steady fds, Redis used memory)
    events: list[str] = []
    started = time.monotonic()

    def produce(stop: threading.Event) -> None:
        rng = random.Random(7)
        with Client(aof_redis.url) as client:
            workloads = [
                Workload(client, ProducerLedger(ledger_dir, q), q, seed=i) for i, q in enumerate(queues)
            ]
            next_at = time.monotonic()
            while not stop.is_set() and time.monotonic() - started < tier.soak_s:
                workload = rng.choice(workloads)
                workload.enqueue(workload.pick(MIXED))
                next_at += 1.0 / tier.soak_rate
                stop.wait(max(0.0, next_at - time.monotonic()))

    def nemesis(stop: threading.Event) -> None:
        rng = random.Random(11)
        step = 0
        while not stop.wait(tier.soak_kill_every_s) and time.monotonic() - started < tier.soak_s:
            what = NEMESIS[step % len(NEMESIS)]
            step += 1
            at = f"{time.monotonic() - started:7.1f}s"
            if what == "sigkill":
                victim = rng.choice([w for w in fleet.alive() if w is not steady])
                fleet.sigkill(victim)
                fleet.spawn(CONCURRENCY)
                events.append(f"{at} SIGKILL worker {victim.pid}")
            elif what == "redis-stall":
                stall_redis(aof_redis, 3.0)
                events.append(f"{at} Redis SIGSTOP 3 s")
            else:
                probe.harvest()
                inflight = sum(w.concurrency for w in fleet.alive())
                fleet.faults.record("redis-sigkill", inflight=inflight)
                redis_up.clear()
                crash_redis(aof_redis)
                redis_up.set()
                events.append(f"{at} Redis SIGKILL, restarted with its AOF")

    def sample(stop: threading.Event) -> None:
        every = max(1.0, tier.soak_s / 60)
        while not stop.wait(every):
            if redis_up.is_set():
                try:
                    memory = probe.used_memory()
                except Exception:
                    memory = -1  # Redis restarting
                samples.append((time.monotonic() - started, steady.rss_kb(), fd_count(steady.pid), memory))

    def snapshot() -> None:
        samples.append(
            (time.monotonic() - started, steady.rss_kb(), fd_count(steady.pid), probe.used_memory())
        )

    with background(sample):
        snapshot()
        with background(nemesis), background(produce):
            while time.monotonic() - started < tier.soak_s:
                assert steady.alive(), steady.log()
                time.sleep(1)
        drain_started = time.monotonic()
        inspector = Inspector(aof_redis.url)
        try:
            wait_drained(inspector, queues, timeout=600)
        finally:
            inspector.close()
        drain_s = time.monotonic() - drain_started
        samples.append(
            (time.monotonic() - started, steady.rss_kb(), fd_count(steady.pid), probe.used_memory())
        )
    probe.harvest()
    verdict = check(aof_redis.url, ledger_dir, queues)
    # Server and worker keys of the killed workers expire within 2 x heartbeat.
    time.sleep(3)
    end_keys = probe.dbsize()

    warm = [s for s in samples if s[0] >= min(60.0, tier.soak_s / 5)] or samples
    rss_growth = warm[-1][1] - warm[0][1]
    fds = [s[2] for s in warm]
    shown = samples[:: max(1, len(samples) // 12)] + samples[-1:]
    report(
        f"Soak: {tier.soak_s:.0f} s at {tier.soak_rate:g} tasks/s, {WORKERS} workers x {CONCURRENCY}",
        [
            verdict.render(),
            f"nemesis       {len(events)} events: "
            + "; ".join(events[:8])
            + (" ..." if len(events) > 8 else ""),
            f"drain after the run {drain_s:.1f}s; Redis keys {baseline_keys} at start, {end_keys} at the end",
            f"longest Redis command {probe.longest_us / 1000:.1f} ms ({probe.longest_cmd})",
            "steady worker RSS MiB over time: "
            + ", ".join(f"{t / 60:.1f}m {rss / 1024:.1f}" for t, rss, _, _ in shown),
            f"steady worker RSS growth after warm-up {rss_growth / 1024:.1f} MiB; fds {min(fds)}-{max(fds)}",
            "Redis used memory MiB over time: "
            + ", ".join(f"{t / 60:.1f}m {mem / 2**20:.1f}" for t, _, _, mem in shown if mem >= 0),
        ],
    )
    assert verdict.ok, verdict.render()
    assert verdict.accepted >= tier.soak_rate * tier.soak_s * 0.5
    assert fleet.exited() == [], [w.log() for w in fleet.exited()]
    assert rss_growth <= RSS_GROWTH_LIMIT_KB
    assert max(fds) - min(fds) <= FD_DRIFT_LIMIT
    # Completed tasks keep no hash (no retention); archived ones and the stats counters stay.
    assert end_keys <= baseline_keys + verdict.by_kind["always_fail"] + 200, (baseline_keys, end_keys)
