"""``asynq-py stats``: the overview of ``asynq stats``: tasks per state and queue, today, and Redis.

On a cluster the Redis facts are summed over the primaries (memory, clients, keys) with one row per
primary; elsewhere they are the one server's.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import typer

from asynq_py.engine import BrokerError, RedisUnavailableError

from .context import CountOption, IntervalOption, JsonFlag, WatchFlag, get_state
from .queue import queue_infos, queue_table
from .render import bar, cell, emit_json, new_table, watch
from .schema import stats_record

if TYPE_CHECKING:
    from rich.console import RenderableType

    from asynq_py.engine import Inspector, QueueInfo

__all__ = ["NODE_FIELDS", "REDIS_FIELDS", "aggregate_info", "app", "redis_info"]

app = typer.Typer()

_STATES = ("active", "pending", "aggregating", "scheduled", "retry", "archived", "completed")
_CHART_WIDTH = 40
REDIS_FIELDS = (
    "redis_version",
    "valkey_version",
    "uptime_in_days",
    "connected_clients",
    "used_memory_human",
    "used_memory_peak_human",
)
"""The Redis INFO fields the human view shows (``--json`` carries all the engine returns)."""
NODE_FIELDS = ("role", "used_memory_human", "connected_clients", "keys", "uptime_in_days")
"""The columns of the per-primary table on a cluster."""
_SUMMED = ("used_memory", "used_memory_peak", "connected_clients", "keys")


def redis_info(inspector: Inspector) -> dict[str, dict[str, str]] | None:
    """Return the INFO fields of each primary (one entry outside a cluster), or None where INFO is
    refused (some managed Redis services)."""
    try:
        return inspector.redis_info_by_node()
    except RedisUnavailableError:
        raise
    except BrokerError:
        return None


def _keys(info: dict[str, str]) -> int:
    """Keys in every database of one node (``db0:keys=3,expires=0,...``, or a parsed dict)."""
    total = 0
    for name, value in info.items():
        if name.startswith("db") and name[2:].isdigit():
            for part in value.strip("{}").replace("'", "").replace(" ", "").split(","):
                field, _, number = part.partition("=" if "=" in part else ":")
                if field == "keys" and number.isdigit():
                    total += int(number)
    return total


def _human(n: int) -> str:
    """Bytes as Redis's ``*_human`` fields write them (``1.02M``)."""
    value = float(n)
    for unit in ("B", "K", "M", "G", "T"):
        if value < 1024 or unit == "T":
            return f"{int(value)}B" if unit == "B" else f"{value:.2f}{unit}"
        value /= 1024
    raise AssertionError("unreachable")


def aggregate_info(nodes: dict[str, dict[str, str]]) -> dict[str, str]:
    """Return one node's INFO as it is, or the sum over a cluster's primaries: memory, peak memory,
    clients and keys summed (``*_human`` recomputed), uptime the shortest, ``nodes`` their number."""
    if len(nodes) == 1:
        (info,) = nodes.values()
        return {**info, "keys": str(_keys(info))}
    infos = list(nodes.values())
    merged = dict(infos[0])
    for field in _SUMMED:
        merged[field] = str(sum(int(i.get(field, "0")) if field != "keys" else _keys(i) for i in infos))
    merged["used_memory_human"] = _human(int(merged["used_memory"]))
    merged["used_memory_peak_human"] = _human(int(merged["used_memory_peak"]))
    uptimes = [int(i["uptime_in_days"]) for i in infos if i.get("uptime_in_days", "").isdigit()]
    if uptimes:
        merged["uptime_in_days"] = str(min(uptimes))
    merged["nodes"] = str(len(infos))
    return merged


def _overview(record: dict[str, Any], infos: list[QueueInfo], now: datetime) -> RenderableType:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    aggregate = record["aggregate"]
    top = max((aggregate[s] for s in _STATES), default=0)
    states = new_table(("State", "Tasks", "Chart"), title="Tasks by state", numeric=("Tasks",))
    for name in _STATES:
        states.add_row(
            cell(name), cell(aggregate[name]), Text(bar(aggregate[name], top, _CHART_WIDTH), "cyan")
        )
    rate = aggregate["error_rate"]
    today = new_table(
        ("Processed", "Failed", "Error Rate"),
        title=f"Today ({now.date().isoformat()} UTC)",
        numeric=("Processed", "Failed", "Error Rate"),
    )
    today.add_row(
        cell(aggregate["processed"]), cell(aggregate["failed"]), cell("-" if rate is None else f"{rate:.2%}")
    )
    redis = record["redis"]
    if redis is None:
        facts: RenderableType = Text("Redis: INFO is not available on this server", style="dim")
    else:
        facts = Table.grid(padding=(0, 2))
        nodes = record["redis_nodes"]
        facts.title = f"Redis (sum over {len(nodes)} primaries)" if len(nodes) > 1 else "Redis"
        for key in (*REDIS_FIELDS, "keys"):
            if key in redis:
                facts.add_row(cell(key), cell(redis[key]))
    parts: list[RenderableType] = [states]
    if infos:
        parts.append(queue_table(infos))
    parts += [today, facts]
    if redis is not None and len(record["redis_nodes"]) > 1:
        per_node = new_table(("Primary", *NODE_FIELDS), title="Cluster primaries", numeric=("keys",))
        for node in record["redis_nodes"]:
            per_node.add_row(cell(node["node"]), *(cell(node.get(f, "")) for f in NODE_FIELDS))
        parts.append(per_node)
    return Group(*parts)


@app.command(rich_help_panel="Servers")
def stats(
    ctx: typer.Context,
    watch_: WatchFlag = False,
    interval: IntervalOption = timedelta(seconds=2),
    count: CountOption = None,
    json_: JsonFlag = False,
) -> None:
    """Show tasks per state and per queue, today's processed and failed tasks (UTC), and Redis facts."""
    state = get_state(ctx)
    as_json = state.use_json(json_)

    def draw() -> RenderableType | None:
        infos = queue_infos(inspector)
        now = datetime.now(UTC)
        nodes = redis_info(inspector)
        if nodes is None:
            record = stats_record(infos, None, now)
        else:
            per_node = [{"node": name, **info, "keys": str(_keys(info))} for name, info in nodes.items()]
            record = stats_record(infos, aggregate_info(nodes), now, per_node)
        if as_json:
            emit_json(record)
            return None
        return _overview(record, infos, now)

    with state.inspector() as inspector:
        watch(state.out, draw, interval_s=interval.total_seconds(), count=count if watch_ else 1)
