"""Argument types of a rich typed task (a nested dataclass, an enum), shared by the typed-task tests
(``tests/engine/test_taskdef.py``) and ``benchmarks/validation.py``, which measures what they cost."""

from __future__ import annotations

import dataclasses
import enum

__all__ = ["Address", "Color", "Order"]


class Color(enum.Enum):
    """An enum argument (sent as its value)."""

    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass
class Address:
    """A dataclass nested in another."""

    city: str
    zip_code: int = 0


@dataclasses.dataclass
class Order:
    """A dataclass argument holding another and a list."""

    sku: str
    ship_to: Address
    tags: list[str] = dataclasses.field(default_factory=list)
