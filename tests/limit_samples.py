"""``LimitsInfo`` samples that cover every way ``limit ls`` and the dashboard put limits in words.

Imported as ``from limit_samples import sample_limits`` (``pythonpath = ["tests"]``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from asynq_py.engine import Limit, LimitsInfo, QueueLimits, Rate, TaskLimitInfo

__all__ = ["sample_limits"]

_AT = datetime(2026, 1, 1, tzinfo=UTC)


def sample_limits() -> list[LimitsInfo]:
    """Two queues: bursts of 1 and more, odd periods, next starts from now to an hour, no rate."""
    types = [
        TaskLimitInfo("a", Limit(rate=Rate(5, 1_000, 5)), None, 0, 1_500),
        TaskLimitInfo("b", Limit(concurrency=2, rate=Rate(1, 60_000)), 2, 3, 59_999),
        TaskLimitInfo("c", Limit(rate=Rate(7, 2_500, 2)), None, 0, 60_000),
        TaskLimitInfo("d", Limit(rate=Rate(1, 3_600_000)), None, 0, 3_599_999),
        TaskLimitInfo("e", Limit(concurrency=1), 0, 2, None),
        TaskLimitInfo("f", Limit(rate=Rate(9, 1_000)), None, 0, 1),
    ]
    return [
        LimitsInfo("q", QueueLimits(concurrency=4, rate=Rate(100, 60_000, 3)), 1, 0, types, 2, 9, [], _AT),
        LimitsInfo("r", QueueLimits(rate=Rate(2, 1_000)), 0, 250, [], 0, 0, [], _AT),
    ]
