"""Issue 17's flow-control proofs (a)-(f) on the Redis Cluster and Sentinel fixtures, short sizes: the
dequeue, throttle and seeding scripts keep every key under the queue's hash tag, so they run on one
cluster slot; through Sentinel they reach the current master. Each scenario gets its own queue and
worker processes (tests/chaos/flow.py); the full sizes run on the standalone server
(tests/engine/test_flow_control.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from chaos import flow
from helpers import unique_queue
from topology import cluster_factory, sentinel_factory

pytestmark = [pytest.mark.real, pytest.mark.slow, pytest.mark.cluster, pytest.mark.timeout(600)]
__all__ = ["cluster_factory", "sentinel_factory"]


def run_scenarios(url: str, workdir: Path) -> None:
    """(a) to (f) at short sizes, one after the other."""
    scenarios: list[tuple[str, Callable[[flow.Fleet], object]]] = [
        ("a", lambda f: flow.queue_concurrency(f, tasks=20)),
        ("b", lambda f: flow.queue_rate(f, tasks=150)),
        ("c", lambda f: flow.type_limit(f, limited=10, others=150)),
        ("d", flow.limit_change),
        ("e", lambda f: flow.throttle(f, "athrottle")),
        ("f", flow.crash_frees_slots),
    ]
    for name, scenario in scenarios:
        (workdir / name).mkdir()
        fleet = flow.Fleet(url, unique_queue(f"flow-{name}"), workdir / name)
        try:
            print(name, scenario(fleet))
        finally:
            fleet.stop()


def test_flow_control_on_a_cluster(cluster_factory, tmp_path: Path) -> None:
    run_scenarios(cluster_factory().url, tmp_path)


def test_flow_control_through_sentinel(sentinel_factory, tmp_path: Path) -> None:
    run_scenarios(sentinel_factory().url, tmp_path)
