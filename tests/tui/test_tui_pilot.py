"""Pilot tests: drive the dashboard with keys against a real Redis, check the screen and Redis."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from seed import list_ids, message, seed_task, task_hash
from textual.widgets import Input, Static

from asynq_py.engine import (
    AsyncClient,
    AsyncInspector,
    Client,
    Inspector,
    Limit,
    QueueLimits,
    Rate,
    Task,
    TaskState,
    keys,
    wire,
)
from asynq_py.tui import DashboardApp, run_dashboard
from asynq_py.tui.screen_confirm import ConfirmScreen
from asynq_py.tui.screen_help import HelpScreen
from asynq_py.tui.screen_history import HistoryScreen
from asynq_py.tui.screen_limits import LimitsScreen
from asynq_py.tui.screen_queue import QueueScreen, TaskTable
from asynq_py.tui.screen_queues import QueuesScreen
from asynq_py.tui.screen_schedules import SchedulesScreen
from asynq_py.tui.screen_servers import ServersScreen
from asynq_py.tui.screen_task import TaskScreen
from asynq_py.tui.widget_table import NavTable

pytestmark = pytest.mark.real

SIZE = (150, 45)


@pytest.fixture
async def make_app(tui_url: str) -> AsyncIterator[Callable[..., DashboardApp]]:
    """Build dashboards on the test Redis; their inspectors and clients are closed afterwards."""
    opened: list[AsyncInspector | AsyncClient] = []

    def make(*, client: bool = False, url: str | None = None, **kwargs: Any) -> DashboardApp:
        inspector = AsyncInspector(url or tui_url)
        opened.append(inspector)
        async_client = None
        if client:
            async_client = AsyncClient(url or tui_url)
            opened.append(async_client)
        kwargs.setdefault("refresh_s", 30)
        return DashboardApp(inspector, async_client, **kwargs)

    yield make
    for item in opened:
        await item.aclose()


async def open_queue(pilot: Any, ui: Any, queue: str = "default") -> QueueScreen:
    """From the queues screen, move the cursor to ``queue`` and open it."""
    app = pilot.app
    await ui.wait(pilot, lambda: queue in ui.keys(app, "#queues"))
    table = app.screen.query_one("#queues")
    table.move_cursor(row=ui.keys(app, "#queues").index(queue))
    await pilot.press("enter")
    await ui.wait(pilot, lambda: isinstance(app.screen, QueueScreen) and app.screen.info is not None)
    screen = app.screen
    assert isinstance(screen, QueueScreen)
    return screen


async def show_state(pilot: Any, ui: Any, state: str) -> None:
    """Press ``l`` until the queue screen shows ``state``, and wait for its rows."""
    screen = pilot.app.screen
    for _ in range(8):
        if screen.state.value == state:
            break
        await pilot.press("l")
    assert screen.state.value == state
    await ui.wait(
        pilot, lambda: screen.last_answer is not None and screen.last_answer.request.state.value == state
    )


async def confirm(pilot: Any, ui: Any, expected: str, answer: str = "y") -> None:
    """Wait for the confirmation dialog, check it names ``expected``, and answer it."""
    app = pilot.app
    await ui.wait(pilot, lambda: isinstance(app.screen, ConfirmScreen))
    question = ui.static(app, "#confirm-question")
    assert expected in question, question
    await pilot.press(answer)
    await ui.wait(pilot, lambda: not isinstance(app.screen, ConfirmScreen))


def notices(app: DashboardApp) -> list[str]:
    """Return the text of the notifications shown so far."""
    return [n.message for n in app._notifications]


class TestNavigation:
    async def test_queues_screen_shows_every_queue(self, make_app, seeded, ui) -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await ui.wait(pilot, lambda: ui.keys(app, "#queues") == ["critical", "default", "low"])
            rows = {row[0]: row for row in ui.rows(app, "#queues")}
            assert rows["low"][1] == "PAUSED"
            assert rows["default"][1] == "RUN"
            assert rows["default"][2] == "10"  # size: every state of "default"
            assert rows["default"][5:] == ["10", "2", "20.00%"]  # processed, failed, error rate today
            totals = ui.static(app, "#totals")
            assert "3 queues (1 paused)" in totals
            assert "12 tasks" in totals
            assert "processed 10, failed 2, error rate 20.00%" in totals

    async def test_sort_by_keys_and_header_click(self, make_app, seeded, ui) -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await ui.wait(pilot, lambda: len(ui.keys(app, "#queues")) == 3)
            await pilot.press("s", "s")  # by state, then by size
            assert app.screen.sort_column == "size"
            await pilot.press("S")
            assert ui.keys(app, "#queues")[0] == "default"
            await pilot.press("s")  # latency
            await pilot.click("#queues", offset=(3, 0))  # the "Queue" header
            assert app.screen.sort_column == "queue"
            assert ui.keys(app, "#queues") == ["critical", "default", "low"]

    async def test_queue_tabs_show_each_state_with_its_columns(self, make_app, seeded, ui) -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_queue(pilot, ui)
            assert screen.state.value == "active"  # the first state with tasks
            expected_columns = {
                "active": ["ID", "Type", "Retried", "Max Retry", "Payload"],
                "pending": ["ID", "Type", "Retried", "Max Retry", "Payload"],
                "aggregating": ["Group", "Size"],
                "scheduled": ["ID", "Type", "Next Process Time", "Payload"],
                "retry": [
                    "ID",
                    "Type",
                    "Retry",
                    "Last Failure",
                    "Last Failure Time",
                    "Next Process Time",
                    "Payload",
                ],
                "archived": ["ID", "Type", "Retry", "Last Failure", "Last Failure Time", "Payload"],
                "completed": ["ID", "Type", "Completion Time", "Payload", "Result"],
            }
            for state, columns in expected_columns.items():
                await show_state(pilot, ui, state)
                assert [c for c in ui.labels(app, "#tasks") if c] == columns
                if state != "aggregating":
                    await ui.wait(pilot, lambda s=state: ui.keys(app, "#tasks") == seeded.ids[s])
            tabs = " ".join(str(t.content) for t in screen.query(".state-tab").results(Static))
            assert tabs == "Active:1 Pending:3 Aggregating:2 Scheduled:1 Retry:1 Archived:1 Completed:1"
            retry_row = None
            await show_state(pilot, ui, "retry")
            await ui.wait(pilot, lambda: ui.keys(app, "#tasks") == ["retry-1"])
            retry_row = ui.rows(app, "#tasks")[0]
            assert retry_row[3] == "2/25"
            assert retry_row[4] == "connection refused"
            assert retry_row[5].startswith("1m")
            assert retry_row[5].endswith("s ago")
            await pilot.press("h", "h", "shift+tab", "h")
            assert screen.state is TaskState.ACTIVE
            await pilot.press("tab")
            assert str(screen.state) == "pending"
            await pilot.press("shift+tab")
            await pilot.press("h")  # wraps around
            assert str(screen.state) == "completed"  # (str: mypy keeps the narrowing above)

    async def test_aggregating_groups_open_and_close(self, make_app, seeded, ui) -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_queue(pilot, ui)
            await show_state(pilot, ui, "aggregating")
            await ui.wait(pilot, lambda: ui.rows(app, "#tasks") == [["digest", "2"]])
            await pilot.press("enter")
            await ui.wait(pilot, lambda: ui.keys(app, "#tasks") == ["agg-1", "agg-2"])
            assert ui.labels(app, "#tasks")[-1] == "Group"
            assert 'Group "digest"' in ui.static(app, "#pager")
            await pilot.press("escape")
            await ui.wait(pilot, lambda: ui.keys(app, "#tasks") == ["digest"])
            assert isinstance(app.screen, QueueScreen)
            assert screen.group is None

    async def test_task_screen_shows_every_field(self, make_app, seeded, ui) -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await open_queue(pilot, ui)
            await show_state(pilot, ui, "completed")
            await ui.wait(pilot, lambda: ui.keys(app, "#tasks") == ["completed-1"])
            await pilot.press("enter")
            await ui.wait(pilot, lambda: isinstance(app.screen, TaskScreen))
            await ui.wait(pilot, lambda: "Result" in ui.static(app, "#task-info"))
            text = ui.static(app, "#task-info")
            for expected in (
                "completed-1",
                "thumb:make",
                "default",
                "completed",
                "0 of 25",
                "Timeout           30m0s",
                "Retention         1h0m0s",
                "Completed at",
                '"id": 7',
                '"ok": true',
                "JSON, 8 bytes",
            ):
                assert expected in text, expected
            # Seeded 10 s before the real now; the loaded machine may take tens of seconds to get here.
            assert re.search(r"Completed at +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \([1-5]\ds ago\)", text)
            await pilot.press("q")
            await ui.wait(pilot, lambda: isinstance(app.screen, QueueScreen))
            await show_state(pilot, ui, "retry")
            await ui.wait(pilot, lambda: ui.keys(app, "#tasks") == ["retry-1"])
            await pilot.press("enter")
            await ui.wait(pilot, lambda: "connection refused" in ui.static(app, "#task-info"))
            text = ui.static(app, "#task-info")
            assert "Retries           2 of 25" in text
            assert re.search(r"Last failed at .* UTC \(1m[0-5]?\ds ago\)", text)  # 60 s before the seeding
            assert re.search(r"Next process time .* UTC \(in (4m[0-5]\d|5m0)s\)", text)  # 300 s after it

    async def test_back_keys_walk_up_and_quit(self, make_app, seeded, ui) -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await open_queue(pilot, ui)
            await ui.wait(pilot, lambda: ui.keys(app, "#tasks") == ["active-1"])
            await pilot.press("enter")
            await ui.wait(pilot, lambda: isinstance(app.screen, TaskScreen))
            await pilot.press("escape")
            await ui.wait(pilot, lambda: isinstance(app.screen, QueueScreen))
            await pilot.press("q")
            await ui.wait(pilot, lambda: isinstance(app.screen, QueuesScreen))
            await pilot.press("q")
            await ui.wait(pilot, lambda: app.return_code == 0)

    async def test_servers_history_schedules_and_help(self, make_app, seeded, ui) -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await ui.wait(pilot, lambda: "default" in ui.keys(app, "#queues"))
            await pilot.press("2")
            await ui.wait(pilot, lambda: isinstance(app.screen, ServersScreen) and ui.rows(app, "#servers"))
            server = ui.rows(app, "#servers")[0]
            assert server[:5] == ["worker-host", "4242", "active", "1/4", "default:6 critical:3"]
            # Seeded 2 minutes back; allow for up to a minute of a loaded machine.
            assert re.fullmatch(r"2m[0-5]?\ds ago", server[5]), server[5]
            worker = ui.rows(app, "#workers")[0]
            assert worker[:4] == ["worker-host:4242", "active-1", "image:resize", "default"]
            assert worker[6].startswith("in 29m") or worker[6] == "in 30m0s"
            await pilot.press("3")
            await ui.wait(pilot, lambda: isinstance(app.screen, SchedulesScreen) and ui.rows(app, "#events"))
            entry = ui.rows(app, "#entries")[0]
            assert entry[:3] == ["entry-every-minute", "@every 1m", "report:hourly"]
            assert entry[4] == 'Queue("default")'
            assert [row[0] for row in ui.rows(app, "#events")] == [
                "cron-task-0",
                "cron-task-1",
                "cron-task-2",
            ]
            await pilot.press("1")
            await ui.wait(pilot, lambda: isinstance(app.screen, QueuesScreen))
            app.screen.query_one("#queues").move_cursor(row=1)
            await pilot.press("H")
            await ui.wait(
                pilot, lambda: isinstance(app.screen, HistoryScreen) and "processed" in ui.text(app)
            )
            assert "processed 14, failed 2" in ui.static(app, "#history-summary")
            await pilot.press("plus")
            await ui.wait(pilot, lambda: "Last 21 days" in ui.static(app, "#history-summary"))
            await pilot.press("question_mark")
            await ui.wait(pilot, lambda: isinstance(app.screen, HelpScreen))
            await pilot.press("escape")
            await ui.wait(pilot, lambda: isinstance(app.screen, HistoryScreen))

    async def test_schedules_screen_says_when_there_are_none(self, make_app, r, ui) -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("3")
            await ui.wait(pilot, lambda: "There are no periodic tasks" in ui.text(app))
            assert not app.screen.query_one("#entries").display

    async def test_the_mouse_opens_switches_and_confirms(self, make_app, seeded, r, ui) -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await ui.wait(pilot, lambda: ui.keys(app, "#queues") == ["critical", "default", "low"])
            await pilot.click("#queues", offset=(3, 2))  # the header is line 0: this is "default"
            assert app.screen.query_one(NavTable).cursor_key == "default"
            await pilot.click("#queues", offset=(3, 2))  # a second click opens it
            await ui.wait(pilot, lambda: isinstance(app.screen, QueueScreen) and app.screen.info is not None)
            await pilot.click("#tab-retry")
            await ui.wait(pilot, lambda: ui.keys(app, "#tasks") == ["retry-1"])
            await pilot.press("d")
            await ui.wait(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.click("#no")
            await ui.wait(pilot, lambda: isinstance(app.screen, QueueScreen))
            assert list_ids(r, "default", "retry") == ["retry-1"]
            await pilot.press("d")
            await ui.wait(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.click("#yes")
            await ui.wait(pilot, lambda: ui.keys(app, "#tasks") == [])
            assert list_ids(r, "default", "retry") == []


class TestActions:
    async def test_run_a_retry_task_now(self, make_app, seeded, r, ui) -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await open_queue(pilot, ui)
            await show_state(pilot, ui, "retry")
            await ui.wait(pilot, lambda: ui.keys(app, "#tasks") == ["retry-1"])
            await pilot.press("r")
            await confirm(pilot, ui, 'Run retry task "retry-1" (webhook:post) in queue "default"')
            await ui.wait(pilot, lambda: ui.keys(app, "#tasks") == [])
            assert "1 task is now pending" in notices(app)
            assert "retry-1" in list_ids(r, "default", "pending")
            assert task_hash(r, "default", "retry-1")["state"] == b"pending"

    async def test_archive_selected_tasks(self, make_app, seeded, r, ui) -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await open_queue(pilot, ui)
            await show_state(pilot, ui, "pending")
            await ui.wait(pilot, lambda: len(ui.keys(app, "#tasks")) == 3)
            await pilot.press("space", "j", "space")  # select pending-1 and pending-3
            assert list(app.screen.selected) == ["pending-1", "pending-3"]
            assert [row[0] for row in ui.rows(app, "#tasks")] == ["●", " ", "●"]
            await pilot.press("a")
            await confirm(pilot, ui, 'Archive 2 selected pending tasks in queue "default"?')
            await ui.wait(pilot, lambda: ui.keys(app, "#tasks") == ["pending-2"])
            assert "2 tasks archived" in notices(app)
            assert sorted(list_ids(r, "default", "archived")) == ["archived-1", "pending-1", "pending-3"]
            assert app.screen.selected == {}

    async def test_delete_the_task_under_the_cursor(self, make_app, seeded, r, ui) -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await open_queue(pilot, ui)
            await show_state(pilot, ui, "archived")
            await ui.wait(pilot, lambda: ui.keys(app, "#tasks") == ["archived-1"])
            await pilot.press("d")
            await confirm(pilot, ui, 'Delete archived task "archived-1" (pdf:render) in queue "default"?')
            await ui.wait(pilot, lambda: "1 task deleted" in notices(app))
            await ui.wait(pilot, lambda: ui.keys(app, "#tasks") == [])
            assert task_hash(r, "default", "archived-1") == {}

    async def test_delete_from_the_task_screen_goes_back(self, make_app, seeded, r, ui) -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await open_queue(pilot, ui)
            await show_state(pilot, ui, "scheduled")
            await ui.wait(pilot, lambda: ui.keys(app, "#tasks") == ["scheduled-1"])
            await pilot.press("enter")
            await ui.wait(
                pilot, lambda: isinstance(app.screen, TaskScreen) and app.screen.task_info is not None
            )
            await pilot.press("d")
            await confirm(pilot, ui, 'Delete scheduled task "scheduled-1"')
            await ui.wait(pilot, lambda: isinstance(app.screen, QueueScreen) and ui.keys(app, "#tasks") == [])
            assert list_ids(r, "default", "scheduled") == []

    async def test_archive_and_run_from_the_task_screen(self, make_app, seeded, r, ui) -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await open_queue(pilot, ui)
            await show_state(pilot, ui, "pending")
            await ui.wait(pilot, lambda: len(ui.keys(app, "#tasks")) == 3)
            await pilot.press("enter")
            await ui.wait(
                pilot, lambda: isinstance(app.screen, TaskScreen) and app.screen.task_info is not None
            )
            await pilot.press("a")
            await confirm(pilot, ui, 'Archive pending task "pending-1"')
            await ui.wait(pilot, lambda: "State             archived" in ui.static(app, "#task-info"))
            assert "pending-1" in list_ids(r, "default", "archived")
            await pilot.press("r")
            await confirm(pilot, ui, 'Run archived task "pending-1"')
            await ui.wait(pilot, lambda: "State             pending" in ui.static(app, "#task-info"))
            assert "pending-1" in list_ids(r, "default", "pending")

    async def test_cancel_an_active_task(self, make_app, seeded, r, ui) -> None:
        pubsub = r.pubsub()
        pubsub.subscribe(keys.CANCEL_CHANNEL)
        assert pubsub.get_message(timeout=5)["type"] == "subscribe"
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await open_queue(pilot, ui)
            await ui.wait(pilot, lambda: ui.keys(app, "#tasks") == ["active-1"])
            await pilot.press("d")  # an active task cannot be deleted: no dialog, a warning
            await ui.wait(pilot, lambda: "Active tasks cannot be deleted." in notices(app))
            assert not isinstance(app.screen, ConfirmScreen)
            await pilot.press("c")
            await confirm(pilot, ui, 'Cancel the processing of active task "active-1"')
            await ui.wait(pilot, lambda: "Cancellation sent for 1 task" in notices(app))
        got = await asyncio.to_thread(pubsub.get_message, True, 5)
        pubsub.close()
        assert got is not None
        assert got["data"] == b"active-1"

    async def test_declining_changes_nothing(self, make_app, seeded, r, ui) -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await open_queue(pilot, ui)
            await show_state(pilot, ui, "pending")
            await ui.wait(pilot, lambda: len(ui.keys(app, "#tasks")) == 3)
            await pilot.press("D")
            await confirm(pilot, ui, 'Delete all 3 pending tasks in queue "default"?', answer="n")
            await pilot.press("d")
            await confirm(pilot, ui, "Delete pending task", answer="escape")
            assert len(list_ids(r, "default", "pending")) == 3
            assert len(ui.keys(app, "#tasks")) == 3

    @pytest.mark.parametrize(
        ("state", "key", "question", "report", "after"),
        [
            ("scheduled", "D", "Delete all 1 scheduled tasks", "1 task deleted", {"scheduled": 0}),
            (
                "archived",
                "R",
                "Run all 1 archived tasks",
                "1 task is now pending",
                {"archived": 0, "pending": 4},
            ),
            (
                "pending",
                "A",
                "Archive all 3 pending tasks",
                "3 tasks archived",
                {"pending": 0, "archived": 4},
            ),
            ("completed", "D", "Delete all 1 completed tasks", "1 task deleted", {"completed": 0}),
            ("retry", "A", "Archive all 1 retry tasks", "1 task archived", {"retry": 0, "archived": 2}),
        ],
    )
    async def test_whole_state_actions(
        self, make_app, seeded, r, ui, state, key, question, report, after
    ) -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await open_queue(pilot, ui)
            await show_state(pilot, ui, state)
            await ui.wait(pilot, lambda: ui.keys(app, "#tasks") == seeded.ids[state])
            await pilot.press(key)
            await confirm(pilot, ui, question)
            await ui.wait(pilot, lambda: report in notices(app))
            await ui.wait(pilot, lambda: ui.keys(app, "#tasks") == [])
            for name, count in after.items():
                assert len(list_ids(r, "default", name)) == count, name

    async def test_run_a_whole_group(self, make_app, seeded, r, ui) -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await open_queue(pilot, ui)
            await show_state(pilot, ui, "aggregating")
            await ui.wait(pilot, lambda: ui.keys(app, "#tasks") == ["digest"])
            await pilot.press("R")
            await confirm(pilot, ui, 'Run all 2 aggregating tasks in group "digest" of queue "default"')
            await ui.wait(pilot, lambda: "2 tasks are now pending" in notices(app))
            await ui.wait(pilot, lambda: ui.keys(app, "#tasks") == [])
            assert {"agg-1", "agg-2"} <= set(list_ids(r, "default", "pending"))

    async def test_refused_bulk_action_says_why(self, make_app, seeded, ui) -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await open_queue(pilot, ui)
            await show_state(pilot, ui, "pending")
            await pilot.press("R")
            await ui.wait(pilot, lambda: "Run all is not available for pending tasks." in notices(app))

    async def test_pause_and_unpause_a_queue(self, make_app, seeded, r, ui) -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await ui.wait(pilot, lambda: ui.keys(app, "#queues") == ["critical", "default", "low"])
            await pilot.press("j", "P")
            await ui.wait(pilot, lambda: ui.rows(app, "#queues")[1][1] == "PAUSED")
            assert r.exists(keys.paused_key("default"))
            assert 'Successfully paused queue "default"' in notices(app)
            await pilot.press("P")
            await ui.wait(pilot, lambda: ui.rows(app, "#queues")[1][1] == "RUN")
            assert not r.exists(keys.paused_key("default"))
            await pilot.press("j", "enter")  # "low" is paused; unpause it from its own screen
            await ui.wait(
                pilot, lambda: isinstance(app.screen, QueueScreen) and "PAUSED" in ui.static(app, "#summary")
            )
            await pilot.press("P")
            await ui.wait(pilot, lambda: "RUN" in ui.static(app, "#summary"))
            assert not r.exists(keys.paused_key("low"))

    async def test_queue_screen_shows_limits_use_and_throttled_count(
        self, make_app, seeded, r, ui, tui_url
    ) -> None:
        with Inspector(tui_url) as inspector:
            inspector.set_queue_limits("default", concurrency=1, rate="100/m")
            inspector.set_queue_limits("default", task_type="email:send", concurrency=2)
        r.zadd(keys.type_active_key("default", "email:send"), {"active-1": 1})  # holds a slot (leased)
        r.lpush(keys.parked_key("default", "email:send"), "pending-3")
        r.sadd(keys.parked_types_key("default"), "email:send")
        r.set(keys.throttled_key("default", datetime.now(UTC)), 2)
        r.set(keys.throttled_total_key("default"), 5)
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_queue(pilot, ui)
            await ui.wait(pilot, lambda: screen.query_one("#limits", Static).display)
            line = ui.static(app, "#limits")
            assert "queue: 1/1 active, rate 100/m, next start now" in line
            assert "email:send: 1/2 active, 1 parked" in line
            assert "Throttled today 2, total 5" in line
            # the seeded heartbeat is Go's (no asynq-py marker) and serves "default"
            assert "Go server worker-host:4242 serves this queue and ignores its limits" in line
            r.delete(keys.parked_key("default", "email:send"), keys.parked_types_key("default"))
            r.delete(keys.throttled_total_key("default"))
            with Inspector(tui_url) as inspector:
                inspector.remove_queue_limits("default")
            await pilot.press("ctrl+r")
            await ui.wait(pilot, lambda: not screen.query_one("#limits", Static).display)

    async def test_enqueue_a_copy_needs_a_client(self, make_app, seeded, r, ui) -> None:
        app = make_app(client=True)
        async with app.run_test(size=SIZE) as pilot:
            await open_queue(pilot, ui)
            await show_state(pilot, ui, "completed")
            await ui.wait(pilot, lambda: ui.keys(app, "#tasks") == ["completed-1"])
            await pilot.press("enter")
            await ui.wait(
                pilot, lambda: isinstance(app.screen, TaskScreen) and app.screen.task_info is not None
            )
            await pilot.press("e")
            await confirm(
                pilot, ui, 'Enqueue a copy of completed task "completed-1" (thumb:make) to queue "default"'
            )
            await ui.wait(pilot, lambda: 'Enqueued 1 task to queue "default"' in notices(app))
        pending = list_ids(r, "default", "pending")
        assert len(pending) == 4
        copy = next(i for i in pending if not i.startswith("pending-"))
        assert task_hash(r, "default", copy)["state"] == b"pending"

    async def test_enqueue_without_a_client_is_refused(self, make_app, seeded, ui) -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await open_queue(pilot, ui)
            await pilot.press("enter")
            await ui.wait(
                pilot, lambda: isinstance(app.screen, TaskScreen) and app.screen.task_info is not None
            )
            await pilot.press("e")
            await ui.wait(pilot, lambda: any("needs a client" in n for n in notices(app)))
            assert not isinstance(app.screen, ConfirmScreen)


async def open_limits(pilot: Any, ui: Any) -> LimitsScreen:
    """On the queue screen, wait for its limits to be read, then press L and wait for the dialog."""
    screen = pilot.app.screen
    assert isinstance(screen, QueueScreen)
    await ui.wait(pilot, lambda: screen.last_answer is not None and screen.last_answer.limits is not None)
    await pilot.press("L")
    await ui.wait(pilot, lambda: isinstance(pilot.app.screen, LimitsScreen))
    dialog = pilot.app.screen
    assert isinstance(dialog, LimitsScreen)
    return dialog


def fields(dialog: LimitsScreen) -> dict[str, str]:
    """Return what the dialog's fields hold."""
    return {k: dialog.query_one(f"#limit-{k}", Input).value for k in ("type", "concurrency", "rate", "burst")}


