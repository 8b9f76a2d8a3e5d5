"""The ``asynq-py`` console script: ``--version`` is answered before Typer, Rich or the engine load.

Scripts call ``asynq-py --version`` in loops and CI logs; it costs little more than starting Python.
Everything else runs the Typer app of ``main``.
"""

from __future__ import annotations

import sys

__all__ = ["WIRE_VERSION", "main", "version_line"]

WIRE_VERSION = "0.26.0"
"""The Go asynq release whose Redis layout this build reads and writes."""


def version_line() -> str:
    """Return what ``asynq-py --version`` prints."""
    from asynq_py.engine import __version__  # the package's __init__ loads nothing else eagerly

    return f"asynq-py {__version__} (asynq wire format v{WIRE_VERSION})"


def main() -> None:
    """Run the asynq-py command line (the ``asynq-py`` console script)."""
    if sys.argv[1:] == ["--version"]:
        sys.stdout.write(version_line() + "\n")
        return
    from .main import app

    app(prog_name="asynq-py")
