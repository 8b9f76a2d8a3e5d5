"""``asynq-py schedule add|ls|rm|history`` and ``asynq-py scheduler``: periodic tasks from a file.

``schedule`` edits the schedules file (``schedfile`` has its format and how it is changed) and joins
it with what live schedulers publish; ``scheduler`` runs a ``PeriodicTaskManager`` on the file.
"""

from __future__ import annotations

import json
import os
import sys
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import tomli_w
import typer

from asynq_py.engine import SchedulerEntryInfo, Task, format_duration
from asynq_py.engine.eventloop import DEFAULT_EVENT_LOOP
from asynq_py.engine.settings import resolve

from .context import AppState, JsonFlag, get_state
from .errors import CliError, ExitCode
from .logfmt import configure_logging
from .parse import duration_option, read_payload
from .render import cell, emit, emit_json, fmt_time, new_table, payload_text, relative
from .schedfile import FileEntry, add_entry, describe, periodic_manager, read_schedules, remove_entries
from .schema import cron_event_record, schedule_entry_record
from .serve import DEFAULT_SYNC_INTERVAL, LogFormatOption, check_log_level, log_format, notes, resolve_loop

__all__ = ["app", "complete_entry_id"]

app = typer.Typer()
schedule_app = typer.Typer(
    help="Add, list and remove periodic tasks in the schedules file; show what they enqueued.",
    no_args_is_help=True,
)
app.add_typer(schedule_app, name="schedule", rich_help_panel="Schedules")

HISTORY_KEPT = 1000
"""Enqueue events a scheduler keeps per entry (Go's limit)."""


def complete_entry_id(ctx: Any, incomplete: str) -> list[str]:
    """Return the entry ids of the schedules file that start with ``incomplete`` (no Redis involved)."""
    try:
        settings = resolve(
            redis=None, password=None, config=ctx.find_root().params.get("config"), env=os.environ
        )
        given = ctx.params.get("schedules")
        path = Path(given).expanduser() if given else settings.schedules_path
        ids = [e.info.id for e in read_schedules(path).entries]
    except Exception:  # a completion must never fail or print
        return []
    return [i for i in ids if i.startswith(incomplete)]


SchedulesOption = Annotated[
    str | None,
    typer.Option(
        "--schedules",
        metavar="FILE",
        help="The schedules file (default: `schedules` in the config file, else schedules.toml beside it). "
        "Env: ASYNQ_SCHEDULES.",
        show_default=False,
    ),
]
EntryIdArg = Annotated[
    str,
    typer.Argument(
        metavar="ID", help="Entry id, as `schedule ls` shows it.", autocompletion=complete_entry_id
    ),
]


def _schedules_path(state: AppState, given: str | None) -> Path:
    state.settings.check()
    return Path(given).expanduser() if given else state.settings.schedules_path


# add -----------------------------------------------------------------------------------------------


def _payload_value(data: bytes, *, raw: bool) -> str | dict[str, Any] | list[Any] | None:
    """Return the payload as the file will hold it: a JSON object or array as TOML, else the text."""
    if not data:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CliError(
            f"the payload is not UTF-8 text (byte {exc.start}): a schedules file holds only text"
        ) from None
    if raw:
        return text
    value = json.loads(text)
    if isinstance(value, dict | list) and _fits_toml(value):
        return value
    return text


def _fits_toml(value: dict[str, Any] | list[Any]) -> bool:
    """Return whether TOML holds ``value`` exactly (it has no null)."""
    try:
        return bool(tomllib.loads(tomli_w.dumps({"v": value}))["v"] == value)
    except (TypeError, ValueError):
        return False


