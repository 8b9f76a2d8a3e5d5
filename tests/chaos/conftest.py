"""Fixtures of the chaos scenarios: the tier, a private Redis with AOF, a ledger directory, a fleet."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from chaos.harness import Fleet, RedisProbe, Tier


@pytest.fixture(scope="session")
def tier() -> Tier:
    return Tier.from_env()


@pytest.fixture
def aof_redis(real_server_factory: Callable[..., Any]) -> Any:
    """A private server with AOF (everysec) and a SLOWLOG of every command over 1 ms, so that a scenario
    may stop, kill and restart it and find its longest command."""
    return real_server_factory(
        extra=("--appendonly", "yes", "--appendfsync", "everysec", *RedisProbe.SLOWLOG_ARGS)
    )


@pytest.fixture
def ledger_dir(tmp_path: Path) -> Path:
    path = tmp_path / "ledger"
    path.mkdir()
    return path


@pytest.fixture
def make_fleet(tmp_path: Path, ledger_dir: Path) -> Iterator[Callable[..., Fleet]]:
    """Build fleets of chaos workers; every worker still running at the end is killed."""
    fleets: list[Fleet] = []

    def make(redis_url: str, queues: list[str], lifetime_s: float = 600.0) -> Fleet:
        fleet = Fleet(redis_url, queues, ledger_dir, tmp_path, lifetime_s)
        fleets.append(fleet)
        return fleet

    yield make
    for fleet in fleets:
        fleet.close()
