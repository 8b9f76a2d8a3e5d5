"""The history screen: a queue's processed and failed tasks per day, as a chart."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from . import bindings
from .fmt import clean, error_rate, thousands
from .messages import HistoryFetched, HistoryRequest
from .screen_base import Context, DashScreen
from .widget_chart import HistoryChart

if TYPE_CHECKING:
    from textual.app import ComposeResult
    from textual.binding import BindingType

    from .messages import Request

__all__ = ["MAX_DAYS", "MIN_DAYS", "HistoryScreen"]

MIN_DAYS = 7
"""Fewest days the chart shows."""
MAX_DAYS = 90
"""Most days the chart shows (asynq keeps daily counters for 90 days)."""


class HistoryScreen(DashScreen):
    """Daily counts of one queue; + and - change how many days."""

    BINDINGS: ClassVar[list[BindingType]] = list(bindings.HISTORY)

    def __init__(self, ctx: Context, queue: str) -> None:
        super().__init__(ctx)
        self.queue = queue
        self.days = min(MAX_DAYS, max(MIN_DAYS, ctx.history_days))

    def title_text(self) -> Text:
        """Name the queue."""
        return Text.assemble("Queue ", (clean(self.queue), "bold"), " › History")

    def compose_body(self) -> ComposeResult:
        """A summary line and the chart."""
        yield Static(Text("Loading…", style="dim"), id="history-summary")
        with VerticalScroll(id="chart-box"):
            yield HistoryChart(id="chart")

    def data_request(self) -> Request:
        """The queue's last ``days`` days."""
        return HistoryRequest(self.queue, self.days)

    def on_history_fetched(self, message: HistoryFetched) -> None:
        """Draw the chart."""
        if message.request != self.data_request():
            return
        self.stamp()
        summary = self.query_one("#history-summary", Static)
        if message.stats is None:
            summary.update(Text(f'Queue "{clean(self.queue)}" no longer exists.', style="bold red"))
            self.query_one(HistoryChart).show([])
            return
        processed = sum(s.processed for s in message.stats)
        failed = sum(s.failed for s in message.stats)
        line = Text(f"Last {self.days} days (UTC): ", style="bold")
        line.append(f"processed {thousands(processed)}, failed {thousands(failed)}, ")
        line.append(f"error rate {error_rate(processed, failed)}")
        summary.update(line)
        self.query_one(HistoryChart).show(message.stats)

    def action_days(self, delta: int) -> None:
        """Show more or fewer days."""
        days = min(MAX_DAYS, max(MIN_DAYS, self.days + delta))
        if days != self.days:
            self.days = days
            self.request_refresh()
