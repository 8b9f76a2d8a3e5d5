"""Plans for flow-control limits: set, remove, and read them with their use (docs/flow-control.md).

The limits live in ``asynq:{<q>}:limits`` (docs/wire.md §2.3); the dequeue script reads them on
every call, so a change here reaches every asynq-py server at its next dequeue.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from . import keys
from .calls import Batch, Command, Plan, Script, raise_failed
from .errors import LimitNotFoundError
from .info import LimitsInfo, TaskLimitInfo
from .limits import Limit, QueueLimits, Rate, field_names, field_types
from .options import validate_queue_name
from .rdb_inspect import queues, servers

__all__ = ["get_queue_limits", "list_queue_limits", "remove_queue_limits", "set_queue_limits"]


def _hash(reply: Any) -> dict[bytes, bytes]:
    """An ``HGETALL`` reply as a dict, whether the client paired it already or not."""
    if isinstance(reply, Mapping):
        return dict(reply)
    return {reply[i]: reply[i + 1] for i in range(0, len(reply), 2)}


def _part(limits: QueueLimits, task_type: str | None) -> Limit:
    return limits.queue_limit if task_type is None else limits.for_type(task_type)


def set_queue_limits(
    queue: str,
    *,
    task_type: str | None = None,
    concurrency: int | None = None,
    rate: Rate | str | None = None,
    burst: int | None = None,
) -> Plan[QueueLimits]:
    """Change the queue's (or ``task_type``'s) limit, keeping the parts not given; return all limits.

    The queue is registered in ``asynq:queues`` as an enqueue would. A changed rate clears its
    limiter state, so a slower old rate does not hold back the first start at the new one.
    """
    validate_queue_name(queue)
    new_rate = Rate.parse(rate) if isinstance(rate, str) else rate
    current = QueueLimits.from_fields(
        _hash((yield Command(("HGETALL", keys.limits_key(queue))))), queue=queue
    )
    updated = current.updated(task_type=task_type, concurrency=concurrency, rate=new_rate, burst=burst)
    old, new = _part(current, task_type).rate, _part(updated, task_type).rate
    names = set(field_names(task_type))
    fields = [item for name, value in updated.to_fields().items() if name in names for item in (name, value)]
    calls: list[Command] = [
        Command(("SADD", keys.ALL_QUEUES, queue)),
        Command(("HSET", keys.limits_key(queue), *fields)),
    ]
    if new is not None and (old is None or (old.count, old.period_ms) != (new.count, new.period_ms)):
        calls.append(Command(("DEL", keys.rate_state_key(queue, task_type))))
    raise_failed((yield Batch(tuple(calls))))
    return updated


def remove_queue_limits(queue: str, *, task_type: str | None = None) -> Plan[None]:
    """Remove all the queue's limits, or one task type's, with their rate limiter state.

    Tasks parked under a removed type limit go back through the dequeue script (docs/wire.md §2.3).
    Raises ``LimitNotFoundError`` when there is nothing to remove.
    """
    validate_queue_name(queue)
    limits_key = keys.limits_key(queue)
    present = set(_hash((yield Command(("HGETALL", limits_key)))))
    if task_type is None:
        if not present:
            raise LimitNotFoundError(f"queue {queue!r} has no limits", queue=queue)
        types = field_types(present)
        calls = [Command(("DEL", limits_key, keys.rate_state_key(queue)))]
        calls += [Command(("DEL", keys.rate_state_key(queue, t))) for t in types]
    else:
        names = field_names(task_type)
        if not present & {n.encode() for n in names}:
            raise LimitNotFoundError(f"queue {queue!r} has no limits for type {task_type!r}", queue=queue)
        calls = [
            Command(("HDEL", limits_key, *names)),
            Command(("DEL", keys.rate_state_key(queue, task_type))),
        ]
    raise_failed((yield Batch(tuple(calls))))


def get_queue_limits(queue: str, *, now: float) -> Plan[LimitsInfo]:
    """Return one queue's limits and their use (empty for a queue that has none, or no tasks yet)."""
    validate_queue_name(queue)
    infos = yield from _limits_infos([queue], now, add_served=False)
    return infos[0]


def list_queue_limits(*, now: float) -> Plan[list[LimitsInfo]]:
    """Return the limits and use of every queue, registered or served by a live server, by name."""
    names = yield from queues()
    infos = yield from _limits_infos(names, now, add_served=True)
    return infos


