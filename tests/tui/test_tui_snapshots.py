"""SVG snapshots of every screen, on the stub inspector's fixed data and a fixed clock.

Update with ``pytest tests/tui --snapshot-update`` after checking the report by eye.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from textual.widgets import DataTable, Input, Static

from asynq_py.engine import Limit, LimitsInfo, QueueLimits, Rate, ServerInfo, SimulatedClock, TaskLimitInfo
from asynq_py.tui import DashboardApp
from asynq_py.tui.screen_confirm import ConfirmScreen
from asynq_py.tui.screen_help import HelpScreen
from asynq_py.tui.screen_history import HistoryScreen
from asynq_py.tui.screen_limits import LimitsScreen
from asynq_py.tui.screen_queue import QueueScreen
from asynq_py.tui.screen_schedules import SchedulesScreen
from asynq_py.tui.screen_servers import ServersScreen
from asynq_py.tui.screen_task import TaskScreen

SIZE = (130, 36)
NOW_TS = 1777636800.0
"""2026-05-01 12:00:00 UTC, the conftest's NOW."""
NOW = datetime.fromtimestamp(NOW_TS, UTC)


def make(inspector: Any) -> DashboardApp:
    """A dashboard on ``inspector`` that never refreshes by itself, at a fixed time."""
    return DashboardApp(inspector, refresh_s=3600, clock=SimulatedClock(NOW_TS), page_size=20)


def loaded(app: Any) -> bool:
    """Whether the queues screen has its rows."""
    return bool(app.screen.query_one("#queues").row_count > 0)


def steps(ui: Any, *script: str | Callable[[Any], object]) -> Callable[[Any], Any]:
    """Return a ``run_before`` that presses keys (strings) and waits for conditions (callables)."""

    async def run(pilot: Any) -> None:
        await ui.wait(pilot, lambda: loaded(pilot.app))
        for step in script:
            if isinstance(step, str):
                await pilot.press(step)
            else:
                await ui.wait(pilot, lambda s=step: s(pilot.app))
        await pilot.pause()
        # A DataTable sizes its columns when its message queue runs dry; on a loaded machine the
        # picture could be taken before that (ids cut to the header's width).
        await ui.wait(pilot, lambda: tables_settled(pilot.app))

    return run


def tables_settled(app: Any) -> bool:
    """True once every table on the screen has measured its new rows and cells."""
    return not any(
        table._require_update_dimensions or table._updated_cells for table in app.screen.query(DataTable)
    )


def on_queue_state(state: str) -> Callable[[Any], bool]:
    """Wait until the queue screen shows ``state``'s data."""

    def check(app: Any) -> bool:
        screen = app.screen
        return (
            isinstance(screen, QueueScreen)
            and screen.last_answer is not None
            and screen.last_answer.request.state.value == state
            and screen.last_answer.request == screen.data_request()
        )

    return check


def open_default(ui: Any, *then: str | Callable[[Any], object]) -> Callable[[Any], Any]:
    """Open queue "default" (second by name), then run ``then``."""
    return steps(ui, "j", "enter", on_queue_state("active"), *then)


class TestQueuesScreen:
    def test_queues(self, snap_compare, stub, ui) -> None:
        assert snap_compare(make(stub), terminal_size=SIZE, run_before=steps(ui))

    def test_sorted_by_size_descending(self, snap_compare, stub, ui) -> None:
        assert snap_compare(make(stub), terminal_size=SIZE, run_before=steps(ui, "s", "s", "S"))

    def test_narrow_terminal(self, snap_compare, stub, ui) -> None:
        assert snap_compare(make(stub), terminal_size=(80, 24), run_before=steps(ui))


