"""The lines every screen shares: a title bar and the "Redis is unreachable" banner."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

__all__ = ["Banner", "TitleBar"]


class TitleBar(Static):
    """The screen's name on the left and when its data was last read on the right."""

    def __init__(self, title: Text) -> None:
        super().__init__(id="title-bar")
        self._title = title
        self._stamp = ""

    def on_mount(self) -> None:
        """Draw the title before any data arrives."""
        self._draw()

    def set_title(self, title: Text) -> None:
        """Change the title (e.g. when the task's state is known)."""
        self._title = title
        self._draw()

    def set_stamp(self, stamp: str) -> None:
        """Show when the data was last read."""
        self._stamp = stamp
        self._draw()

    def _draw(self) -> None:
        line = Text("asynq-py dash", style="bold")
        line.append(" › ", style="dim")
        line.append_text(self._title)
        if self._stamp:
            gap = max(2, self.size.width - line.cell_len - len(self._stamp) - 2)
            line.append(" " * gap)
            line.append(self._stamp, style="dim")
        self.update(line)

    def on_resize(self) -> None:
        """Keep the stamp on the right edge."""
        self._draw()


class Banner(Static):
    """Says that Redis cannot be reached (or answered with an error); hidden while all is well.

    It follows the app's ``banner`` reactive, so every screen shows the same state.
    """

    def __init__(self) -> None:
        super().__init__(id="banner")

    def on_mount(self) -> None:
        """Follow the app's banner text."""
        self.watch(self.app, "banner", self._show)

    def _show(self, text: str) -> None:
        self.display = bool(text)
        self.update(Text(text))