def _first_reads(queue: str, when: datetime) -> tuple[Command, ...]:
    return (
        Command(("HGETALL", keys.limits_key(queue))),
        Command(("LLEN", keys.active_key(queue))),
        Command(("GET", keys.rate_state_key(queue))),
        Command(("GET", keys.throttled_key(queue, when))),
        Command(("GET", keys.throttled_total_key(queue))),
        Command(("SMEMBERS", keys.parked_types_key(queue))),
        Command(("TIME",), route_key=keys.limits_key(queue)),  # the clock the rate state is on
    )


def _type_reads(queue: str, limits: QueueLimits, types: Sequence[str]) -> list[Command | Script]:
    """Per type: its parked count and rate state; then one count of every type's live slots."""
    reads: list[Command | Script] = []
    for t in types:
        reads += [
            Command(("LLEN", keys.parked_key(queue, t))),
            Command(("GET", keys.rate_state_key(queue, t))),
        ]
    slots = tuple(keys.type_active_key(queue, t) for t in types if limits.for_type(t).concurrency is not None)
    if slots:
        reads.append(Script("count_type_slots", (keys.lease_key(queue), *slots), ()))
    return reads


def _ms(time_reply: Any) -> float:
    seconds, micros = time_reply
    return int(seconds) * 1000 + int(micros) / 1000


def _next_slot(rate: Rate | None, tat_reply: Any, now_ms: float) -> int | None:
    if rate is None:
        return None
    return rate.next_slot_in_ms(None if tat_reply is None else float(tat_reply), now_ms)


def _type_infos(
    limits: QueueLimits, types: Sequence[str], reads: Sequence[Any], now_ms: float
) -> list[TaskLimitInfo]:
    slots = iter(reads[2 * len(types)] if len(reads) > 2 * len(types) else ())
    out = []
    for i, t in enumerate(types):
        limit = limits.for_type(t)
        out.append(
            TaskLimitInfo(
                task_type=t,
                limit=limit,
                active=int(next(slots)) if limit.concurrency is not None else None,
                parked=int(reads[2 * i]),
                next_slot_in_ms=_next_slot(limit.rate, reads[2 * i + 1], now_ms),
            )
        )
    return out


def _limits_infos(names: Sequence[str], now: float, *, add_served: bool) -> Plan[list[LimitsInfo]]:
    """Read the limits, use and counters of ``names`` (and of the queues live servers serve)."""
    live = yield from servers(now=now)
    if not names and not live:
        return []
    if add_served:
        names = sorted({*names, *(q for s in live for q in s.queues)})
    when = datetime.fromtimestamp(now, UTC)
    width = len(_first_reads("", when))
    first = yield Batch(tuple(call for q in names for call in _first_reads(q, when)))
    raise_failed(first)
    rows = [first[i * width : (i + 1) * width] for i in range(len(names))]
    parsed = [QueueLimits.from_fields(_hash(row[0]), queue=q) for q, row in zip(names, rows, strict=True)]
    types = [sorted({*lim.types, *(_text(t) for t in row[5])}) for lim, row in zip(parsed, rows, strict=True)]
    type_reads = [_type_reads(q, lim, ts) for q, lim, ts in zip(names, parsed, types, strict=True)]
    markers = [Command(("EXISTS", keys.server_marker_key(s.host, s.pid, s.id))) for s in live]
    calls = (*markers, *(call for reads in type_reads for call in reads))
    second = (yield Batch(calls)) if calls else []
    raise_failed(second)
    bypassing = [s for s, marked in zip(live, second, strict=False) if not int(marked)]
    out: list[LimitsInfo] = []
    at = len(markers)
    for q, lim, ts, row, reads in zip(names, parsed, types, rows, type_reads, strict=True):
        now_ms = _ms(row[6])
        out.append(
            LimitsInfo(
                queue=q,
                limits=lim,
                active=int(row[1]),
                next_slot_in_ms=_next_slot(lim.rate, row[2], now_ms),
                types=_type_infos(lim, ts, second[at : at + len(reads)], now_ms),
                throttled=int(row[3] or 0),
                throttled_total=int(row[4] or 0),
                unenforced_by=[s for s in bypassing if q in s.queues],
                timestamp=when,
            )
        )
        at += len(reads)
    return out


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
