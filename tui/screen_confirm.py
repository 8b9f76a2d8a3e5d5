"""The confirmation dialog for actions: it names what will change, and answers yes or no."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from . import bindings

if TYPE_CHECKING:
    from textual.app import ComposeResult
    from textual.binding import BindingType

__all__ = ["ConfirmScreen"]


class ConfirmScreen(ModalScreen[bool]):
    """Asks ``question``; dismisses with True for yes (y) and False for no (n, Esc, q).

    The "No" button has the focus at first, so Enter alone never destroys anything.
    """

    BINDINGS: ClassVar[list[BindingType]] = list(bindings.CONFIRM)

    def __init__(self, question: str, *, danger: bool = True) -> None:
        super().__init__()
        self._question = question
        self._danger = danger

    def compose(self) -> ComposeResult:
        """The question and two buttons."""
        with Vertical(id="confirm-box"):
            yield Static(Text(self._question), id="confirm-question")
            with Horizontal(id="confirm-buttons"):
                yield Button("Yes (y)", variant="error" if self._danger else "primary", id="yes")
                yield Button("No (n)", id="no")

    def on_mount(self) -> None:
        """Focus "No"."""
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Answer with the button."""
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        """Answer from the keyboard."""
        self.dismiss(yes)
