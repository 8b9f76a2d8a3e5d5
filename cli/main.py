"""The root of the asynq-py command line."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, pretty_exceptions_show_locals=False)


def main() -> None:
    """Run the asynq-py command line."""
    app()