class TestLimits:
    async def test_sets_concurrency_and_rate_and_shows_them(self, make_app, seeded, ui, tui_url) -> None:
        app = make_app()
        with Inspector(tui_url) as inspector:
            async with app.run_test(size=SIZE) as pilot:
                await open_queue(pilot, ui)
                dialog = await open_limits(pilot, ui)
                assert fields(dialog) == {"type": "", "concurrency": "", "rate": "", "burst": ""}
                await pilot.press("3", "tab", *"100/m", "tab", "5", "enter")  # typed, field by field
                await ui.wait(pilot, lambda: isinstance(app.screen, QueueScreen))
                await ui.wait(pilot, lambda: "rate 100/m burst 5" in ui.static(app, "#limits"))
                assert "queue: 1/3 active" in ui.static(app, "#limits")
                assert 'Set the limits of queue "default"' in notices(app)
                assert inspector.get_queue_limits("default").limits == QueueLimits(3, Rate(100, 60_000, 5))

    async def test_prefills_and_sets_a_type_limit(self, make_app, seeded, ui, tui_url) -> None:
        app = make_app()
        with Inspector(tui_url) as inspector:
            inspector.set_queue_limits("default", concurrency=2, rate="10/s")
            async with app.run_test(size=SIZE) as pilot:
                await open_queue(pilot, ui)
                dialog = await open_limits(pilot, ui)
                assert fields(dialog) == {"type": "", "concurrency": "2", "rate": "10/s", "burst": "1"}
                await pilot.press("shift+tab", *"email:send")  # the type field shows that type's limits
                assert fields(dialog) == {"type": "email:send", "concurrency": "", "rate": "", "burst": ""}
                await pilot.press("tab", "1", "enter")
                await ui.wait(pilot, lambda: "email:send: 0/1 active" in ui.static(app, "#limits"))
                assert 'Set the limits of type "email:send" in queue "default"' in notices(app)
                assert inspector.get_queue_limits("default").limits == QueueLimits(
                    2, Rate(10, 1_000), {"email:send": Limit(concurrency=1)}
                )
                dialog = await open_limits(pilot, ui)  # the new limit is prefilled when its type is typed
                await pilot.press("shift+tab", *"email:send")
                assert fields(dialog)["concurrency"] == "1"

    async def test_removes_a_type_limit_then_the_queue_limits(self, make_app, seeded, ui, tui_url) -> None:
        app = make_app()
        with Inspector(tui_url) as inspector:
            inspector.set_queue_limits("default", concurrency=2)
            inspector.set_queue_limits("default", task_type="email:send", concurrency=1)
            async with app.run_test(size=SIZE) as pilot:
                screen = await open_queue(pilot, ui)
                await open_limits(pilot, ui)
                await pilot.press("shift+tab", *"email:send")
                await pilot.click("#remove")
                await ui.wait(pilot, lambda: "email:send" not in ui.static(app, "#limits"))
                assert 'Removed the limits of type "email:send" in queue "default"' in notices(app)
                assert inspector.get_queue_limits("default").limits == QueueLimits(2)
                await open_limits(pilot, ui)
                await pilot.click("#remove")
                await ui.wait(pilot, lambda: not screen.query_one("#limits", Static).display)
                assert 'Removed the limits of queue "default"' in notices(app)
                assert inspector.get_queue_limits("default").limits == QueueLimits()
                await open_limits(pilot, ui)
                await pilot.click("#remove")  # nothing left to remove: the engine's error is shown
                await ui.wait(pilot, lambda: any("has no limits" in n for n in notices(app)))
                assert 'The limits of queue "default" did not change; 1 failed: queue ' in notices(app)[-1]

    @pytest.mark.parametrize(
        ("typed", "error"),
        [
            ({"rate": "abc"}, "bad rate 'abc': use N/s, N/m or N/h (e.g. 100/m)"),
            ({"concurrency": "two"}, "concurrency must be a whole number, not 'two'"),
            ({"concurrency": "0"}, "concurrency must be from 1 to 1,000,000,000, not 0"),
            ({"rate": "", "burst": "3"}, "a burst needs a rate: give --rate as well"),
            ({"concurrency": "", "rate": ""}, "give a concurrency, a rate or a burst to set"),
            ({"type": "bad\x07type", "concurrency": "1"}, "contains a control character"),
        ],
    )
    async def test_bad_input_shows_the_engine_message_and_changes_nothing(
        self, make_app, seeded, ui, tui_url, typed, error
    ) -> None:
        app = make_app()
        with Inspector(tui_url) as inspector:
            inspector.set_queue_limits("default", concurrency=2)
            before = inspector.get_queue_limits("default").limits
            async with app.run_test(size=SIZE) as pilot:
                await open_queue(pilot, ui)
                dialog = await open_limits(pilot, ui)
                for key, value in typed.items():  # the type first: it prefills the other fields
                    dialog.query_one(f"#limit-{key}", Input).value = value
                    await pilot.pause()
                dialog.query_one("#limit-concurrency", Input).focus()
                await pilot.press("enter")
                await ui.wait(pilot, lambda: error in ui.static(app, "#limits-error"))
                assert app.screen is dialog  # still open, to correct the input
                await pilot.press("escape")
                await ui.wait(pilot, lambda: isinstance(app.screen, QueueScreen))
                assert inspector.get_queue_limits("default").limits == before
                assert not any("limits" in n for n in notices(app))

    async def test_escape_changes_nothing(self, make_app, seeded, ui, tui_url) -> None:
        app = make_app()
        with Inspector(tui_url) as inspector:
            inspector.set_queue_limits("default", rate="5/s")
            async with app.run_test(size=SIZE) as pilot:
                await open_queue(pilot, ui)
                dialog = await open_limits(pilot, ui)
                await pilot.press("backspace", "7", "tab", "ctrl+u", *"9/h")
                assert fields(dialog)["rate"] == "9/h"
                await pilot.press("escape")
                await ui.wait(pilot, lambda: isinstance(app.screen, QueueScreen))
                await pilot.press("ctrl+r")
                await pilot.pause()
                assert inspector.get_queue_limits("default").limits == QueueLimits(rate=Rate(5, 1_000))
                assert not any("limits" in n for n in notices(app))


