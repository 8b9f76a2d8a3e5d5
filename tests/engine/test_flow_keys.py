"""The flow-control keys (docs/wire.md §2.3) live under their queue's hash tag."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from asynq_py.engine import keys

HASH_TAG = re.compile(r"\{([^}]*)\}")


@pytest.mark.parametrize("queue", ["default", "a:b", "{x"])
def test_every_flow_key_carries_the_queue_hash_tag(queue: str) -> None:
    when = datetime(2026, 12, 3, 23, 59, tzinfo=UTC)
    flow_keys = [
        keys.limits_key(queue),
        keys.rate_state_key(queue),
        keys.rate_state_key(queue, "report:pdf"),
        keys.type_active_key(queue, "report:pdf"),
        keys.parked_key(queue, "report:pdf"),
        keys.parked_types_key(queue),
        keys.throttled_total_key(queue),
        keys.throttled_key(queue, when),
    ]
    prefix = keys.queue_key_prefix(queue)
    for key in flow_keys:
        assert key.startswith(prefix), key
        tag = HASH_TAG.search(key)
        assert tag is not None
        assert tag.group(1) == HASH_TAG.search(prefix).group(1)
    assert keys.throttled_key(queue, when).endswith(":throttled:2026-12-03")
    assert keys.rate_state_key(queue) != keys.rate_state_key(queue, "")
    assert len(set(flow_keys)) == len(flow_keys)
    # The dequeue script gets only the limit key prefix and builds the state keys on it.
    limit = keys.limit_key_prefix(queue)
    assert keys.parked_types_key(queue) == limit + "parked_types"
    assert keys.rate_state_key(queue) == limit + "rate"
    assert keys.rate_state_key(queue, "t:x") == limit + "rate:t:x"
    assert keys.parked_key(queue, "t:x") == limit + "parked:t:x"
    assert keys.type_active_key(queue, "t:x") == limit + "active:t:x"