@schedule_app.command("add")
def add(
    ctx: typer.Context,
    spec: Annotated[
        str,
        typer.Argument(
            metavar="SPEC",
            help='When: five cron fields ("*/15 * * * *"), @hourly, @daily, @weekly, @monthly, @yearly, or '
            '"@every 30s". Cron fields are read in UTC, or in the zone of a CRON_TZ=<zone> prefix.',
            show_default=False,
        ),
    ],
    task_type: Annotated[
        str, typer.Argument(metavar="TYPE", help="Task type, e.g. report:nightly.", show_default=False)
    ],
    payload: Annotated[
        str | None,
        typer.Option(
            "--payload",
            "-p",
            metavar="JSON|@FILE|-",
            help="Payload: JSON text, @FILE to read a file, or - for stdin. Checked to be JSON unless --raw.",
        ),
    ] = None,
    raw: Annotated[bool, typer.Option("--raw", help="Store the payload text as it is, JSON or not.")] = False,
    queue: Annotated[
        str | None, typer.Option("--queue", "-q", metavar="QUEUE", help="Queue (default: default).")
    ] = None,
    max_retry: Annotated[
        int | None,
        typer.Option("--max-retry", min=0, max=2**31 - 1, metavar="N", help="Retries allowed (default 25)."),
    ] = None,
    timeout: Annotated[
        timedelta | None,
        typer.Option(parser=duration_option, metavar="DURATION", help="Time allowed per run (default 30m)."),
    ] = None,
    unique: Annotated[
        timedelta | None,
        typer.Option(
            parser=duration_option, metavar="TTL", help="Skip a tick while its task is held unique for TTL."
        ),
    ] = None,
    retention: Annotated[
        timedelta | None,
        typer.Option(
            parser=duration_option, metavar="DURATION", help="Keep each task this long once completed."
        ),
    ] = None,
    entry_id: Annotated[
        str | None,
        typer.Option(
            "--id",
            metavar="NAME",
            help="A stable entry id (default: derived from the entry, so it changes when the entry does).",
        ),
    ] = None,
    schedules: SchedulesOption = None,
    json_: JsonFlag = False,
) -> None:
    """Add a periodic task to the schedules file and print its entry id (its record with --json).

    The entry is checked as the scheduler checks it, and nothing is written if it is refused: a bad spec
    is named with the field that is wrong (exit 2); an entry with the same id is refused (exit 4).
    Running schedulers take the entry up when they next reread the file (their --sync-interval).
    """
    state = get_state(ctx)
    path = _schedules_path(state, schedules)
    value = None
    if payload is not None:
        try:
            data = read_payload(payload, raw=raw, stdin=sys.stdin.buffer)
        except ValueError as exc:
            raise CliError(str(exc)) from None
        value = _payload_value(data, raw=raw)
    durations = {"timeout": timeout, "unique": unique, "retention": retention}
    options: dict[str, Any] = {"queue": queue, "max_retry": max_retry, **durations}
    options = {key: v for key, v in options.items() if v is not None}
    info = describe(spec, Task(task_type, value), entry_id, options)
    table: dict[str, Any] = {
        "id": entry_id,
        "spec": spec,
        "type": task_type,
        "queue": queue,
        "max_retry": max_retry,
    }
    table.update({key: format_duration(d) for key, d in durations.items() if d is not None})
    table["payload"] = value
    entry, kept = add_entry(path, {key: v for key, v in table.items() if v is not None}, info)
    added = entry.info
    if state.use_json(json_):
        emit_json(schedule_entry_record(added, None, (), added.next_enqueue_at, None))
    else:
        emit(added.id)
    if not kept:
        state.note(f"{path} was rewritten whole: its comments and layout were not kept")
    now = datetime.now(UTC)
    state.note(
        f"added entry {added.id} to {path}; it would next run at {fmt_time(added.next_enqueue_at, now)}. "
        "Running schedulers take it up when they next reread the file."
    )


# ls ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    """An entry of the file or of a live scheduler, joined with what live schedulers publish of it."""

    info: SchedulerEntryInfo
    status: str
    schedulers: tuple[str, ...]
    next_at: datetime | None
    prev_at: datetime | None


def _same_entry(a: SchedulerEntryInfo, b: SchedulerEntryInfo) -> bool:
    return (a.spec, a.task_type, a.task_payload, tuple(a.options)) == (
        b.spec,
        b.task_type,
        b.task_payload,
        tuple(b.options),
    )


