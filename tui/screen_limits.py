"""The limits dialog: change a queue's (or a task type's) flow-control limits, or remove them.

It checks the input with the engine's own rules (``Rate.parse``, ``QueueLimits.updated``) and
shows their message; only valid input leaves the dialog, as an ``Action`` for the fetcher.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from asynq_py.engine import QueueLimits, Rate, ValidationError

from . import bindings
from .actions import Action, ActionKind, LimitChange
from .fmt import clean

if TYPE_CHECKING:
    from textual.app import ComposeResult
    from textual.binding import BindingType

__all__ = ["LimitsScreen", "limit_change"]

_FIELDS = (
    ("type", "Task type", "blank: the queue's own limit"),
    ("concurrency", "Concurrency", "at most N active at once"),
    ("rate", "Rate", "N/s, N/m or N/h"),
    ("burst", "Burst", "starts allowed back to back"),
)


def _whole(name: str, text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise ValidationError(f"{name} must be a whole number, not {text!r}") from None


def limit_change(
    current: QueueLimits, *, task_type: str, concurrency: str, rate: str, burst: str
) -> LimitChange:
    """Return the change the fields ask for (blank: keep); raise the engine's ``ValidationError``."""
    change = LimitChange(
        task_type.strip() or None,
        _whole("concurrency", concurrency),
        Rate.parse(rate) if rate.strip() else None,
        _whole("burst", burst),
    )
    current.updated(
        task_type=change.task_type, concurrency=change.concurrency, rate=change.rate, burst=change.burst
    )
    return change


class LimitsScreen(ModalScreen[Action | None]):
    """Fields prefilled with the current limits; dismisses with a set or remove ``Action``, or None.

    Enter saves, the Remove button removes the queue's limits (or the typed type's), Esc cancels.
    """

    BINDINGS: ClassVar[list[BindingType]] = list(bindings.LIMITS)

    def __init__(self, queue: str, current: QueueLimits) -> None:
        super().__init__()
        self._queue = queue
        self._current = current

    def compose(self) -> ComposeResult:
        """A field per part, the error line and three buttons."""
        with Vertical(id="limits-box") as box:
            box.border_title = f'Limits of queue "{clean(self._queue)}"'
            box.border_subtitle = "Enter saves, blank keeps a value, Esc cancels"
            for key, label, hint in _FIELDS:
                with Horizontal(classes="limits-row"):
                    yield Static(label, classes="limits-label")
                    yield Input(placeholder=hint, id=f"limit-{key}")
            yield Static("", id="limits-error")
            with Horizontal(id="limits-buttons"):
                yield Button("Save (Enter)", variant="primary", id="save")
                yield Button("Remove", variant="error", id="remove")
                yield Button("Cancel (Esc)", id="cancel")

    def on_mount(self) -> None:
        """Prefill the queue's own limit and focus the concurrency."""
        self._prefill("")
        self.query_one("#limit-concurrency", Input).focus()

    def _field(self, key: str) -> Input:
        return self.query_one(f"#limit-{key}", Input)

    def _prefill(self, task_type: str) -> None:
        limit = self._current.for_type(task_type) if task_type else self._current.queue_limit
        rate = limit.rate
        self._field("concurrency").value = "" if limit.concurrency is None else str(limit.concurrency)
        self._field("rate").value = "" if rate is None else str(rate)
        self._field("burst").value = "" if rate is None else str(rate.burst)

    def on_input_changed(self, event: Input.Changed) -> None:
        """A new task type shows that type's limits."""
        if event.input.id == "limit-type":
            self._prefill(event.value.strip())

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter in any field saves."""
        event.stop()
        self.action_save()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Save, remove or cancel."""
        event.stop()
        if event.button.id == "save":
            self.action_save()
        elif event.button.id == "remove":
            change = LimitChange(self._field("type").value.strip() or None)
            self.dismiss(Action(ActionKind.REMOVE_LIMITS, self._queue, limits=change))
        else:
            self.action_cancel()

    def action_save(self) -> None:
        """Leave with the change, or say why the input is wrong and stay."""
        try:
            change = limit_change(
                self._current,
                task_type=self._field("type").value,
                concurrency=self._field("concurrency").value,
                rate=self._field("rate").value,
                burst=self._field("burst").value,
            )
        except ValidationError as exc:
            self.query_one("#limits-error", Static).update(Text(clean(str(exc)), style="bold red"))
            return
        self.dismiss(Action(ActionKind.SET_LIMITS, self._queue, limits=change))

    def action_cancel(self) -> None:
        """Leave without changing anything."""
        self.dismiss(None)
