"""The jobs app's tasks. Django is set up before this module is imported, so tasks may use the ORM."""

from __future__ import annotations

from datetime import date

from django.conf import settings

from asynq_py.engine import ServeMux, TaskContext

mux = ServeMux()


@mux.task("report:build", queue="reports", retention=3600)
def build_report(ctx: TaskContext, account_id: int, day: date, formats: list[str] | None = None) -> bytes:
    """Build a report (a ``def`` task: it runs in the worker's threads, where blocking ORM calls belong)."""
    chosen = ",".join(formats or ["pdf"])
    return f"report {account_id} {day.isoformat()} {chosen} tz={settings.USE_TZ}".encode()