class TestBehaviour:
    async def test_filter_as_you_type(self, make_app, seeded, r, ui) -> None:
        seed_task(r, message("sms:send", b"{}", task_id="pending-sms"), "pending")
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await open_queue(pilot, ui)
            await show_state(pilot, ui, "pending")
            await ui.wait(pilot, lambda: len(ui.keys(app, "#tasks")) == 4)
            await pilot.press("slash", "s", "m", "s")
            await ui.wait(pilot, lambda: ui.keys(app, "#tasks") == ["pending-sms"])
            assert 'Filter "sms": 1 matches' in ui.static(app, "#pager")
            await pilot.press("backspace", "backspace", "backspace", *"pending-2")
            await ui.wait(pilot, lambda: ui.keys(app, "#tasks") == ["pending-2"])
            await pilot.press("enter")  # keep the filter, back to the table
            assert app.focused is app.screen.query_one("#tasks")
            await pilot.press("escape")  # clears the filter
            await ui.wait(pilot, lambda: len(ui.keys(app, "#tasks")) == 4)
            assert not app.screen.query_one("#filter").display

    async def test_pages(self, make_app, r, ui) -> None:
        for i in range(120):
            seed_task(r, message("bulk", f"{i}".encode(), queue="bulk", task_id=f"bulk-{i:03d}"), "pending")
        app = make_app(page_size=50)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_queue(pilot, ui, "bulk")
            assert screen.state.value == "pending"
            await ui.wait(pilot, lambda: "Showing 1-50 of 120" in ui.static(app, "#pager"))
            assert len(ui.keys(app, "#tasks")) == 50
            await pilot.press("n")
            await ui.wait(pilot, lambda: "Showing 51-100 of 120" in ui.static(app, "#pager"))
            await pilot.press("n")
            await ui.wait(pilot, lambda: "Showing 101-120 of 120" in ui.static(app, "#pager"))
            assert len(ui.keys(app, "#tasks")) == 20
            await pilot.press("n")  # no page 4
            assert screen.page == 3
            await pilot.press("p", "p", "p")
            await ui.wait(pilot, lambda: "Showing 1-50 of 120" in ui.static(app, "#pager"))

    async def test_refresh_keeps_cursor_selection_and_scroll(self, make_app, seeded, r, ui) -> None:
        app = make_app(refresh_s=0.2)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_queue(pilot, ui)
            await show_state(pilot, ui, "pending")
            await ui.wait(pilot, lambda: len(ui.keys(app, "#tasks")) == 3)
            await pilot.press("j", "space")  # select pending-2; the cursor moves to pending-3
            table = screen.query_one(TaskTable)
            assert table.cursor_key == "pending-3"
            seed_task(r, message("email:send", b"{}", task_id="pending-0"), "pending")
            await ui.wait(pilot, lambda: len(ui.keys(app, "#tasks")) == 4)  # the next tick shows it
            assert table.cursor_key == "pending-3"
            assert list(screen.selected) == ["pending-2"]
            assert ui.rows(app, "#tasks")[1][0] == "●"

    async def test_refresh_keeps_the_scroll_position_when_rows_change(self, make_app, r, ui) -> None:
        for i in range(60):
            seed_task(r, message("bulk", b"{}", queue="bulk", task_id=f"bulk-{i:03d}"), "pending")
        app = make_app(page_size=60)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_queue(pilot, ui, "bulk")
            await ui.wait(pilot, lambda: len(ui.keys(app, "#tasks")) == 60)
            table = screen.query_one(TaskTable)
            await pilot.press("G", "k", "k")
            await ui.wait(pilot, lambda: table.scroll_y > 0)
            table.scroll_to(y=table.scroll_y - 4, animate=False)  # the cursor row is mid-screen
            await pilot.pause()
            line = table.cursor_row - table.scroll_y  # where the cursor row is on the screen
            assert table.cursor_key == "bulk-057"
            assert line > 0
            r.lrem(keys.pending_key("bulk"), 0, "bulk-001")  # a row above the cursor goes away
            await pilot.press("ctrl+r")
            await ui.wait(pilot, lambda: len(ui.keys(app, "#tasks")) == 59)
            await pilot.pause()
            assert table.cursor_key == "bulk-057"
            assert table.cursor_row - table.scroll_y == line

    async def test_escape_sequences_are_shown_escaped(self, make_app, r, ui) -> None:
        evil = b"\x1b[2J\x1b]0;pwned\x07[bold]markup[/bold]"
        seed_task(r, message("evil[red]", evil, task_id="evil\x1b[31m", error_msg="\x1b[5mblink"), "archived")
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await open_queue(pilot, ui)
            await ui.wait(pilot, lambda: ui.keys(app, "#tasks") == ["evil\x1b[31m"])
            row = ui.rows(app, "#tasks")[0]
            assert row[1] == "evil\\x1b[31m"
            assert row[2] == "evil[red]"
            assert row[4] == "\\x1b[5mblink"
            assert row[6] == "\\x1b[2J\\x1b]0;pwned\\x07[bold]ma…"  # cut at 32 characters
            await pilot.press("enter")
            await ui.wait(pilot, lambda: "binary, 33 bytes" in ui.static(app, "#task-info"))
            svg = app.export_screenshot()
            assert "\x1b" not in svg
            assert "\x07" not in svg
            text = ui.static(app, "#task-info")
            assert "Type              evil[red]" in text  # markup in data is not interpreted
            assert "Last error        \\x1b[5mblink" in text
            assert "|.[2J.]0;pwned.[b|" in text  # the hex dump's ASCII column

    async def test_redis_down_banner_keeps_data_and_recovers(self, real_server_factory, ui) -> None:
        server = real_server_factory()
        with Client(server.url) as client:
            client.enqueue(Task("t"), task_id="a")
        inspector = AsyncInspector(server.url)
        app = DashboardApp(inspector, refresh_s=0.2)
        try:
            async with app.run_test(size=SIZE) as pilot:
                await ui.wait(pilot, lambda: ui.keys(app, "#queues") == ["default"])
                assert not app.screen.query_one("#banner").display
                await asyncio.to_thread(server.stop)
                await ui.wait(pilot, lambda: app.screen.query_one("#banner").display)
                banner = ui.static(app, "#banner")
                assert "Redis is unreachable" in banner
                assert "showing data from" in banner
                assert ui.keys(app, "#queues") == ["default"]  # the last data stays
                await pilot.press("enter")  # still responsive: navigation works while down
                await ui.wait(pilot, lambda: isinstance(app.screen, QueueScreen))
                assert app.screen.query_one("#banner").display
                await asyncio.to_thread(server.start)
                with Client(server.url) as client:
                    client.enqueue(Task("t"), task_id="b")
                await ui.wait(pilot, lambda: not app.screen.query_one("#banner").display)
                await ui.wait(pilot, lambda: ui.keys(app, "#tasks") == ["b"])
        finally:
            await inspector.aclose()

    async def test_deleted_queue_and_task_are_reported(self, make_app, seeded, r, ui) -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await open_queue(pilot, ui, "critical")
            await ui.wait(pilot, lambda: ui.keys(app, "#tasks") == ["crit-1"])
            await pilot.press("enter")
            await ui.wait(
                pilot, lambda: isinstance(app.screen, TaskScreen) and app.screen.task_info is not None
            )
            r.delete(keys.task_key("critical", "crit-1"))
            r.delete(keys.pending_key("critical"))
            await pilot.press("ctrl+r")
            await ui.wait(pilot, lambda: 'Task "crit-1" no longer exists.' in ui.static(app, "#task-info"))
            r.srem(keys.ALL_QUEUES, "critical")
            await pilot.press("q")
            await ui.wait(pilot, lambda: 'Queue "critical" no longer exists.' in ui.static(app, "#pager"))

    async def test_schedules_show_the_true_next_run_when_the_heartbeat_is_older(
        self, make_app, r, ui
    ) -> None:
        now = datetime.now(UTC)
        entry = wire.SchedulerEntry(
            "every-minute",
            "@every 1m",
            "report",
            b"{}",
            (),
            now - timedelta(seconds=3),
            now - timedelta(minutes=1),
        )
        r.rpush(keys.scheduler_entries_key("sched-stale"), wire.encode_scheduler_entry(entry))
        r.zadd(keys.ALL_SCHEDULERS, {keys.scheduler_entries_key("sched-stale"): int(now.timestamp()) + 30})
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("3")
            await ui.wait(pilot, lambda: isinstance(app.screen, SchedulesScreen) and ui.rows(app, "#entries"))
            next_run = ui.rows(app, "#entries")[0][5]
            assert next_run.startswith("in "), next_run
            assert "ago" not in next_run, next_run

    async def test_a_large_json_payload_is_shown_as_json_with_its_size(self, make_app, r, ui) -> None:
        big = b'{"rows": [' + b",".join(b'{"n": %d}' % i for i in range(200_000)) + b"]}"  # ~2.5 MB
        seed_task(r, message("export:rows", big, task_id="big-json"), "pending")
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await open_queue(pilot, ui)
            await show_state(pilot, ui, "pending")
            await ui.wait(pilot, lambda: ui.keys(app, "#tasks") == ["big-json"])
            await pilot.press("enter")
            await ui.wait(pilot, lambda: isinstance(app.screen, TaskScreen) and "Payload" in ui.text(app))
            text = ui.static(app, "#task-info")
            assert f"(JSON, {len(big):,} bytes, first 65,536 shown)" in text, text[:300]
            assert '{"rows": [{"n": 0}' in text
            assert "more bytes not shown" in text
            assert "binary" not in text

    async def test_enter_on_a_worker_opens_its_task(self, make_app, seeded, ui) -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await ui.wait(pilot, lambda: "default" in ui.keys(app, "#queues"))
            await pilot.press("2")
            await ui.wait(pilot, lambda: isinstance(app.screen, ServersScreen) and ui.rows(app, "#workers"))
            app.screen.query_one("#workers").focus()
            await pilot.press("enter")
            await ui.wait(
                pilot, lambda: isinstance(app.screen, TaskScreen) and app.screen.task_info is not None
            )
            assert app.screen.task_id == "active-1"
            assert app.screen.queue == "default"

    async def test_every_state_tab_is_in_view_at_80_columns(self, make_app, seeded, ui) -> None:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await open_queue(pilot, ui)
            completed = app.screen.query_one("#tab-completed")
            await ui.wait(pilot, lambda: completed.region.width > 0)
            assert completed.region.right <= 80
            assert "Comp:" in str(completed.render())

    async def test_space_selects_and_moves_as_the_help_says(self, make_app, seeded, ui) -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await open_queue(pilot, ui)
            await show_state(pilot, ui, "pending")
            await ui.wait(pilot, lambda: len(ui.keys(app, "#tasks")) >= 2)
            table = app.screen.query_one(TaskTable)
            first = table.cursor_key
            await pilot.press("space")
            await ui.wait(pilot, lambda: table.cursor_row == 1)
            assert first in app.screen.selected
            await pilot.press("question_mark")
            await ui.wait(pilot, lambda: isinstance(app.screen, HelpScreen))
            shown = app.export_screenshot().replace("&#160;", " ")
            assert "Select or unselect the task, then move to the next one" in shown


