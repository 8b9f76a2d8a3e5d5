"""The schedules file: read it as a scheduler will, change it without losing it, run a scheduler on it.

The file is TOML with one ``[[schedule]]`` table per periodic task, the format the engine's
``TomlScheduleSource`` reads (docs/scheduler.md has every key)::

    [[schedule]]
    id = "nightly-report"      # optional (add --id): a stable entry id, else derived from the entry
    spec = "0 3 * * *"         # cron fields, a descriptor (@daily) or "@every 30s"
    type = "report:nightly"
    queue = "reports"          # optional enqueue options
    max_retry = 3
    timeout = "10m0s"          # Go durations: timeout, unique, retention
    payload = { team = "ops" } # a JSON object or array is written as a TOML table or array, else a string

``asynq-py scheduler`` (or ``serve --schedules FILE``) runs the entries and rereads the file every
``--sync-interval``. ``schedule add`` and ``schedule rm`` change it: an entry is checked as the
scheduler checks it before anything is written; the new file is checked again, then replaces the old
one in one step, so a scheduler never reads half a file; two edits at once take turns. ``add``
appends the new table and ``rm`` cuts the entry's lines (with the comments just above them), so the
rest of the file keeps its comments and layout; a file where that cannot work (``schedule = [...]``
rather than tables) is rewritten whole, without its comments, and a note says so.

Entry ids are what schedulers publish and what ``schedule ls``, ``rm`` and ``history`` take: the
``id`` of the table, else the id derived from the spec, task and options (the same in every
scheduler), which changes whenever the entry does.
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import re
import stat
import tempfile
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomli_w
import typer

from asynq_py.engine import RedisConnOpt, TaskStateError, ValidationError

from .errors import CliError, ExitCode

if TYPE_CHECKING:  # the scheduler modules load redis; they are imported by the commands that use them
    from asynq_py.engine import PeriodicTaskManager, SchedulerEntryInfo, Task

__all__ = [
    "FILE_HEADER",
    "FileEntry",
    "ScheduleFile",
    "add_entry",
    "describe",
    "periodic_manager",
    "read_schedules",
    "remove_entries",
    "start_scheduler",
]

_OFFLINE = RedisConnOpt()
"""Never connected: the ``Scheduler`` that ``describe`` makes only registers one entry and lists it."""

FILE_HEADER = (
    "# Periodic tasks, run by `asynq-py scheduler` or `asynq-py serve --schedules`.\n"
    "# `asynq-py schedule add|rm` edit this file; docs/scheduler.md describes the format.\n\n"
)
"""The comment a new schedules file starts with."""

_TABLE_LINE = re.compile(r"[ \t]*\[\[[ \t]*schedule[ \t]*\]\][ \t]*(?:#.*)?")
"""A ``[[schedule]]`` header line."""


@dataclass(frozen=True)
class FileEntry:
    """One ``[[schedule]]`` table of the file."""

    table: dict[str, Any]
    """The table as written."""
    info: SchedulerEntryInfo
    """The entry as a scheduler would publish it now: its id, options in Go's form, next run."""


@dataclass(frozen=True)
class ScheduleFile:
    """A schedules file as read (empty when it does not exist)."""

    path: Path
    """Where it is."""
    exists: bool
    """Whether the file exists."""
    text: str
    """Its text."""
    doc: dict[str, Any]
    """Its parsed TOML."""
    entries: tuple[FileEntry, ...]
    """Its entries, in file order."""

    def find(self, entry_id: str) -> FileEntry | None:
        """Return the entry with this id, or None."""
        return next((e for e in self.entries if e.info.id == entry_id), None)


def describe(spec: str, task: Task, entry_id: str | None, options: Mapping[str, Any]) -> SchedulerEntryInfo:
    """Return the entry as a scheduler in UTC would publish it now (its id, options and next run).

    Raises:
        ValidationError: the scheduler would refuse the entry, with the engine's message, e.g.
            ``bad cron spec "61 * * * *": minute field "61" out of range 0-59``.
    """
    from asynq_py.engine import Scheduler

    scratch = Scheduler(_OFFLINE)
    scratch.register(spec, task, entry_id=entry_id, **options)
    return scratch.entries()[0]