def _row(
    info: SchedulerEntryInfo, live: list[SchedulerEntryInfo], last_event: datetime | None, *, in_file: bool
) -> _Row:
    if not live:
        return _Row(info, "not_running", (), info.next_enqueue_at, None)
    if not in_file:
        status = "not_in_file"
    elif all(_same_entry(info, e) for e in live):
        status = "running"
    else:
        status = "outdated"
    # What schedulers publish is up to a heartbeat (10 s) old: the file's spec gives the next time now,
    # and the entry's newest enqueue event may be newer than the previous time published.
    now = datetime.now(UTC)
    nexts = [n for e in live if (n := e.next_run(now)) is not None]
    next_at = info.next_enqueue_at if status == "running" else min(nexts, default=None)
    prevs = [t for t in (last_event, *(e.prev_enqueue_at for e in live)) if t is not None]
    schedulers = tuple(sorted(e.scheduler_id for e in live))
    return _Row(info, status, schedulers, next_at, max(prevs, default=None))


def _join(
    entries: tuple[FileEntry, ...], live: list[SchedulerEntryInfo], last_events: dict[str, datetime | None]
) -> list[_Row]:
    """Return the file's entries in file order, then the live entries the file does not have.

    ``last_events`` has the time of the newest enqueue event of each live entry.
    """
    by_id: dict[str, list[SchedulerEntryInfo]] = {}
    for e in live:
        by_id.setdefault(e.id, []).append(e)
    rows = [_row(e.info, by_id.pop(e.info.id, []), last_events.get(e.info.id), in_file=True) for e in entries]
    rest = sorted(by_id.values(), key=lambda found: (found[0].spec, found[0].id))
    return rows + [_row(found[0], found, last_events.get(found[0].id), in_file=False) for found in rest]


def _short(scheduler_id: str) -> str:
    """``host:pid`` of a scheduler id ``host:pid:uuid``."""
    head, sep, _ = scheduler_id.rpartition(":")
    return head if sep else scheduler_id


@schedule_app.command("ls")
def ls(ctx: typer.Context, schedules: SchedulesOption = None, json_: JsonFlag = False) -> None:
    """List the schedules file's entries, with their next and previous runs and the schedulers running them.

    Entries that live schedulers run but the file does not have are listed after the file's (status
    "not in file"); "outdated" means a scheduler still runs an older version of the entry.
    """
    state = get_state(ctx)
    path = _schedules_path(state, schedules)
    current = read_schedules(path)
    if not current.exists:
        state.note(f"no schedules file {path}; 'asynq-py schedule add' creates it")
    with state.inspector() as inspector:
        live = inspector.scheduler_entries()
        last_events: dict[str, datetime | None] = {}
        for entry_id in dict.fromkeys(e.id for e in live):
            newest = inspector.list_scheduler_enqueue_events(entry_id, page=1, page_size=1)
            last_events[entry_id] = newest[0].enqueued_at if newest else None
    rows = _join(current.entries, live, last_events)
    if state.use_json(json_):
        for row in rows:
            emit_json(schedule_entry_record(row.info, row.status, row.schedulers, row.next_at, row.prev_at))
        return
    if not rows:
        state.note(f"no entries in {path} and no live scheduler entries")
        return
    now = datetime.now(UTC)
    table = new_table(
        ("Entry ID", "Spec", "Type", "Payload", "Options", "Status", "Next", "Prev", "Schedulers")
    )
    for row in rows:
        e = row.info
        table.add_row(
            cell(e.id),
            cell(e.spec),
            cell(e.task_type),
            cell(payload_text(e.task_payload)),
            cell(", ".join(e.options)),
            cell(row.status.replace("_", " ")),
            cell(relative(row.next_at, now)),
            cell(relative(row.prev_at, now, never="never" if row.schedulers else "-")),
            cell(", ".join(_short(s) for s in row.schedulers) or "-"),
        )
    state.out.print(table)


# rm ------------------------------------------------------------------------------------------------


