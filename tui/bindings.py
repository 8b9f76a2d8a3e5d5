"""Every key binding of the dashboard, in one place, so the help screen lists exactly what works.

Screens take their ``BINDINGS`` from here; ``HELP_SECTIONS`` is what the help screen shows. The
bindings with ``show=True`` appear in the footer.
"""

from __future__ import annotations

from textual.binding import Binding

__all__ = [
    "APP",
    "CONFIRM",
    "HELP_SECTIONS",
    "HISTORY",
    "LIMITS",
    "QUEUE",
    "QUEUES",
    "SCHEDULES",
    "SERVERS",
    "TABLE",
    "TASK",
    "keys_of",
]

APP = [
    Binding("question_mark", "help", "Help", key_display="?"),
    Binding("escape,q", "back", "Back", key_display="q"),
    Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
    Binding("ctrl+r,ctrl+l", "refresh", "Refresh now", show=False),
    Binding("1", "goto('queues')", "Queues", show=False),
    Binding("2", "goto('servers')", "Servers", show=False),
    Binding("3", "goto('schedules')", "Schedules", show=False),
]
"""Keys that work everywhere."""

TABLE = [
    ("↑ ↓ / k j", "Move the row cursor (wraps around)"),
    ("g / G, Home / End", "First / last row"),
    ("PgUp / PgDn", "Scroll a screenful"),
    ("Enter, or click twice", "Open the row"),
]
"""Keys of every table (``NavTable`` on Textual's ``DataTable``), for the help screen."""

QUEUES = [
    Binding("s", "sort", "Sort"),
    Binding("S", "reverse", "Reverse sort", show=False),
    Binding("P", "toggle_pause", "Pause/unpause"),
    Binding("H", "history", "History"),
    Binding("2", "app.goto('servers')", "Servers"),
    Binding("3", "app.goto('schedules')", "Schedules"),
]
"""The queues screen (Enter on a row opens the queue)."""

QUEUE = [
    Binding("left,h,shift+tab", "step_state(-1)", "Prev state", show=False),
    Binding("right,l,tab", "step_state(1)", "Next state", show=False),
    Binding("n", "page(1)", "Next page", show=False),
    Binding("p", "page(-1)", "Prev page", show=False),
    Binding("slash", "filter", "Filter", key_display="/"),
    Binding("space", "toggle_select", "Select", show=False),
    Binding("v", "select_page", "Select page", show=False),
    Binding("V", "clear_selection", "Clear selection", show=False),
    Binding("r", "task('run')", "Run"),
    Binding("a", "task('archive')", "Archive"),
    Binding("d", "task('delete')", "Delete"),
    Binding("c", "task('cancel')", "Cancel"),
    Binding("R", "state('run')", "Run all", show=False),
    Binding("A", "state('archive')", "Archive all", show=False),
    Binding("D", "state('delete')", "Delete all", show=False),
    Binding("P", "toggle_pause", "Pause/unpause", show=False),
    Binding("H", "history", "History", show=False),
    Binding("L", "limits", "Change or remove the queue's limits", show=False),
]
"""The queue screen (Enter on a row opens the task, or the group)."""

TASK = [
    Binding("r", "task('run')", "Run"),
    Binding("a", "task('archive')", "Archive"),
    Binding("d", "task('delete')", "Delete"),
    Binding("c", "task('cancel')", "Cancel"),
    Binding("e", "task('enqueue_copy')", "Enqueue a copy", show=False),
    Binding("j", "scroll(1)", "Scroll down", show=False),
    Binding("k", "scroll(-1)", "Scroll up", show=False),
]
"""The task screen (the arrows and PgUp/PgDn scroll it too)."""

SERVERS: list[Binding] = []
"""The servers screen: only the table keys."""

HISTORY = [
    Binding("plus,right,l", "days(7)", "More days", key_display="+"),
    Binding("minus,left,h", "days(-7)", "Fewer days", key_display="-"),
]
"""The history screen."""

SCHEDULES: list[Binding] = []
"""The schedules screen: only the table keys (Enter on an entry moves to its history)."""

CONFIRM = [
    Binding("y", "answer(True)", "Yes"),
    Binding("n,escape,q", "answer(False)", "No"),
]
"""The confirmation dialog (Enter presses the focused button, which is "No" at first)."""

LIMITS = [Binding("escape", "cancel", "Cancel")]
"""The limits dialog (Enter in a field saves; the Remove button removes)."""

_NAMES = {
    "question_mark": "?",
    "slash": "/",
    "plus": "+",
    "minus": "-",
    "escape": "Esc",
    "space": "Space",
    "left": "←",
    "right": "→",
    "tab": "Tab",
}


def keys_of(binding: Binding) -> str:
    """Return how the help screen writes a binding's keys (``q / Esc``, ``Ctrl+R / Ctrl+L``)."""
    names = []
    for key in binding.key.split(","):
        mods, _, base = key.rpartition("+")
        name = _NAMES.get(base, base.upper() if mods else base)
        names.append("".join(f"{m.capitalize()}+" for m in mods.split("+") if m) + name)
    return " / ".join(names)


def _rows(bindings: list[Binding]) -> list[tuple[str, str]]:
    return [(keys_of(b), b.description) for b in bindings]


HELP_SECTIONS: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "Everywhere",
        [
            ("?", "Help (this screen)"),
            ("q / Esc", "Back: close the dialog, leave the screen; quit from Queues"),
            *_rows(APP[2:]),
        ],
    ),
    ("Tables", TABLE),
    ("Queues", [("Enter", "Open the queue"), ("click a column header", "Sort by it"), *_rows(QUEUES)]),
    (
        "Queue",
        [
            ("← → / h l / Tab", "Previous / next state tab (or click a tab)"),
            ("Shift+← / Shift+→", "Scroll a wide table sideways"),
            ("Enter", "Open the task (aggregating: open the group)"),
            ("n / p", "Next / previous page"),
            ("/", "Filter by task id or type as you type; Enter keeps it, Esc clears it"),
            ("Space", "Select or unselect the task, then move to the next one"),
            ("v / V", "Select the whole page / clear the selection"),
            (
                "r a d c",
                "Run now, archive (kill), delete, cancel: the selected tasks, else the one under the cursor",
            ),
            ("R A D", "Run, archive, delete every task of the state (on a group: every task of the group)"),
            *_rows(QUEUE[-3:]),
        ],
    ),
    ("Task", [*_rows(TASK), ("↑ ↓ / PgUp PgDn", "Scroll")]),
    ("History", _rows(HISTORY)),
    (
        "Schedules",
        [("↑ ↓ / k j", "Pick an entry: its enqueue history shows below"), ("Enter", "Go to the history")],
    ),
    (
        "Limits",
        [
            ("Tab / Shift+Tab", "Next / previous field: task type, concurrency, rate (N/s N/m N/h), burst"),
            ("Enter", "Save the fields given (blank keeps a value); a task type limits only that type"),
            ("Remove button", "Remove the queue's limits, or the task type's"),
            *_rows(LIMITS),
        ],
    ),
    ("Confirmation", [*_rows(CONFIRM), ("Tab, Enter, click", "Choose a button and press it")]),
]
"""The help screen's sections: a title and (keys, what they do) rows."""
