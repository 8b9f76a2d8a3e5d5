"""The CLI on a Redis Cluster and on Sentinel, before, during and after a failover (issue 10):
``enqueue``, ``ls``, ``stats``, ``kill --all`` and ``servers`` either work or fail in one line with
exit 5 while the master is down, and all work again within seconds of the promotion. ``stats``
on a cluster sums the primaries and shows one row each.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from topology import Cluster, SentinelGroup, cluster_factory, sentinel_factory

from asynq_py.engine import Server, ServerConfig

pytestmark = [pytest.mark.real, pytest.mark.cluster]
__all__ = ["cluster_factory", "sentinel_factory"]

FAST: dict[str, Any] = {
    "heartbeat_interval_s": 0.5,
    "lease_duration_s": 5,
    "recoverer_interval_s": 1,
    "task_check_interval_s": 0.2,
    "shutdown_timeout_s": 2.0,
}
QUEUES = [f"cq{i}" for i in range(6)]
"""Queues whose slots spread over the three masters of a test cluster."""
BACK_S = 5.0
"""Every command works again this soon after the promotion."""


@pytest.fixture
def server_on(servers: list[Server]) -> Callable[[str], Server]:
    def start(url: str) -> Server:
        server = Server(url, ServerConfig(**{**FAST, "queues": {"served": 1}}))
        server.start(lambda ctx, task: None)
        servers.append(server)
        return server

    return start


def commands(cli: Any, url: str, tag: str) -> dict[str, Callable[[], Any]]:
    """The five commands, each returning its Run."""
    return {
        "enqueue": lambda: cli(
            "--redis", url, "enqueue", "t", "-q", QUEUES[0], "--id", f"{tag}-{time.monotonic_ns()}"
        ),
        "ls": lambda: cli("--redis", url, "ls", "pending", "-q", QUEUES[0], "--json"),
        "stats": lambda: cli("--redis", url, "stats", "--json"),
        "kill": lambda: cli("--redis", url, "kill", "--all", "pending", "-q", QUEUES[1], "-y"),
        "servers": lambda: cli("--redis", url, "servers", "--json"),
    }


def clean(run: Any) -> bool:
    """Success, or a one-line failure with exit 5; never a traceback."""
    assert "Traceback" not in run.stdout + run.stderr, run.stderr
    assert run.exit_code in (0, 5), (run.exit_code, run.stderr)
    if run.exit_code == 5:
        assert len([line for line in run.stderr.splitlines() if line.startswith("error: ")]) == 1, run.stderr
    return bool(run.exit_code == 0)


def exercise(cli: Any, url: str, promote: Callable[[], float]) -> dict[str, float]:
    """Run every command before the failover (all work), while it happens (clean), and after it:
    return how long after the promotion each worked again."""
    for q in QUEUES:
        cli("--redis", url, "enqueue", "t", "-q", q).check()
    for name, run in commands(cli, url, "before").items():
        assert clean(run()), name
    servers = [json.loads(line) for line in commands(cli, url, "x")["servers"]().stdout.splitlines()]
    assert len(servers) == 1
    promoted_at = promote()
    back: dict[str, float] = {}
    for name, run in commands(cli, url, "after").items():
        deadline = promoted_at + BACK_S + 10
        while not clean(run()):
            assert time.monotonic() < deadline, f"{name} still failing"
            time.sleep(0.1)
        if name == "servers":
            # The running server's heartbeat must be fresh again, not only the command working.
            while not commands(cli, url, "x")["servers"]().stdout.strip():
                assert time.monotonic() < deadline, "no live server after the failover"
                time.sleep(0.1)
        back[name] = time.monotonic() - promoted_at
    return back


def test_cli_on_a_cluster_through_a_failover(cli, cluster_factory, server_on) -> None:
    cluster: Cluster = cluster_factory()
    server_on(cluster.url)

    def promote() -> float:
        _, replica = cluster.kill_master_of(0)
        during = commands(cli, cluster.url, "during")
        deadline = time.monotonic() + 20
        while cluster.owner(0) != replica.port:  # while the failover happens, every command is clean
            assert time.monotonic() < deadline
            for run in during.values():
                clean(run())
        return float(cluster.wait_promoted(replica))

    back = exercise(cli, cluster.url, promote)
    print(
        "cluster: seconds after promotion until each command worked:",
        {k: round(v, 2) for k, v in back.items()},
    )
    assert max(back.values()) <= BACK_S, back
    stats = json.loads(cli("--redis", cluster.url, "stats", "--json").check().stdout)
    nodes = stats["redis_nodes"]
    assert len(nodes) == 3
    assert stats["redis"]["nodes"] == "3"
    assert int(stats["redis"]["keys"]) == sum(int(n["keys"]) for n in nodes) > 0
    assert int(stats["redis"]["used_memory"]) == sum(int(n["used_memory"]) for n in nodes)
    assert int(stats["redis"]["connected_clients"]) == sum(int(n["connected_clients"]) for n in nodes)
    assert {n["node"] for n in nodes} == {f"127.0.0.1:{cluster.owner(s)}" for s in (0, 6000, 12000)}
    human = cli("--redis", cluster.url, "stats").check().stdout
    assert "sum over 3 primaries" in human
    assert "Cluster primaries" in human


def test_cli_on_sentinel_through_a_failover(cli, sentinel_factory, server_on) -> None:
    group: SentinelGroup = sentinel_factory()
    server_on(group.url)

    def promote() -> float:
        group.kill_master()
        group.wait_promoted()
        return time.monotonic()

    back = exercise(cli, group.url, promote)
    print(
        "sentinel: seconds after promotion until each command worked:",
        {k: round(v, 2) for k, v in back.items()},
    )
    assert max(back.values()) <= BACK_S, back
    stats = json.loads(cli("--redis", group.url, "stats", "--json").check().stdout)
    assert len(stats["redis_nodes"]) == 1
    assert stats["redis_nodes"][0]["node"] == ""
    assert stats["redis"]["role"] == "master"