class TestQueueScreen:
    def test_active_tab(self, snap_compare, stub, ui) -> None:
        assert snap_compare(make(stub), terminal_size=SIZE, run_before=open_default(ui))

    def test_limits_line(self, snap_compare, stub, ui) -> None:
        go = ServerInfo("go-1", "go-box", 77, 10, {"default": 1}, False, NOW, "active")
        pdf = TaskLimitInfo("report:pdf", Limit(concurrency=2), 2, 14, None)
        mail = TaskLimitInfo("email:send", Limit(rate=Rate(3, 1_000)), None, 0, 250)
        limits = QueueLimits(5, Rate(100, 60_000, 10), {"report:pdf": pdf.limit, "email:send": mail.limit})
        stub.limits["default"] = LimitsInfo("default", limits, 1, 0, [mail, pdf], 4, 37, [go], NOW)
        assert snap_compare(make(stub), terminal_size=SIZE, run_before=open_default(ui))

    def test_pending_tab_with_selection(self, snap_compare, stub, ui) -> None:
        run = open_default(ui, "l", on_queue_state("pending"), "space", "j", "space")
        assert snap_compare(make(stub), terminal_size=SIZE, run_before=run)

    def test_retry_tab(self, snap_compare, stub, ui) -> None:
        run = open_default(ui, "l", "l", "l", "l", on_queue_state("retry"))
        assert snap_compare(make(stub), terminal_size=SIZE, run_before=run)

    def test_archived_tab_with_hostile_data(self, snap_compare, stub, ui) -> None:
        run = open_default(ui, "h", "h", on_queue_state("archived"))
        assert snap_compare(make(stub), terminal_size=SIZE, run_before=run)

    def test_completed_tab(self, snap_compare, stub, ui) -> None:
        run = open_default(ui, "h", on_queue_state("completed"))
        assert snap_compare(make(stub), terminal_size=SIZE, run_before=run)

    def test_aggregating_groups_then_a_group(self, snap_compare, stub, ui) -> None:
        run = open_default(
            ui,
            "l",
            "l",
            on_queue_state("aggregating"),
            lambda app: app.screen.query_one("#tasks").row_count == 1,
            "enter",
            lambda app: app.screen.query_one("#tasks").row_count == 2,
        )
        assert snap_compare(make(stub), terminal_size=SIZE, run_before=run)

    def test_filter(self, snap_compare, stub, ui) -> None:
        def no_blink(app: Any) -> bool:
            app.screen.query_one("#filter", Input).cursor_blink = False
            return True

        run = open_default(
            ui,
            "l",
            on_queue_state("pending"),
            "slash",
            no_blink,
            "p",
            "0",
            "0",
            "2",
            lambda app: app.screen.query_one("#tasks").row_count == 1,
        )
        assert snap_compare(make(stub), terminal_size=SIZE, run_before=run)


class TestTaskScreen:
    def test_json_payload_headers_and_result(self, snap_compare, stub, ui) -> None:
        run = open_default(
            ui,
            "h",
            on_queue_state("completed"),
            "enter",
            lambda app: isinstance(app.screen, TaskScreen) and app.screen.task_info is not None,
        )
        assert snap_compare(make(stub), terminal_size=SIZE, run_before=run)

    def test_payload_full_of_escape_sequences(self, snap_compare, stub, ui) -> None:
        run = open_default(
            ui,
            "h",
            "h",
            on_queue_state("archived"),
            "enter",
            lambda app: isinstance(app.screen, TaskScreen) and app.screen.task_info is not None,
        )
        assert snap_compare(make(stub), terminal_size=SIZE, run_before=run)

    def test_json_payload_with_escape_sequences_and_hostile_headers(self, snap_compare, stub, ui) -> None:
        run = open_default(
            ui,
            "l",
            "l",
            "l",
            on_queue_state("scheduled"),
            "enter",
            lambda app: isinstance(app.screen, TaskScreen) and app.screen.task_info is not None,
        )
        assert snap_compare(make(stub), terminal_size=SIZE, run_before=run)

    def test_task_that_no_longer_exists(self, snap_compare, stub, ui) -> None:
        def vanish(app: Any) -> bool:
            stub.tasks.clear()
            return True

        run = open_default(
            ui,
            "enter",
            lambda app: isinstance(app.screen, TaskScreen),
            vanish,
            "ctrl+r",
            lambda app: app.screen.missing,
        )
        assert snap_compare(make(stub), terminal_size=SIZE, run_before=run)


