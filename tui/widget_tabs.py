"""``StateTabs``: the row of task-state tabs with their counts; click one to select it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Static

from asynq_py.engine import TaskState

from .fmt import thousands
from .widget_bars import STATE_COLOURS, STATE_ORDER

if TYPE_CHECKING:
    from textual import events
    from textual.app import ComposeResult

__all__ = ["StateTabs"]


class _Tab(Static):
    """One state's label and count."""

    def __init__(self, state: TaskState) -> None:
        super().__init__(id=f"tab-{state.value}", classes="state-tab")
        self.state = state
        self.count = 0
        self.selected = False

    def draw(self) -> None:
        label = Text(f"{self.state.value.capitalize()}:{thousands(self.count)}")
        if self.selected:
            label.stylize(f"bold underline {STATE_COLOURS[self.state]}")
        self.set_class(self.selected, "-selected")
        self.update(label)

    def on_click(self, event: events.Click) -> None:
        """Select this tab."""
        event.stop()
        self.post_message(StateTabs.Selected(self.state))


class StateTabs(Horizontal):
    """Tabs ``Active:n Pending:n …`` with the selected one bold and underlined (Go's tab row)."""

    @dataclass(eq=False)
    class Selected(Message):
        """A tab was clicked."""

        state: TaskState
        """The state of the clicked tab."""

    def __init__(self, selected: TaskState) -> None:
        super().__init__(id="state-tabs")
        self._selected = selected

    def compose(self) -> ComposeResult:
        """Make one tab per state."""
        for state in STATE_ORDER:
            yield _Tab(state)

    def on_mount(self) -> None:
        """Mark the selected tab."""
        self.show(self._selected, {})

    def show(self, selected: TaskState, counts: dict[TaskState, int]) -> None:
        """Select ``selected`` and show ``counts`` (states missing from it keep their count)."""
        self._selected = selected
        for tab in self.query(_Tab):
            tab.count = counts.get(tab.state, tab.count)
            tab.selected = tab.state is selected
            tab.draw()
