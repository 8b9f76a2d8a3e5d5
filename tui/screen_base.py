"""``DashScreen``: what every dashboard screen shares (title, banner, footer, refresh protocol)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual.screen import Screen
from textual.widgets import Footer

from .messages import ActionRequested, RefreshRequested
from .widget_chrome import Banner, TitleBar

if TYPE_CHECKING:
    from textual.app import ComposeResult

    from asynq_py.engine import Clock

    from .actions import Action
    from .messages import ActionDone, Request

__all__ = ["Context", "DashScreen"]


@dataclass(frozen=True, slots=True)
class Context:
    """Settings every screen reads, given by the app."""

    clock: Clock
    """Time source for relative times ("in 5s", "3m ago") and stamps."""
    page_size: int
    """Rows per page of task tables."""
    refresh_s: float
    """Seconds between refreshes (shown in the banner)."""
    history_days: int
    """Days the history screen shows at first."""
    can_enqueue: bool
    """Whether the app has a client to enqueue copies of tasks."""


class DashScreen(Screen[None]):
    """A screen that shows data the app fetches for it.

    Subclasses give ``compose_body`` and ``data_request``, and handle the answer message the
    fetcher posts to them. They never call the inspector: they post ``RefreshRequested`` when
    their view changes and ``ActionRequested`` for changes.
    """

    def __init__(self, ctx: Context) -> None:
        super().__init__()
        self.ctx = ctx

    def title_text(self) -> Text:
        """Return the screen's name for the title bar."""
        return Text(type(self).__name__)

    def compose(self) -> ComposeResult:
        """Lay out the title bar, the banner, the body and the footer."""
        yield TitleBar(self.title_text())
        yield Banner()
        yield from self.compose_body()
        yield Footer()

    def compose_body(self) -> ComposeResult:
        """Yield the screen's own widgets."""
        yield from ()

    def data_request(self) -> Request | None:
        """Return what the screen needs fetched now, or None for nothing."""
        return None

    def handle_back(self) -> bool:
        """Undo one level inside the screen (close a filter, leave a group); return whether it did."""
        return False

    def after_action(self, done: ActionDone) -> None:
        """React to a finished action that this screen asked for (e.g. clear the selection)."""

    def now(self) -> float:
        """Return the current Unix time from the app's clock."""
        return self.ctx.clock.now()

    def stamp(self) -> None:
        """Show in the title bar that the data was just read."""
        when = datetime.fromtimestamp(self.now(), UTC).strftime("%H:%M:%S UTC")
        self.query_one(TitleBar).set_stamp(f"updated {when}")

    def request_refresh(self) -> None:
        """Ask the app to fetch this screen's data now."""
        self.post_message(RefreshRequested())

    def request_action(self, action: Action) -> None:
        """Ask the app to (confirm and) perform ``action``."""
        self.post_message(ActionRequested(action))

    def on_screen_resume(self) -> None:
        """Fetch at once when the screen is shown or shown again."""
        self.request_refresh()