class TestOtherScreens:
    def test_servers(self, snap_compare, stub, ui) -> None:
        run = steps(ui, "2", lambda app: isinstance(app.screen, ServersScreen) and app.screen.servers)
        assert snap_compare(make(stub), terminal_size=SIZE, run_before=run)

    def test_history(self, snap_compare, stub, ui) -> None:
        run = steps(
            ui,
            "j",
            "H",
            lambda app: (
                isinstance(app.screen, HistoryScreen)
                and "processed" in str(app.screen.query_one("#history-summary", Static).content)
            ),
        )
        assert snap_compare(make(stub), terminal_size=SIZE, run_before=run)

    def test_schedules(self, snap_compare, stub, ui) -> None:
        run = steps(
            ui,
            "3",
            lambda app: (
                isinstance(app.screen, SchedulesScreen)
                and app.screen.query_one("#events", DataTable).row_count
            ),
        )
        assert snap_compare(make(stub), terminal_size=SIZE, run_before=run)

    def test_no_schedules(self, snap_compare, stub_factory, ui) -> None:
        run = steps(
            ui,
            "3",
            lambda app: (
                isinstance(app.screen, SchedulesScreen)
                and app.screen.entries == []
                and "no periodic" in str(app.screen.query_one("#entries-heading", Static).content)
            ),
        )
        assert snap_compare(make(stub_factory(schedules=False)), terminal_size=SIZE, run_before=run)

    def test_help(self, snap_compare, stub, ui) -> None:
        run = steps(ui, "question_mark", lambda app: isinstance(app.screen, HelpScreen))
        assert snap_compare(make(stub), terminal_size=(130, 60), run_before=run)

    def test_confirm_delete_all(self, snap_compare, stub, ui) -> None:
        run = open_default(
            ui, "h", "h", on_queue_state("archived"), "D", lambda app: isinstance(app.screen, ConfirmScreen)
        )
        assert snap_compare(make(stub), terminal_size=SIZE, run_before=run)

    def test_limits_dialog_refusing_a_bad_rate(self, snap_compare, stub, ui) -> None:
        limits = QueueLimits(5, Rate(100, 60_000, 10))
        stub.limits["default"] = LimitsInfo("default", limits, 1, 0, [], 0, 0, [], NOW)

        def refused(app: Any) -> bool:
            return "bad rate" in str(app.screen.query_one("#limits-error", Static).content)

        run = open_default(
            ui,
            "L",
            lambda app: isinstance(app.screen, LimitsScreen),
            "tab",
            "ctrl+u",
            "a",
            "b",
            "c",
            "enter",
            refused,
        )
        assert snap_compare(make(stub), terminal_size=SIZE, run_before=run)


class TestRedisDown:
    def test_banner_over_the_last_data(self, snap_compare, stub, ui) -> None:
        def go_down(app: Any) -> bool:
            stub.down = True
            return True

        run = steps(ui, go_down, "ctrl+r", lambda app: app.banner != "")
        assert snap_compare(make(stub), terminal_size=SIZE, run_before=run)

    def test_banner_before_any_data(self, snap_compare, stub, ui) -> None:
        stub.down = True

        async def run(pilot: Any) -> None:
            await ui.wait(pilot, lambda: pilot.app.banner != "")

        assert snap_compare(make(stub), terminal_size=SIZE, run_before=run)


@pytest.mark.parametrize("key", ["1", "2", "3"])
async def test_goto_keys_open_each_screen(key, stub, ui) -> None:
    """The screen-switch keys work from a queue screen (no snapshot)."""
    app = make(stub)
    async with app.run_test(size=SIZE) as pilot:
        await ui.wait(pilot, lambda: loaded(app))
        await pilot.press("j", "enter", key)
        expected = {"1": "QueuesScreen", "2": "ServersScreen", "3": "SchedulesScreen"}[key]
        await ui.wait(pilot, lambda: type(app.screen).__name__ == expected)
        assert len(app.screen_stack) == (2 if key == "1" else 3)
