"""An app with typed tasks, for the CLI tests (``--app tests/cli/typed_app.py:mux``)."""

from __future__ import annotations

import dataclasses
import enum
from datetime import datetime

from asynq_py.engine import ServeMux, TaskContext

mux = ServeMux()


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass
class Address:
    city: str
    zip_code: int = 0


@mux.task("email:deliver", queue="critical", max_retry=5, timeout=90)
async def deliver(ctx: TaskContext, user_id: int, subject: str = "") -> None:
    """Send an email."""


@mux.task("order:ship")
def ship(
    ctx: TaskContext, to: Address, when: datetime, color: Color = Color.RED, tags: list[str] | None = None
) -> None:
    """Ship an order."""


@mux.handle_func("plain")
def plain(ctx: TaskContext, task: object) -> None:
    """An untyped handler."""
