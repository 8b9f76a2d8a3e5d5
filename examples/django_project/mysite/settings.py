"""Settings of the Django recipe: only what asynq-py needs beside a minimal project."""

from __future__ import annotations

import os

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "recipe-only-not-a-secret")
DEBUG = False
ALLOWED_HOSTS: list[str] = []
INSTALLED_APPS = ["jobs"]
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True

ASYNQ = {
    "REDIS_URL": os.environ.get("ASYNQ_REDIS_URL", "redis://localhost:6379/0"),
    "QUEUES": {"reports": 2, "default": 1},
    "CONCURRENCY": 4,
}
"""Where the tasks live and how ``manage.py asynq_serve`` serves them."""
