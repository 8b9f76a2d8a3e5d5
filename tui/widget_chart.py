"""``HistoryChart``: processed and failed tasks per day as horizontal bars scaled to the width."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widget import Widget

from asynq_py.engine import DailyStats

from .fmt import error_rate, thousands

__all__ = ["HistoryChart"]

_OK_STYLE = "green3"
_FAIL_STYLE = "red1"
_BLOCK = "▇"


class HistoryChart(Widget):
    """One line per day, oldest first: a bar whose red part failed and green part succeeded."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._stats: list[DailyStats] = []

    def show(self, stats: Sequence[DailyStats]) -> None:
        """Draw these days (given today first, as the inspector returns them)."""
        self._stats = sorted(stats, key=lambda s: s.date)
        self.styles.height = len(self._stats) + 3
        self.refresh(layout=True)

    def render(self) -> Text:
        """Return the legend, a header and one line per day."""
        out = Text(no_wrap=True, overflow="ellipsis")
        out.append(_BLOCK, style=_OK_STYLE)
        out.append(" succeeded  ")
        out.append(_BLOCK, style=_FAIL_STYLE)
        out.append(" failed\n")
        if not self._stats:
            out.append("No data.", style="dim")
            return out
        p_w = max(9, *(len(thousands(s.processed)) for s in self._stats))
        f_w = max(6, *(len(thousands(s.failed)) for s in self._stats))
        bar_w = max(1, self.size.width - 10 - p_w - f_w - 10 - 8)
        biggest = max(max(s.processed, s.failed) for s in self._stats) or 1
        out.append(
            f"{'Date (UTC)':<10}  {'':<{bar_w}}  {'Processed':>{p_w}}  {'Failed':>{f_w}}  {'Err rate':>8}\n"
        )
        for i, s in enumerate(self._stats):
            if i:
                out.append("\n")
            total = max(s.processed, s.failed)
            length = max(1, round(total * bar_w / biggest)) if total else 0
            failed = min(length, round(s.failed * bar_w / biggest)) if s.failed else 0
            if s.failed and not failed:
                failed = 1
            out.append(f"{s.date.isoformat():<10}  ")
            out.append(_BLOCK * failed, style=_FAIL_STYLE)
            out.append(_BLOCK * (length - failed), style=_OK_STYLE)
            out.append(" " * (bar_w - length))
            out.append(f"  {thousands(s.processed):>{p_w}}  {thousands(s.failed):>{f_w}}  ")
            out.append(f"{error_rate(s.processed, s.failed):>8}")
        return out
