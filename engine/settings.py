"""Where asynq-py's settings come from: flag > environment > config file > default.

The command line and the library share this resolution: ``Client()``, ``Inspector()`` and
``Server()`` given no Redis use ``default_conn_opt()``, which resolves the Redis exactly as
``asynq-py`` does with no ``--redis`` flag (so the two always talk to the same server).

Each setting comes from the first place that has it:

- Redis URL: ``--redis``, then ``ASYNQ_REDIS_URL``, then ``url`` in the config file's ``[redis]`` table,
  then the embedded server;
- Redis password: ``--password`` (accepted with a warning, since other users can read a process's
  arguments), then ``ASYNQ_REDIS_PASSWORD``, then ``password`` in ``[redis]``, then the URL's own;
- config file: ``--config``, then ``ASYNQ_CONFIG``, then ``$XDG_CONFIG_HOME/asynq-py/config.toml``, then
  ``~/.config/asynq-py/config.toml``; a file named by ``--config`` or ``ASYNQ_CONFIG`` must exist;
- data folder: ``ASYNQ_PY_HOME``, then ``$XDG_DATA_HOME/asynq-py``, then ``~/.local/share/asynq-py``;
- schedules file (periodic tasks, for ``schedule`` and ``scheduler``): ``--schedules``, then
  ``ASYNQ_SCHEDULES``, then ``schedules`` in the config file (a relative path starts at the config
  file's folder), then ``schedules.toml`` in the config file's folder;
- the app ``serve`` runs (``module:attribute`` or ``file.py:attribute``): the ``APP`` argument, then
  ``ASYNQ_APP``, then ``app`` in the config file's ``[serve]`` table (a relative file path starts at
  the config file's folder); ``config init --app`` writes it;
- the event loop of ``serve`` (``asyncio``, ``uvloop`` or ``auto``): ``--loop``, then ``loop`` in the
  config file's ``[serve]`` table, then ``asyncio``;
- enqueue durability: the config file's ``[enqueue]`` table, then ``async`` (acknowledged by the
  master alone); ``replicated`` waits for ``min_replicas`` replicas for ``replication_timeout``
  seconds and fails the enqueue (exit 5) when fewer acknowledged it.

The URL ``embedded`` names the embedded server (a Valkey server per user, started on demand in the
data folder and shared by every asynq-py process of the user). The config file is TOML::

    schedules = "/etc/asynq-py/schedules.toml"
    log_format = "json"              # serve and scheduler logs: "text" (default) or "json"

    [redis]
    url = "redis://10.0.0.5:6379/0"
    password = "..."

    [serve]
    app = "myproject.tasks:mux"
    loop = "uvloop"                  # the worker's event loop: "asyncio" (default), "uvloop" or "auto"

    [enqueue]
    durability = "replicated"
    min_replicas = 1
    replication_timeout = 1.0

It is read with ``tomllib``; ``config init`` writes it with ``tomli-w`` (mode 0600) and so never edits
a file it did not create. Resolving the settings opens no connection: the embedded server starts with
the first command that needs Redis.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .config import RedisConnOpt
from .embedded import EmbeddedRedis
from .errors import RedisUnavailableError, ValidationError
from .eventloop import DEFAULT_EVENT_LOOP, EVENT_LOOPS

__all__ = ["EMBEDDED", "Durability", "Settings", "default_conn_opt", "resolve", "url_has_password"]

EMBEDDED = "embedded"
"""The Redis URL that names the embedded server."""


@dataclass(frozen=True)
class Durability:
    """The ``[enqueue]`` table: the arguments of ``Client``'s replicated mode."""

    durability: Literal["async", "replicated"] = "async"
    """``async`` (the master's acknowledgement) or ``replicated`` (also ``min_replicas`` replicas')."""
    min_replicas: int = 1
    """Replicas that must acknowledge a replicated enqueue."""
    replication_timeout_s: float = 1.0
    """Seconds to wait for them."""
    source: str = "default"
    """``config file`` or ``default``."""