def read_schedules(path: Path) -> ScheduleFile:
    """Read and check the schedules file as ``TomlScheduleSource`` does; a missing file has no entries.

    Raises:
        CliError: the file cannot be read or is not valid (exit 2), naming the file, entry and key.
    """
    if not path.exists():
        return ScheduleFile(path, False, "", {}, ())
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise CliError(f"cannot read schedules file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise CliError(f"schedules file {path} is not UTF-8 text (byte {exc.start})") from None
    try:
        from asynq_py.engine import TomlScheduleSource

        configs = TomlScheduleSource(path).load()
    except ValidationError as exc:
        raise CliError(str(exc)) from None
    changed = CliError(f"schedules file {path} changed while it was read; try again", ExitCode.ERROR)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        raise changed from None
    tables = doc.get("schedule", [])
    if not isinstance(tables, list) or len(tables) != len(configs):
        raise changed
    entries: list[FileEntry] = []
    first: dict[str, int] = {}
    for n, (table, config) in enumerate(zip(tables, configs, strict=True), 1):
        try:
            info = describe(config.spec, config.task, config.entry_id, config.options)
        except ValidationError as exc:
            raise CliError(f"{path}: [[schedule]] #{n}: {exc}") from None
        if info.id in first:
            raise CliError(
                f"{path}: [[schedule]] #{n}: entry id {info.id!r} is used by #{first[info.id]} too; "
                "give one of them another id"
            )
        first[info.id] = n
        entries.append(FileEntry(table, info))
    return ScheduleFile(path, True, text, doc, tuple(entries))


def add_entry(path: Path, table: dict[str, Any], info: SchedulerEntryInfo) -> tuple[FileEntry, bool]:
    """Append ``table`` (described by ``info``) to the file, creating it; return the entry as written.

    The second value says whether the file kept its text (False: it was rewritten whole).

    Raises:
        CliError: the file holds an entry with this id already (exit 4), or cannot be written.
    """
    path = path.resolve()  # a symlinked file is edited where it lives, the link is kept
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"cannot create {path.parent}: {exc.strerror or exc}", ExitCode.ERROR) from None
    with _locked(path.parent):
        current = read_schedules(path)
        if (same := current.find(info.id)) is not None:
            what = "an entry with this id" if "id" in table else "the same entry"
            raise CliError(
                f"{path} already has {what} ({info.id}: {same.info.spec} {same.info.task_type})",
                ExitCode.CONFLICT,
            )
        tables = [*(e.table for e in current.entries), table]
        text = _appended(current.text, table)
        kept = _holds(text, current.doc, tables)
        if not kept:
            text = _rendered(tables)
        written = _replace(path, text, tables)
    return written.entries[-1], kept


def remove_entries(path: Path, entry_ids: Sequence[str]) -> tuple[list[FileEntry], bool]:
    """Remove the entries with these ids; return them and whether the rest of the file kept its text.

    Raises:
        CliError: no such file, or an id is not in it (exit 3; nothing is removed then).
    """
    if not path.is_file():
        raise CliError(f"no schedules file {path}", ExitCode.NOT_FOUND)
    path = path.resolve()
    with _locked(path.parent):
        current = read_schedules(path)
        missing = [i for i in entry_ids if current.find(i) is None]
        if missing:
            names = ", ".join(repr(i) for i in missing)
            raise CliError(
                f"no entry {names} in {path} (nothing was removed); 'asynq-py schedule ls' lists the ids",
                ExitCode.NOT_FOUND,
            )
        drop = {n for n, e in enumerate(current.entries) if e.info.id in entry_ids}
        tables = [e.table for n, e in enumerate(current.entries) if n not in drop]
        text = _cut(current.text, len(current.entries), drop)
        kept = text is not None and _holds(text, current.doc, tables)
        if text is None or not kept:
            text = _rendered(tables)
        _replace(path, text, tables)
    return [e for n, e in enumerate(current.entries) if n in drop], kept


def periodic_manager(
    opt: RedisConnOpt, path: Path, sync_interval: timedelta, event_loop: str
) -> PeriodicTaskManager:
    """Return a scheduler for the schedules file ``path`` that rereads it every ``sync_interval``
    and runs on ``event_loop`` (``auto``, ``asyncio`` or ``uvloop``).

    The file is checked first, so a bad one ends the command with the message of ``read_schedules``.

    Raises:
        CliError: no such file (exit 3) or a bad one (exit 2).
        typer.BadParameter: ``sync_interval`` is not positive.
    """
    if sync_interval <= timedelta(0):
        raise typer.BadParameter("must be more than 0s", param_hint="--sync-interval")
    if not read_schedules(path).exists:
        raise CliError(f"no schedules file {path}; 'asynq-py schedule add' creates it", ExitCode.NOT_FOUND)
    from asynq_py.engine import PeriodicTaskManager, TomlScheduleSource

    return PeriodicTaskManager(
        opt, TomlScheduleSource(path), sync_interval_s=sync_interval.total_seconds(), event_loop=event_loop
    )


