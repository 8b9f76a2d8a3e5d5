"""``asynq-py stats``: the overview of ``asynq stats``: tasks per state and queue, today, and Redis."""

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

__all__ = ["REDIS_FIELDS", "app", "redis_info"]

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


def redis_info(inspector: Inspector) -> dict[str, str] | None:
    """Return Redis INFO fields, or None where INFO is refused (some managed Redis services)."""
    try:
        return inspector.redis_info()
    except RedisUnavailableError:
        raise
    except BrokerError:
        return None


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
        facts.title = "Redis"
        for key in REDIS_FIELDS:
            if key in redis:
                facts.add_row(cell(key), cell(redis[key]))
    parts: list[RenderableType] = [states]
    if infos:
        parts.append(queue_table(infos))
    return Group(*parts, today, facts)


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
        record = stats_record(infos, redis_info(inspector), now)
        if as_json:
            emit_json(record)
            return None
        return _overview(record, infos, now)

    with state.inspector() as inspector:
        watch(state.out, draw, interval_s=interval.total_seconds(), count=count if watch_ else 1)
