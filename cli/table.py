"""Tables that never cut an id: on a narrow terminal other columns are cut, then dropped, first.

An id printed with an ellipsis cannot be copied back into a command, and two ids that differ only
in the hidden part look the same. ``IdTable`` fits itself to the width it is drawn at: id columns
keep their full width; other columns shrink to a floor (``Type`` and ``Queue`` stay readable), and
if that is still too wide, columns are dropped from the right, ``Type`` and ``Queue`` last.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.table import Column, Table
from rich.text import Text

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult

__all__ = ["ID_COLUMNS", "IdTable"]

ID_COLUMNS = frozenset({"ID", "Task ID", "Entry ID"})
"""Columns holding ids: never cut."""
_DROPPED_LAST = ("Queue", "Type")
"""Dropped after every other column, in this order."""
_FLOOR = 12
"""Narrowest a column other than an id is cut to (wide columns such as Payload go to 8)."""
_WIDE_FLOOR = 8


def _natural(column: Column) -> int:
    cells = [Text(c).cell_len if isinstance(c, str) else getattr(c, "cell_len", 1) for c in column.cells]
    width = max([len(str(column.header)), *cells])
    return min(width, column.max_width) if column.max_width else width


class IdTable(Table):
    """A Rich table that fits its width by cutting and dropping every column but the id columns.

    ``whole`` names more columns to keep whole, as ids are (``limit ls`` keeps queue and type names).
    """

    def __init__(self, *args: Any, whole: frozenset[str] = frozenset(), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._whole = ID_COLUMNS | whole

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        """Fit the columns to ``options.max_width``, then draw as Rich does."""
        self._fit(options.max_width)
        yield from super().__rich_console__(console, options)

    def _overhead(self) -> int:
        n = len(self.columns)
        edges = 2 if self.box and self.show_edge else 0
        separators = n - 1 if self.box else 0
        padding = 2 * n - (0 if self.pad_edge else 2)  # padding (0, 1) around each cell
        return edges + separators + padding

    def _floor(self, column: Column, natural: int) -> int:
        if column.header in self._whole:
            return natural
        return min(natural, _WIDE_FLOOR if column.ratio else max(_FLOOR, len(str(column.header))))

    def _fit(self, width: int) -> None:
        natural = [_natural(c) for c in self.columns]
        if sum(natural) + self._overhead() <= width:
            return
        floors = [self._floor(c, n) for c, n in zip(self.columns, natural, strict=True)]
        while sum(floors) + self._overhead() > width:
            droppable = [i for i, c in enumerate(self.columns) if c.header not in self._whole]
            if not droppable:
                break
            last_resort = [i for i in droppable if self.columns[i].header in _DROPPED_LAST]
            first = [i for i in droppable if i not in last_resort]
            drop = (
                first[-1]
                if first
                else min(last_resort, key=lambda i: _DROPPED_LAST.index(str(self.columns[i].header)))
            )
            del self.columns[drop], natural[drop], floors[drop]
        spare = width - sum(floors) - self._overhead()
        widths = list(floors)
        for i, _column in sorted(enumerate(self.columns), key=lambda item: bool(item[1].ratio)):
            grow = max(0, min(natural[i] - widths[i], spare))
            widths[i] += grow
            spare -= grow
        for column, fixed in zip(self.columns, widths, strict=True):
            column.width = fixed
            column.min_width = None
