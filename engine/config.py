"""Connection options as a frozen value object; the engine never reads files or the environment."""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import parse_qs, unquote, urlsplit

from .errors import ValidationError

__all__ = ["RedisConnOpt"]


def _host_port(text: str, default_port: int) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or "]" in port:
        return text, default_port
    try:
        number = int(port)
    except ValueError:
        raise ValidationError(f"invalid port {port!r} in Redis address {text!r}") from None
    if not 0 < number < 65536:
        raise ValidationError(f"port {number} out of range in Redis address {text!r}")
    return host.strip("[]"), number


@dataclass(frozen=True)
class RedisConnOpt:
    """How to reach Redis: one server (TCP or Unix socket), Sentinel, or Cluster.

    Build one directly or with ``from_url``. ``repr`` never shows a password.
    """

    host: str = "127.0.0.1"
    """Server host (single server)."""
    port: int = 6379
    """Server port (single server)."""
    unix_socket: str | None = None
    """Path of a Unix socket; replaces host and port when set."""
    db: int = 0
    """Database number."""
    username: str | None = None
    """ACL user name."""
    password: str | None = None
    """Password (of the data nodes; see ``sentinel_password`` for Sentinel)."""
    tls: bool = False
    """Connect with TLS; the certificate is verified unless ``tls_insecure``."""
    tls_ca_file: str | None = None
    """CA bundle to verify the server certificate with (default: the system's)."""
    tls_insecure: bool = False
    """Skip certificate verification (logged as a warning by callers)."""
    sentinel_addrs: tuple[tuple[str, int], ...] = ()
    """Sentinel addresses; non-empty means Sentinel mode."""
    sentinel_master: str = "mymaster"
    """Name of the master that Sentinel monitors."""
    sentinel_username: str | None = None
    """ACL user for the Sentinels themselves."""
    sentinel_password: str | None = None
    """Password of the Sentinels themselves."""
    cluster_addrs: tuple[tuple[str, int], ...] = ()
    """Cluster seed nodes; non-empty means Cluster mode."""
    connect_timeout_s: float = 2.0
    """Seconds to wait for a connection (redis-py has no limit by default)."""
    socket_timeout_s: float = 5.0
    """Seconds to wait for any reply (redis-py has no limit by default)."""
    health_check_interval_s: float = 15.0
    """Idle connections are pinged before use when older than this."""

    def __repr__(self) -> str:
        return f"RedisConnOpt({self.redacted_url()!r})"

    @classmethod
    def from_url(cls, url: str, **overrides: object) -> RedisConnOpt:
        """Parse a Redis URL, the forms Go asynq's ``ParseRedisURI`` accepts and two more.

        - ``redis://[user:password@]host[:port][/db]``, ``rediss://...`` for TLS
          (query ``ca=PATH`` and ``insecure=1``);
        - ``redis-socket://[:password@]/path/to.sock[?db=N]`` (also ``unix://``);
        - ``redis-sentinel://[:password@]h1[:p][,h2[:p]][/db][?master=name]`` (the password is the
          Sentinels'; ``?password=`` gives the master's);
        - ``redis-cluster://[user:password@]h1[:p][,h2[:p]]``.
        """
        try:
            parts = urlsplit(url)
        except ValueError as exc:
            raise ValidationError(f"invalid Redis URL: {exc}") from None
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        netloc = parts.netloc
        user = password = None
        if "@" in netloc:
            cred, _, netloc = netloc.rpartition("@")
            user_text, _, pw_text = cred.partition(":")
            user = unquote(user_text) or None
            password = unquote(pw_text) or None
        scheme = parts.scheme.lower()
        opt: RedisConnOpt
        if scheme in ("redis", "rediss"):
            if not netloc:
                raise ValidationError(f"Redis URL has no host: {cls._safe(url)}")
            host, port = _host_port(netloc, 6379)
            opt = cls(
                host=host,
                port=port,
                db=cls._db(parts.path.strip("/") or query.get("db", "0")),
                username=user,
                password=password,
                tls=scheme == "rediss",
                tls_ca_file=query.get("ca"),
                tls_insecure=query.get("insecure", "") in ("1", "true", "yes"),
            )
        elif scheme in ("redis-socket", "unix"):
            path = unquote(parts.path) or netloc
            if not path:
                raise ValidationError(f"Redis socket URL has no path: {cls._safe(url)}")
            opt = cls(unix_socket=path, db=cls._db(query.get("db", "0")), username=user, password=password)
        elif scheme == "redis-sentinel":
            addrs = tuple(_host_port(a, 26379) for a in netloc.split(",") if a)
            if not addrs:
                raise ValidationError(f"Sentinel URL has no address: {cls._safe(url)}")
            opt = cls(
                sentinel_addrs=addrs,
                sentinel_master=query.get("master", "mymaster"),
                sentinel_username=user,
                sentinel_password=password,
                password=query.get("password"),
                db=cls._db(parts.path.strip("/") or "0"),
            )
        elif scheme == "redis-cluster":
            addrs = tuple(_host_port(a, 6379) for a in netloc.split(",") if a)
            if not addrs:
                raise ValidationError(f"Cluster URL has no address: {cls._safe(url)}")
            opt = cls(cluster_addrs=addrs, username=user, password=password)
        else:
            raise ValidationError(
                f"unsupported Redis URL scheme {parts.scheme!r}: use redis://, rediss://, "
                "redis-socket://, redis-sentinel:// or redis-cluster://"
            )
        return replace(opt, **overrides)  # type: ignore[arg-type]

    @staticmethod
    def _db(text: str) -> int:
        try:
            db = int(text)
        except ValueError:
            raise ValidationError(f"invalid Redis database number {text!r}") from None
        if db < 0:
            raise ValidationError(f"invalid Redis database number {db}")
        return db

    @staticmethod
    def _safe(url: str) -> str:
        scheme, sep, rest = url.partition("://")
        if "@" in rest:
            rest = "***@" + rest.rpartition("@")[2]
        return scheme + sep + rest

    def redacted_url(self) -> str:
        """Return a URL for display, with any password replaced by ``***``."""
        cred = ""
        if self.username or self.password:
            cred = f"{self.username or ''}{':***' if self.password else ''}@"
        if self.cluster_addrs:
            nodes = ",".join(f"{h}:{p}" for h, p in self.cluster_addrs)
            return f"redis-cluster://{cred}{nodes}"
        if self.sentinel_addrs:
            nodes = ",".join(f"{h}:{p}" for h, p in self.sentinel_addrs)
            scred = "***@" if self.sentinel_password else ""
            return f"redis-sentinel://{scred}{nodes}/{self.db}?master={self.sentinel_master}"
        if self.unix_socket:
            return f"redis-socket://{cred}{self.unix_socket}?db={self.db}"
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://{cred}{self.host}:{self.port}/{self.db}"
