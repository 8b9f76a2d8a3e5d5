"""Log formats of ``serve`` and ``scheduler``: ``text`` (for people) and ``json`` (one object a line).

A JSON line has ``time`` (UTC, RFC 3339), ``level``, ``message``, ``logger``, ``worker`` (the process
name: ``MainProcess``, or ``asynq-worker-N`` under ``--processes``) and ``pid``, plus ``queue``,
``task_id``, ``task_type`` and ``retry`` when the record is about a task, and ``error`` with the
traceback when one is attached. Control characters, which task data may carry, are escaped in both
formats, so that one record is always one line a log shipper cannot be tricked into splitting.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from datetime import UTC, datetime

from .render import escape

__all__ = ["LOG_FORMATS", "JsonFormatter", "TextFormatter", "configure_logging"]

LOG_FORMATS = ("text", "json")
_TASK_FIELDS = ("queue", "task_id", "task_type", "retry")


class TextFormatter(logging.Formatter):
    """``time level worker logger: message``, with control characters escaped."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(processName)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """Format ``record`` on one line."""
        return escape(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per record (ASCII only: every control or non-ASCII character is escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        """Format ``record`` as one JSON line."""
        doc: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "message": record.getMessage(),
            "logger": record.name,
            "worker": record.processName,
            "pid": record.process,
        }
        for name in _TASK_FIELDS:
            if name in record.__dict__:
                doc[name] = record.__dict__[name]
        if record.exc_info:
            doc["error"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=True, default=str)


def configure_logging(level: str, fmt: str = "text") -> None:
    """Send logs to stderr at ``level`` in format ``fmt`` (one of ``LOG_FORMATS``).

    Python's warnings, exceptions ignored at exit and uncaught exceptions of threads become log
    records too, so that nothing else writes to stderr in the middle of the records.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    logging.basicConfig(level=getattr(logging, level.upper()), handlers=[handler])
    logging.captureWarnings(True)
    log = logging.getLogger("asynq_py")

    def unraisable(info: sys.UnraisableHookArgs) -> None:
        exc = (info.exc_type, info.exc_value, info.exc_traceback) if info.exc_value else None
        log.error("%s: %r", info.err_msg or "Exception ignored in", info.object, exc_info=exc)

    def thread_died(info: threading.ExceptHookArgs) -> None:
        exc = (info.exc_type, info.exc_value, info.exc_traceback) if info.exc_value else None
        name = info.thread.name if info.thread else "?"
        log.error("thread %s stopped with an uncaught exception", name, exc_info=exc)

    sys.unraisablehook = unraisable
    threading.excepthook = thread_died
