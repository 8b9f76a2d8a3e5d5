"""Issue 17's proofs (a)-(f) on the real server, each with 3 worker processes of concurrency 10
(one for (e)), measured from the handlers' own start and end timestamps (tests/chaos/flow.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import chaos.flow as scenarios
import pytest
import redis
from chaos.flow import Fleet

pytestmark = [pytest.mark.real, pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture
def fleet(real_redis_url: str, queue: str, tmp_path: Path) -> Iterator[Fleet]:
    fleet = Fleet(real_redis_url, queue, tmp_path)
    try:
        yield fleet
    finally:
        fleet.stop()


def test_a_queue_concurrency_limit_of_2_holds_across_processes(fleet: Fleet) -> None:
    print(scenarios.queue_concurrency(fleet))


def test_b_rate_of_50_per_second_holds_in_every_window(fleet: Fleet) -> None:
    print(scenarios.queue_rate(fleet))


def test_c_a_type_limit_does_not_slow_other_types(fleet: Fleet) -> None:
    print(scenarios.type_limit(fleet))


def test_d_a_changed_limit_takes_effect_within_1s(fleet: Fleet) -> None:
    print(scenarios.limit_change(fleet))


@pytest.mark.parametrize("handler", ["throttle", "athrottle"])
def test_e_a_throttled_task_completes_without_using_a_retry(fleet: Fleet, handler: str) -> None:
    print(scenarios.throttle(fleet, handler))


def test_f_a_killed_worker_gives_its_slots_back_on_recovery(fleet: Fleet) -> None:
    print(scenarios.crash_frees_slots(fleet))


def blocked(url: str) -> Callable[[str], bool]:
    """Whether a server waits with BLPOP on the wake lists (standalone: it subscribes to nothing;
    the tests of this database run one at a time, so the blocked client is the test's server)."""

    def check(_queue: str) -> bool:
        with redis.Redis.from_url(url) as r:
            return any(c["cmd"] == "blpop" and "b" in c["flags"] for c in r.client_list())

    return check


@pytest.mark.parametrize("per_type", [False, True], ids=["queue", "type"])
def test_a_slot_freed_elsewhere_wakes_a_server_waiting_on_the_limit(
    real_redis_url: str, per_type: bool
) -> None:
    print(scenarios.slot_wakeups(real_redis_url, blocked(real_redis_url), per_type=per_type))
