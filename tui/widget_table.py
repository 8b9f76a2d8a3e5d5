"""``NavTable``: a row-cursor ``DataTable`` with vim keys, refilled without losing the user's place."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import DataTable

__all__ = ["NavTable", "Row"]

Row = tuple[str, Sequence[Text]]
"""A row key and its cells, one ``Text`` per column (never a ``str``, which would be markup)."""


class NavTable(DataTable[Text]):
    """A ``DataTable`` with a row cursor that wraps around, ``j``/``k``, and in-place refills."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("g", "scroll_top", "Top", show=False),
        Binding("G", "scroll_bottom", "Bottom", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)

    def action_cursor_down(self) -> None:
        """Move down one row; from the last row go to the first, as Go's dashboard does."""
        if self.row_count and self.cursor_row >= self.row_count - 1:
            self.move_cursor(row=0)
        else:
            super().action_cursor_down()

    def action_cursor_up(self) -> None:
        """Move up one row; from the first row go to the last."""
        if self.row_count and self.cursor_row <= 0:
            self.move_cursor(row=self.row_count - 1)
        else:
            super().action_cursor_up()

    @property
    def cursor_key(self) -> str | None:
        """The key of the row under the cursor, or None when the table is empty."""
        if not self.row_count:
            return None
        row = self.ordered_rows[min(self.cursor_row, self.row_count - 1)]
        return row.key.value

    def set_columns(self, columns: Sequence[tuple[str, str]]) -> bool:
        """Show these (key, label) columns, dropping every row if they differ; return whether they did."""
        if [c.key.value for c in self.ordered_columns] == [key for key, _ in columns]:
            return False
        self.clear(columns=True)
        for key, label in columns:
            self.add_column(label, key=key)
        return True

    def fill(self, rows: Sequence[Row]) -> None:
        """Show ``rows``, keeping the cursor on the same row and that row on the same screen line.

        When the row keys are unchanged only the changed cells are rewritten, so nothing moves.
        When rows came or went, the cursor follows its row key (or keeps its index when that row
        left) and the table scrolls by as many rows as the cursor's row moved.
        """
        keys = [key for key, _ in rows]
        current = [row.key.value for row in self.ordered_rows]
        columns = [c.key for c in self.ordered_columns]
        if keys == current:
            for key, cells in rows:
                for column, cell in zip(columns, cells, strict=True):
                    if self.get_cell(key, column) != cell:
                        self.update_cell(key, column, cell, update_width=True)
            return
        cursor_key, cursor_row = self.cursor_key, self.cursor_row
        scroll_x, scroll_y = self.scroll_x, self.scroll_y
        self.clear()
        for key, cells in rows:
            self.add_row(*cells, key=key)
        if not keys:
            return
        target = keys.index(cursor_key) if cursor_key in keys else min(cursor_row, len(keys) - 1)
        self.move_cursor(row=target, scroll=False)
        shift = target - cursor_row if cursor_key in keys else 0
        self.call_after_refresh(self.scroll_to, scroll_x, max(0, scroll_y + shift), animate=False)
