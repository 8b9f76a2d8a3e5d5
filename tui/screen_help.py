"""The help screen: every key binding, by screen."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.table import Table
from rich.text import Text
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from .bindings import HELP_SECTIONS

if TYPE_CHECKING:
    from textual.app import ComposeResult
    from textual.binding import BindingType

__all__ = ["HelpScreen", "help_table"]


def help_table() -> Table:
    """Return the bindings of ``HELP_SECTIONS`` as one two-column table."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    for i, (title, rows) in enumerate(HELP_SECTIONS):
        if i:
            table.add_row(Text(""), Text(""))
        table.add_row(Text(title, style="bold underline"), Text(""))
        for keys, what in rows:
            table.add_row(Text(keys), Text(what))
    return table


class HelpScreen(ModalScreen[None]):
    """A centred box listing the key bindings; any of Esc, q or ? closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "Close", key_display="Esc"),
        Binding("j,down", "scroll(1)", "Down", show=False),
        Binding("k,up", "scroll(-1)", "Up", show=False),
    ]

    def compose(self) -> ComposeResult:
        """The table in a scrollable box."""
        with VerticalScroll(id="help-box") as box:
            box.border_title = "Help: key bindings"
            box.border_subtitle = "Esc, q or ? closes"
            yield Static(help_table(), id="help-table")

    def action_close(self) -> None:
        """Close the help."""
        self.dismiss(None)

    def action_scroll(self, delta: int) -> None:
        """Scroll the list."""
        box = self.query_one("#help-box", VerticalScroll)
        box.scroll_relative(y=delta, animate=False)
