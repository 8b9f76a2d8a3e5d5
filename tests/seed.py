"""Write and read Redis state exactly as Go asynq v0.26.0 does, without going through asynq-py.

Seed helpers build each key with raw commands from docs/wire.md, so that the inspector and the
server are tested against Go-shaped data, not only against what our own scripts write.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, cast

import redis
from redis.typing import EncodableT, FieldT

from asynq_py.engine._pb import asynq_pb2 as pb

Q = "asynq:{%s}:"


def message(
    task_type: str = "seeded",
    payload: bytes = b"",
    *,
    queue: str = "default",
    task_id: str | None = None,
    **fields: Any,
) -> pb.TaskMessage:
    """Build a TaskMessage protobuf directly, the way Go's client fills it."""
    msg = pb.TaskMessage(
        type=task_type,
        payload=payload,
        id=task_id or str(uuid.uuid4()),
        queue=queue,
        retry=fields.pop("retry", 25),
        timeout=fields.pop("timeout", 1800),
    )
    for name, value in fields.items():
        if name == "headers":
            msg.headers.update(value)
        else:
            setattr(msg, name, value)
    return msg


def seed_task(
    r: redis.Redis,
    msg: pb.TaskMessage,
    state: str,
    *,
    score: float | None = None,
    now: float | None = None,
    group: str = "",
    result: bytes | None = None,
    lease_expiry: float | None = None,
) -> str:
    """Store ``msg`` in ``state`` with the keys and fields Go writes for it; return its id."""
    now = time.time() if now is None else now
    q = msg.queue
    key = f"{Q % q}t:{msg.id}"
    r.sadd("asynq:queues", q)
    # One transaction, as Go stores a task in one script: a running server never sees the id
    # before its hash (it would drop the id as a task without data).
    tx = r.pipeline(transaction=True)
    fields: dict[FieldT, EncodableT] = {"msg": msg.SerializeToString(), "state": state}
    if state == "pending":
        fields["pending_since"] = str(int(now * 1e9))
        tx.lpush(f"{Q % q}pending", msg.id)
    elif state == "active":
        tx.lpush(f"{Q % q}active", msg.id)
        tx.zadd(f"{Q % q}lease", {msg.id: int(lease_expiry if lease_expiry is not None else now + 30)})
    elif state == "aggregating":
        fields["group"] = group
        tx.zadd(f"{Q % q}g:{group}", {msg.id: int(score if score is not None else now)})
        tx.sadd(f"{Q % q}groups", group)
    else:
        tx.zadd(f"{Q % q}{state}", {msg.id: int(score if score is not None else now)})
    if msg.unique_key:
        fields["unique_key"] = msg.unique_key
    if result is not None:
        fields["result"] = result
    tx.hset(key, mapping=fields)
    tx.execute()
    return msg.id


def task_hash(r: redis.Redis, queue: str, task_id: str) -> dict[str, bytes]:
    """Return the raw task hash, field names decoded."""
    fields = cast("dict[bytes, bytes]", r.hgetall(f"{Q % queue}t:{task_id}"))
    return {k.decode(): v for k, v in fields.items()}


def read_message(r: redis.Redis, queue: str, task_id: str) -> pb.TaskMessage:
    """Decode the ``msg`` field of a task with the generated protobuf class."""
    msg = pb.TaskMessage()
    msg.ParseFromString(cast(bytes, r.hget(f"{Q % queue}t:{task_id}", "msg")))
    return msg


def list_ids(r: redis.Redis, queue: str, name: str) -> list[str]:
    """Return the ids in a queue's list (pending, active) or zset (others), as Redis stores them."""
    key = f"{Q % queue}{name}"
    ids = r.lrange(key, 0, -1) if r.type(key) == b"list" else r.zrange(key, 0, -1)
    return [i.decode() for i in cast("list[bytes]", ids)]


def scores(r: redis.Redis, key: str) -> dict[str, float]:
    """Return a zset as id -> raw score."""
    members = cast("list[tuple[bytes, float]]", r.zrange(key, 0, -1, withscores=True))
    return {m.decode(): s for m, s in members}


def seed_many(
    r: redis.Redis, queue: str, state: str, count: int, *, score: float | None = None, prefix: str = ""
) -> list[str]:
    """Store ``count`` tasks in ``state`` (not active or aggregating) in pipelined batches; return their ids.

    The ids are ``<prefix><state>-<n>``, and tasks are stored oldest first (lowest score, or pushed
    first to pending), as ``seed_task`` would store them one by one.
    """
    when = time.time() if score is None else score
    ids = [f"{prefix}{state}-{n}" for n in range(count)]
    pipe = r.pipeline(transaction=False)
    pipe.sadd("asynq:queues", queue)
    for n, task_id in enumerate(ids):
        data = message(queue=queue, task_id=task_id).SerializeToString()
        pipe.hset(f"{Q % queue}t:{task_id}", mapping={"msg": data, "state": state})
        if state == "pending":
            pipe.lpush(f"{Q % queue}pending", task_id)
        else:
            pipe.zadd(f"{Q % queue}{state}", {task_id: int(when) + n})
        if len(pipe) >= 5000:
            pipe.execute()
    pipe.execute()
    return ids


def states_of(r: redis.Redis, queue: str) -> dict[str, list[str]]:
    """Return task id -> every state container holding it, for each task hash of ``queue``.

    A consistent queue has exactly one container per task, the one its hash's ``state`` names.
    """
    where: dict[str, list[str]] = {}
    for key in r.scan_iter(match=f"{Q % queue}t:*", count=1000):
        where[key.decode().rpartition(":")[2]] = []
    for name in ("pending", "active", "scheduled", "retry", "archived", "completed"):
        for task_id in list_ids(r, queue, name):
            where.setdefault(task_id, []).append(name)
    return where
