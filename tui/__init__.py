"""The asynq-py terminal dashboard (``asynq-py dash``), built on the engine's ``AsyncInspector``.

``run_dashboard`` is the entry point the CLI calls; ``DashboardApp`` is the Textual app, for tests
and embedding.
"""

from .app import DashboardApp, run_dashboard

__all__ = ["DashboardApp", "run_dashboard"]