@schedule_app.command("rm")
def rm(
    ctx: typer.Context,
    entry_ids: Annotated[
        list[str],
        typer.Argument(
            metavar="ID...", help="Entry ids, as `schedule ls` shows them.", autocompletion=complete_entry_id
        ),
    ],
    schedules: SchedulesOption = None,
) -> None:
    """Remove entries from the schedules file; every id must be there, or nothing is removed (exit 3).

    Running schedulers stop them when they next reread the file (their --sync-interval).
    """
    state = get_state(ctx)
    path = _schedules_path(state, schedules)
    removed, kept = remove_entries(path, list(dict.fromkeys(entry_ids)))
    if not kept:
        state.note(f"{path} was rewritten whole: its comments and layout were not kept")
    for entry in removed:
        e = entry.info
        state.note(f"removed entry {e.id} ({e.spec} {e.task_type}) from {path}")
    them = "them" if len(removed) > 1 else "it"
    state.note(f"running schedulers stop running {them} when they next reread the file")


# history -------------------------------------------------------------------------------------------


@schedule_app.command("history")
def history(
    ctx: typer.Context,
    entry_id: EntryIdArg,
    limit: Annotated[
        int,
        typer.Option("--limit", "-n", min=1, max=HISTORY_KEPT, metavar="N", help="Show the newest N events."),
    ] = 20,
    json_: JsonFlag = False,
) -> None:
    """List the tasks an entry enqueued, newest first (schedulers keep the last 1000 per entry).

    The history is in Redis: the last scheduler running an entry deletes it when it shuts down, as Go's
    scheduler does.
    """
    state = get_state(ctx)
    with state.inspector() as inspector:
        events = inspector.list_scheduler_enqueue_events(entry_id, page=1, page_size=limit)
    if state.use_json(json_):
        for event in events:
            emit_json(cron_event_record(entry_id, event))
        return
    if not events:
        state.note(f"no enqueue events for entry {entry_id}")
        return
    now = datetime.now(UTC)
    table = new_table(("Task ID", "Enqueued"))
    for event in events:
        table.add_row(cell(event.task_id), cell(fmt_time(event.enqueued_at, now)))
    state.out.print(table)


# scheduler -----------------------------------------------------------------------------------------


@app.command("scheduler", rich_help_panel="Schedules")
def scheduler(
    ctx: typer.Context,
    schedules: SchedulesOption = None,
    sync_interval: Annotated[
        timedelta,
        typer.Option(
            "--sync-interval",
            parser=duration_option,
            metavar="DURATION",
            show_default="3m",
            help="How often the schedules file is reread.",
        ),
    ] = DEFAULT_SYNC_INTERVAL,
    log_level: Annotated[str, typer.Option(metavar="LEVEL", help="debug, info, warning or error.")] = "info",
    log_format_: LogFormatOption = None,
    loop: Annotated[
        str,
        typer.Option(
            "--loop", metavar="LOOP", help="Event loop: asyncio, uvloop, or auto (uvloop where installed)."
        ),
    ] = DEFAULT_EVENT_LOOP,
) -> None:
    """Run a scheduler for the schedules file until SIGTERM or SIGINT; logs go to stderr.

    It enqueues each entry's task at its times, publishes the entries (`schedule ls`, `cron ls`, Go's
    `asynq cron ls`), and rereads the file every --sync-interval to add, change and remove entries; a
    file that fails to load then is logged and the running entries are kept. Run it in several places
    for availability: each tick is still enqueued once. Cron specs without a CRON_TZ= prefix are read
    in UTC. `serve --schedules` runs a scheduler inside a worker instead.
    """
    state = get_state(ctx)
    level = check_log_level(log_level)
    fmt = log_format(log_format_, state)
    event_loop = resolve_loop(loop, DEFAULT_EVENT_LOOP)
    path = _schedules_path(state, schedules)
    opt = state.settings.conn_opt()
    if opt is None:
        raise CliError("no Redis to schedule on", ExitCode.UNAVAILABLE)
    manager = periodic_manager(opt, path, sync_interval, event_loop)
    configure_logging(level, fmt)
    notes(state, fmt)(f"scheduling the entries of {path} on {state.display_url}")
    manager.run()
