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
        self.compact = False
        """Show the state's first four letters (a narrow terminal), so that every tab stays in view."""

    def label(self) -> str:
        name = self.state.value.capitalize()
        return f"{name[:4] if self.compact else name}:{thousands(self.count)}"

    def draw(self) -> None:
        label = Text(self.label())
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
        tabs = list(self.query(_Tab))
        for tab in tabs:
            tab.count = counts.get(tab.state, tab.count)
            tab.selected = tab.state is selected
            tab.compact = False
        # Each tab takes its label plus padding and margin (3 cells); the row has 2 of padding.
        full = sum(len(tab.label()) + 3 for tab in tabs) + 2
        for tab in tabs:
            tab.compact = full > self.size.width > 0
            tab.draw()

    def on_resize(self) -> None:
        """Fit the tabs to the new width."""
        self.show(self._selected, {})