class TestEntryPoint:
    def test_run_dashboard_returns_the_exit_code_and_closes_what_it_got(
        self, tui_url, seeded, monkeypatch, ui
    ) -> None:
        run_async = DashboardApp.run_async
        seen: list[str] = []

        async def headless(self: DashboardApp, **_: Any) -> Any:
            async def quit_when_loaded(pilot: Any) -> None:
                await ui.wait(pilot, lambda: pilot.app.screen.query_one(NavTable).row_count == 3)
                seen.extend(str(row.key.value) for row in pilot.app.screen.query_one(NavTable).ordered_rows)
                await pilot.press("q")

            return await run_async(self, headless=True, size=SIZE, auto_pilot=quit_when_loaded)

        monkeypatch.setattr(DashboardApp, "run_async", headless)
        inspector, client = AsyncInspector(tui_url), AsyncClient(tui_url)
        closed: list[str] = []
        for name, obj in (("inspector", inspector), ("client", client)):
            monkeypatch.setattr(obj, "aclose", _recorder(obj.aclose, closed, name))
        assert run_dashboard(inspector, client, 0.5) == 0
        assert seen == ["critical", "default", "low"]
        assert closed == ["inspector", "client"]

    def test_refresh_must_be_positive(self, tui_url) -> None:
        with pytest.raises(ValueError, match="refresh_s"):
            run_dashboard(AsyncInspector(tui_url), None, 0)


def _recorder(aclose: Callable[[], Any], log: list[str], name: str) -> Callable[[], Any]:
    async def wrapped() -> None:
        log.append(name)
        await aclose()

    return wrapped
