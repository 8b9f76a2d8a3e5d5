"""``DashboardApp``: the screen stack, the key bindings, the poll timer, and ``run_dashboard``.

The app owns a ``Fetcher`` (the only inspector caller). Every ``--refresh`` seconds, and at once on
navigation or after an action, it asks the topmost dashboard screen what it shows
(``data_request``) and lets the fetcher answer it in a worker, so input is never blocked. When a
fetch fails the ``banner`` reactive says so on every screen while the last data stays visible;
the next successful fetch clears it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, ClassVar

from textual.app import App
from textual.reactive import reactive

from asynq_py.engine import RealClock

from . import bindings
from .actions import Action, confirm_text, result_text
from .fetch import ClientLike, Fetcher, InspectorLike
from .fmt import clean, go_duration
from .screen_base import Context, DashScreen
from .screen_confirm import ConfirmScreen
from .screen_help import HelpScreen
from .screen_queues import QueuesScreen
from .screen_schedules import SchedulesScreen
from .screen_servers import ServersScreen

if TYPE_CHECKING:
    from textual.binding import BindingType
    from textual.notifications import SeverityLevel
    from textual.timer import Timer

    from asynq_py.engine import AsyncClient, AsyncInspector, Clock

    from .messages import ActionDone, ActionRequested, FetchFailed, FetchSucceeded, RefreshRequested

__all__ = ["DashboardApp", "run_dashboard"]


class DashboardApp(App[int]):
    """The asynq-py dashboard.

    Args:
        inspector: Where all data comes from (an ``AsyncInspector``; tests may pass a stub).
        client: Used only to enqueue copies of tasks; None disables that action (default None).
        refresh_s: Seconds between refreshes (default 2).
        page_size: Rows per page of task tables (default 50).
        history_days: Days the history chart shows at first (default 14).
        clock: Time source for relative times and stamps (default the system clock).
    """

    CSS_PATH = "app.tcss"
    TITLE = "asynq-py dash"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = list(bindings.APP)

    banner: reactive[str] = reactive("")
    """What the banner says ("" hides it); every screen's ``Banner`` follows it."""

    def __init__(
        self,
        inspector: InspectorLike,
        client: ClientLike | None = None,
        *,
        refresh_s: float = 2.0,
        page_size: int = 50,
        history_days: int = 14,
        clock: Clock | None = None,
    ) -> None:
        if refresh_s <= 0:
            raise ValueError("refresh_s must be positive")
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        super().__init__()
        self.ctx = Context(clock or RealClock(), page_size, refresh_s, history_days, client is not None)
        """Settings the screens read."""
        self.fetcher = Fetcher(self, inspector, client)
        """Runs every inspector call."""
        self._timer: Timer | None = None
        self._last_ok: float | None = None
        self._asked: list[tuple[Action, DashScreen]] = []

    def on_mount(self) -> None:
        """Open the queues screen and start polling."""
        self.push_screen(QueuesScreen(self.ctx))
        self._timer = self.set_interval(self.ctx.refresh_s, self._tick, name="refresh")

    # ---- fetching --------------------------------------------------------------------------

    def dash_screen(self) -> DashScreen | None:
        """Return the topmost dashboard screen (under any dialog), or None."""
        for screen in reversed(self.screen_stack):
            if isinstance(screen, DashScreen):
                return screen
        return None

    def refresh_now(self) -> None:
        """Fetch the topmost screen's data now and restart the refresh interval."""
        screen = self.dash_screen()
        if screen is not None:
            request = screen.data_request()
            if request is not None:
                self.fetcher.load(screen, request)
        if self._timer is not None:
            self._timer.reset()

    def _tick(self) -> None:
        # A fetch slower than the interval is left to finish rather than restarted forever.
        if not self.fetcher.busy:
            self.refresh_now()

    def on_refresh_requested(self, message: RefreshRequested) -> None:
        """A screen's view changed: fetch at once."""
        message.stop()
        self.refresh_now()

    def on_fetch_succeeded(self, message: FetchSucceeded) -> None:
        """Redis answered: drop the banner."""
        self._last_ok = self.ctx.clock.now()
        self.banner = ""

    def on_fetch_failed(self, message: FetchFailed) -> None:
        """Say what failed, that the data shown is from the last good fetch, and that we retry."""
        what = "Redis is unreachable" if message.unreachable else "Redis returned an error"
        if self._last_ok is None:
            since = "no data yet"
        else:
            since = "showing data from " + datetime.fromtimestamp(self._last_ok, UTC).strftime("%H:%M:%S UTC")
        every = go_duration(self.ctx.refresh_s) if self.ctx.refresh_s >= 1 else f"{self.ctx.refresh_s:g}s"
        self.banner = f"⚠ {what}: {clean(message.error)} ({since}; retrying every {every})"

    # ---- actions ---------------------------------------------------------------------------

    def on_action_requested(self, message: ActionRequested) -> None:
        """Confirm the action when it changes tasks, then hand it to the fetcher."""
        message.stop()
        action = message.action
        screen = self.dash_screen()
        if screen is not None:
            self._asked.append((action, screen))
        if not action.confirm:
            self.fetcher.act(action)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.fetcher.act(action)
            else:
                self._forget(action)

        self.push_screen(ConfirmScreen(confirm_text(action)), answered)

    def _forget(self, action: Action) -> DashScreen | None:
        for i, (asked, screen) in enumerate(self._asked):
            if asked is action:
                del self._asked[i]
                return screen
        return None

    def on_action_done(self, message: ActionDone) -> None:
        """Report how many tasks changed, let the asking screen react, and refresh at once."""
        text = result_text(message.action, message.changed, message.errors)
        severity: SeverityLevel = "information"
        if message.errors:
            severity = "warning" if message.changed else "error"
        self.notify(text, severity=severity, markup=False, timeout=6)
        screen = self._forget(message.action)
        if screen is not None and screen.is_attached:
            screen.after_action(message)
        self.refresh_now()

    # ---- key actions -----------------------------------------------------------------------

    async def action_back(self) -> None:
        """Go back one level: inside the screen, then to the previous screen; quit from the first."""
        screen = self.screen
        if isinstance(screen, DashScreen):
            if screen.handle_back():
                return
            if isinstance(screen, QueuesScreen) and len(self.screen_stack) <= 2:
                self.exit(0)
                return
        if len(self.screen_stack) > 2:
            self.pop_screen()
        else:
            self.exit(0)

    def action_help(self) -> None:
        """Show the key bindings."""
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_refresh(self) -> None:
        """Fetch now."""
        self.refresh_now()

    def action_goto(self, name: str) -> None:
        """Show the queues, servers or schedules screen, on top of the queues screen."""
        while len(self.screen_stack) > 2:
            self.pop_screen()
        if name == "servers":
            self.push_screen(ServersScreen(self.ctx))
        elif name == "schedules":
            self.push_screen(SchedulesScreen(self.ctx))


def run_dashboard(
    inspector: AsyncInspector, client: AsyncClient | None = None, refresh_s: float = 2.0
) -> int:
    """Run the dashboard in this terminal until the user quits; return the exit code.

    The inspector's and client's connections are made on the dashboard's event loop, so this
    closes both when the dashboard exits.

    Args:
        inspector: Where all data comes from.
        client: Used to enqueue copies of tasks; None disables that action (default None).
        refresh_s: Seconds between refreshes (default 2; must be positive).

    Raises:
        ValueError: ``refresh_s`` is not positive.
    """
    app = DashboardApp(inspector, client, refresh_s=refresh_s)

    async def main() -> None:
        try:
            await app.run_async()
        finally:
            await inspector.aclose()
            if client is not None:
                await client.aclose()

    asyncio.run(main())
    return app.return_code if app.return_code is not None else 0