@dataclass(frozen=True)
class Settings:
    """The resolved settings, each with where it came from."""

    redis_url: str
    """The Redis URL, or ``embedded``."""
    redis_url_source: str
    """``--redis``, ``ASYNQ_REDIS_URL``, ``config file`` or ``default``."""
    password: str | None
    """A password given apart from the URL, or None."""
    password_source: str | None
    """Where ``password`` came from."""
    config_path: Path
    """The config file (it may not exist)."""
    config_path_source: str
    """``--config``, ``ASYNQ_CONFIG`` or ``default``."""
    config_exists: bool
    """Whether the config file exists."""
    data_dir: Path
    """The data folder (the embedded server lives there)."""
    data_dir_source: str
    """``ASYNQ_PY_HOME``, ``XDG_DATA_HOME`` or ``default``."""
    schedules_path: Path
    """The schedules file of ``schedule`` and ``scheduler`` (it may not exist)."""
    schedules_path_source: str
    """``ASYNQ_SCHEDULES``, ``config file`` or ``default``."""
    app: str | None = None
    """The app ``serve`` runs when no ``APP`` argument is given, or None."""
    app_source: str | None = None
    """``ASYNQ_APP`` or ``config file``."""
    log_format: str = "text"
    """Log format of ``serve`` and ``scheduler`` (``text`` or ``json``) unless ``--log-format`` says."""
    log_format_source: str = "default"
    """``config file`` or ``default``."""
    loop: str = DEFAULT_EVENT_LOOP
    """Event loop of ``serve`` (``asyncio``, ``uvloop`` or ``auto``) unless ``--loop`` says."""
    loop_source: str = "default"
    """``config file`` or ``default``."""
    durability: Durability = field(default_factory=lambda: Durability())
    """How many copies an enqueue waits for (``[enqueue]`` in the config file)."""
    problem: str | None = None
    """Why the settings cannot be used (a missing or invalid config file), or None."""
    warnings: tuple[str, ...] = ()
    """Things worth telling (unknown keys in the config file)."""

    @property
    def embedded(self) -> bool:
        """Whether the embedded server is the one to use."""
        return self.redis_url == EMBEDDED

    @property
    def display_url(self) -> str:
        """The URL with any password masked, or ``embedded (<socket>)``."""
        if self.embedded:
            return f"embedded ({EmbeddedRedis(self.data_dir).socket_path})"
        try:
            return RedisConnOpt.from_url(self.redis_url).redacted_url()
        except ValidationError:
            scheme, sep, rest = self.redis_url.partition("://")
            return scheme + sep + ("***@" + rest.rpartition("@")[2] if "@" in rest else rest)

    def check(self) -> None:
        """Raise ``ValidationError`` if the settings cannot be used."""
        if self.problem:
            raise ValidationError(self.problem)

    def conn_opt(self, *, start: bool = True, **overrides: Any) -> RedisConnOpt | None:
        """Return the connection options; start the embedded server if needed (None if not ``start``)."""
        self.check()
        url = self.redis_url
        if self.embedded:
            server = EmbeddedRedis(self.data_dir)
            if start:
                try:
                    url = server.ensure_running()
                except ValidationError as exc:
                    fix = f"(from {self.data_dir_source}); point ASYNQ_PY_HOME at a folder to use"
                    raise ValidationError(f"{exc} {fix}") from exc
            elif server.is_running():
                url = server.url
            else:
                return None
        if self.password is not None and not self.embedded:
            overrides["password"] = self.password
        try:
            return RedisConnOpt.from_url(url, **overrides)
        except ValidationError as exc:
            raise ValidationError(f"invalid Redis URL from {self.redis_url_source}: {exc}") from exc


def _default_config_path(env: Mapping[str, str], home: Path) -> Path:
    base = env.get("XDG_CONFIG_HOME") or str(home / ".config")
    return Path(base) / "asynq-py" / "config.toml"