def start_scheduler(manager: PeriodicTaskManager) -> None:
    """Start ``manager`` on a background thread; return once its entries are published."""
    try:
        manager.start()
    except TaskStateError as exc:  # it did not start in time: a failure, not a conflict
        raise CliError(f"the scheduler did not start: {exc}", ExitCode.ERROR) from None


# Editing ------------------------------------------------------------------------------------------


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder``, so that two edits of a file in it take turns."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError as exc:
        raise CliError(f"cannot open {folder}: {exc.strerror or exc}", ExitCode.ERROR) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the last descriptor releases the lock


def _block(table: dict[str, Any]) -> str:
    """Return ``table`` as a ``[[schedule]]`` table (tomli-w alone may write short ones inline)."""
    lines: list[str] = []
    sections: list[str] = []
    for key, value in table.items():
        text = tomli_w.dumps({key: value})
        if text.startswith(f"{key} ="):
            lines.append(text)
        else:  # a table, or an array of tables: headers under the last [[schedule]]
            sections.append(tomli_w.dumps({"schedule": {key: value}}))
    return "\n".join(["[[schedule]]\n" + "".join(lines), *sections])


def _appended(text: str, table: dict[str, Any]) -> str:
    """Return ``text`` with ``table`` added as one more ``[[schedule]]`` table."""
    block = _block(table)
    if not text.strip():
        return FILE_HEADER + block
    gap = "" if text.endswith("\n\n") else "\n" if text.endswith("\n") else "\n\n"
    return text + gap + block


def _cut(text: str, count: int, drop: set[int]) -> str | None:
    """Return ``text`` without the tables numbered in ``drop`` (0-based), or None if they cannot be found.

    A table's lines run from the comment lines right above its header to the next table's.
    """
    lines = text.splitlines(keepends=True)
    heads = [i for i, line in enumerate(lines) if _TABLE_LINE.fullmatch(line.rstrip("\r\n"))]
    if len(heads) != count:
        return None

    def start(n: int) -> int:
        if n == len(heads):
            return len(lines)
        i = heads[n]
        while i > 0 and lines[i - 1].lstrip().startswith("#"):
            i -= 1
        return i

    cut = {i for n in drop for i in range(start(n), start(n + 1))}
    kept = "".join(line for i, line in enumerate(lines) if i not in cut)
    if count - 1 in drop:  # the blank lines that led to the last table go with it
        kept = kept.rstrip("\r\n") + "\n" if kept.strip() else ""
    return kept


def _holds(text: str, doc: dict[str, Any], tables: list[dict[str, Any]]) -> bool:
    """Return whether ``text`` parses to ``doc`` with exactly ``tables`` as its schedule."""
    try:
        parsed = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return False
    others = {k: v for k, v in doc.items() if k != "schedule"}
    return (
        parsed.get("schedule", []) == tables
        and {k: v for k, v in parsed.items() if k != "schedule"} == others
    )


def _rendered(tables: list[dict[str, Any]]) -> str:
    """Return a whole new file holding ``tables`` (the engine allows no other top-level keys)."""
    return FILE_HEADER + "\n".join(_block(table) for table in tables)


def _replace(path: Path, text: str, tables: list[dict[str, Any]]) -> ScheduleFile:
    """Write ``text`` beside ``path``, check that it loads as ``tables``, and move it over ``path``."""
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o666 & ~_umask()
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror or exc}", ExitCode.ERROR) from None
    written = Path(tmp)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(written, mode)
        try:
            checked = read_schedules(written)
        except CliError as exc:
            problem = str(exc).replace(str(written), str(path))
        else:
            same = [e.table for e in checked.entries] == tables
            problem = "" if same else "it would hold other entries than intended"
        if problem:
            raise CliError(f"{path} was not changed: {problem} (a bug; please report it)", ExitCode.ERROR)
        os.replace(written, path)
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror or exc}", ExitCode.ERROR) from None
    finally:
        written.unlink(missing_ok=True)
    return dataclasses.replace(checked, path=path)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
