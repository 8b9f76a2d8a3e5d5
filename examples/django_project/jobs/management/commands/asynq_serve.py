"""``python manage.py asynq_serve``: run an asynq-py worker for the jobs app inside Django."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from asynq_py.engine import Server, ServerConfig


class Command(BaseCommand):
    """Serve the queues of ``settings.ASYNQ`` until SIGTERM or SIGINT (graceful shutdown)."""

    help = "Run an asynq-py worker for this project's tasks."

    def handle(self, *args: Any, **options: Any) -> None:
        """Build the server from the settings and run it with the jobs app's tasks."""
        from jobs.tasks import mux  # after django.setup(): the tasks may import models

        conf = settings.ASYNQ
        config = ServerConfig(queues=conf["QUEUES"], concurrency=conf["CONCURRENCY"])
        self.stdout.write(f"serving {', '.join(conf['QUEUES'])}")
        self.stdout.flush()
        Server(conf["REDIS_URL"], config).run(mux)