def _data_dir(env: Mapping[str, str], home: Path) -> tuple[Path, str]:
    if env.get("ASYNQ_PY_HOME"):
        return Path(env["ASYNQ_PY_HOME"]), "ASYNQ_PY_HOME"
    if env.get("XDG_DATA_HOME"):
        return Path(env["XDG_DATA_HOME"]) / "asynq-py", "XDG_DATA_HOME"
    return home / ".local" / "share" / "asynq-py", "default"


def _read_durability(path: Path, section: object) -> Durability:
    if not isinstance(section, dict):
        raise ValueError(f"config file {path}: 'enqueue' must be a table ([enqueue])")
    unknown = sorted(set(section) - {"durability", "min_replicas", "replication_timeout"})
    if unknown:
        raise ValueError(f"config file {path}: unknown key 'enqueue.{unknown[0]}'")
    mode = section.get("durability", "async")
    if mode not in ("async", "replicated"):
        raise ValueError(f'config file {path}: \'enqueue.durability\' must be "async" or "replicated"')
    replicas = section.get("min_replicas", 1)
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 1:
        raise ValueError(f"config file {path}: 'enqueue.min_replicas' must be an integer of at least 1")
    timeout = section.get("replication_timeout", 1.0)
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or not timeout > 0:
        raise ValueError(f"config file {path}: 'enqueue.replication_timeout' must be positive seconds")
    return Durability(mode, replicas, float(timeout), "config file")


def _read_file(path: Path) -> tuple[dict[str, str], Durability, list[str]]:
    """Return the settings of a config file, its durability and warnings; raise ``ValueError`` if
    it is bad.

    The keys of the first result are ``url`` and ``password`` (from ``[redis]``), ``app`` and
    ``loop`` (from ``[serve]``), ``schedules`` and ``log_format``.
    """
    import tomllib  # only when there is a file to read

    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"config file {path} is not valid TOML: {exc}") from None
    warnings = [
        f"config file {path}: unknown key {key!r} (ignored)"
        for key in data
        if key not in ("redis", "serve", "schedules", "log_format", "enqueue")
    ]
    durability = _read_durability(path, data["enqueue"]) if "enqueue" in data else Durability()
    found = _read_tables(path, data, warnings)
    if "schedules" in data:
        if not isinstance(data["schedules"], str) or not data["schedules"].strip():
            raise ValueError(f"config file {path}: 'schedules' must be a path (a non-empty string)")
        found["schedules"] = data["schedules"]
    if "log_format" in data:
        if data["log_format"] not in ("text", "json"):
            raise ValueError(f'config file {path}: \'log_format\' must be "text" or "json"')
        found["log_format"] = data["log_format"]
    return found, durability, warnings


def _read_tables(path: Path, data: dict[str, Any], warnings: list[str]) -> dict[str, str]:
    """Return the keys of ``[redis]`` and ``[serve]``; add a warning to ``warnings`` per unknown key."""
    found: dict[str, str] = {}
    for table, keys in (("redis", ("url", "password")), ("serve", ("app", "loop"))):
        section = data.get(table, {})
        if not isinstance(section, dict):
            raise ValueError(f"config file {path}: '{table}' must be a table ([{table}])")
        for key, value in section.items():
            if key not in keys:
                warnings.append(f"config file {path}: unknown key '{table}.{key}' (ignored)")
            elif not isinstance(value, str):
                raise ValueError(f"config file {path}: '{table}.{key}' must be a string")
            else:
                found[key] = value
    if found.get("loop", DEFAULT_EVENT_LOOP) not in EVENT_LOOPS:
        raise ValueError(f'config file {path}: \'serve.loop\' must be "auto", "asyncio" or "uvloop"')
    return found


def _app_from_file(value: str, config_dir: Path) -> str:
    """Return the config file's ``app``, a relative ``file.py:attribute`` path made absolute."""
    target, sep, attribute = value.strip().rpartition(":")
    if sep and (target.endswith(".py") or "/" in target):
        return f"{config_dir / Path(target).expanduser()}:{attribute}"
    return value.strip()


def url_has_password(url: str) -> bool:
    """Whether a Redis URL carries a password (of Redis or of its Sentinels)."""
    try:
        opt = RedisConnOpt.from_url(url)
    except ValidationError:
        return False
    return bool(opt.password or opt.sentinel_password)


def resolve(
    *,
    redis: str | None,
    password: str | None,
    config: str | None,
    env: Mapping[str, str],
    home: Path | None = None,
) -> Settings:
    """Resolve the settings from the flags, the environment and the config file (no Redis access)."""
    home = home or Path.home()
    if config:
        config_path, config_source, explicit = Path(config), "--config", True
    elif env.get("ASYNQ_CONFIG"):
        config_path, config_source, explicit = Path(env["ASYNQ_CONFIG"]), "ASYNQ_CONFIG", True
    else:
        config_path, config_source, explicit = _default_config_path(env, home), "default", False
    config_path = config_path.expanduser()
    exists = config_path.is_file()
    problem: str | None = None
    file_values: dict[str, str] = {}
    durability = Durability()
    warnings: list[str] = []
    if exists:
        try:
            file_values, durability, warnings = _read_file(config_path)
        except ValueError as exc:
            problem = str(exc)
    elif explicit:
        problem = (
            f"config file {config_path} (from {config_source}) does not exist; "
            "'asynq-py config init' creates it"
        )
    url_candidates = (
        (redis, "--redis"),
        (env.get("ASYNQ_REDIS_URL"), "ASYNQ_REDIS_URL"),
        (file_values.get("url"), "config file"),
        (EMBEDDED, "default"),
    )
    url, url_source = next((v.strip(), s) for v, s in url_candidates if v and v.strip())
    if url_source == "--redis" and url_has_password(url):
        warnings.append(
            "the password in --redis is visible to other users; use ASYNQ_REDIS_URL, "
            "ASYNQ_REDIS_PASSWORD or the config file instead"
        )
    password_candidates = (
        (password, "--password"),
        (env.get("ASYNQ_REDIS_PASSWORD"), "ASYNQ_REDIS_PASSWORD"),
        (file_values.get("password"), "config file"),
    )
    pw, pw_source = next(((v, s) for v, s in password_candidates if v), (None, None))
    data_dir, data_source = _data_dir(env, home)
    if env.get("ASYNQ_SCHEDULES", "").strip():
        schedules, schedules_source = Path(env["ASYNQ_SCHEDULES"].strip()), "ASYNQ_SCHEDULES"
    elif "schedules" in file_values:
        named = Path(file_values["schedules"].strip()).expanduser()
        schedules, schedules_source = config_path.parent / named, "config file"
    else:
        schedules, schedules_source = config_path.parent / "schedules.toml", "default"
    app, app_source = None, None
    if env.get("ASYNQ_APP", "").strip():
        app, app_source = env["ASYNQ_APP"].strip(), "ASYNQ_APP"
    elif file_values.get("app", "").strip():
        app, app_source = _app_from_file(file_values["app"], config_path.parent), "config file"
    return Settings(
        redis_url=url,
        redis_url_source=url_source,
        password=pw,
        password_source=pw_source,
        config_path=config_path,
        config_path_source=config_source,
        config_exists=exists,
        data_dir=data_dir.expanduser(),
        data_dir_source=data_source,
        schedules_path=schedules.expanduser(),
        schedules_path_source=schedules_source,
        app=app,
        app_source=app_source,
        durability=durability,
        problem=problem,
        warnings=tuple(warnings),
        log_format=file_values.get("log_format", "text"),
        log_format_source="config file" if "log_format" in file_values else "default",
        loop=file_values.get("loop", DEFAULT_EVENT_LOOP),
        loop_source="config file" if "loop" in file_values else "default",
    )


def default_conn_opt() -> RedisConnOpt:
    """Return the Redis that ``asynq-py`` would use with no flags (starting the embedded server if needed).

    Raises:
        ValidationError: the config file or a setting is invalid.
        RedisUnavailableError: the embedded server did not start.
    """
    opt = resolve(redis=None, password=None, config=None, env=os.environ).conn_opt()
    if opt is None:  # pragma: no cover - conn_opt returns None only when told not to start the server
        raise RedisUnavailableError("the embedded server is not running")
    return opt
