"""Builds the Go side of the interop harness: seven small programs on Go asynq
v0.26.0 (goclient, goserver, goinspect, goscheduler, gotrace on the
OpenTelemetry Go SDK pinned in go.mod, vectors, which regenerates
tests/engine/vectors, and asynqmon, Go asynq's web UI from the module
github.com/hibiken/asynqmon pinned in go.mod; sources in ``go/cmd``) and Go
asynq's own CLI (``asynq``).

The binaries land in ``tests/interop/.build/<hash>/``, where the hash covers
the Go sources, go.mod, go.sum and the ``go version`` line, so a build is
reused until one of those changes. A file lock keeps parallel test processes
from building at the same time; the second one waits and reuses the result.

The CLI comes from the module ``github.com/hibiken/asynq/tools``, which has
no release tags. It is pinned in ``go/go.mod`` as a ``tool`` at the
pseudo-version of the v0.26.0 tag commit (``ASYNQ_TOOLS_VERSION``), so it is
built against asynq v0.26.0 like the rest. ``go install ...@latest`` does not
work here: the module proxy this project can reach answers 404 for the
module's version list, serves no newer pseudo-version, and its checksum
database has no entry for it (go.sum carries the hashes instead).

Run ``python tests/interop/gobuild.py`` to build by hand; it prints the
binary paths and the resolved versions as JSON.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Final

HERE: Final = Path(__file__).resolve().parent
GO_DIR: Final = HERE / "go"
BUILD_ROOT: Final = HERE / ".build"

PROGRAMS: Final = ("goclient", "goserver", "goinspect", "goscheduler", "gotrace", "vectors", "asynqmon")
ASYNQ_CLI: Final = "asynq"
ASYNQ_CLI_PACKAGE: Final = "github.com/hibiken/asynq/tools/asynq"

ASYNQ_MODULE: Final = "github.com/hibiken/asynq"
ASYNQ_VERSION: Final = "v0.26.0"
ASYNQ_TOOLS_MODULE: Final = "github.com/hibiken/asynq/tools"
# Pseudo-version of the tools module at the v0.26.0 tag commit d704b68a426d.
ASYNQ_TOOLS_VERSION: Final = "v0.0.0-20260203063626-d704b68a426d"

BUILD_TIMEOUT_S: Final = 600.0
GO_MISSING: Final = "Go toolchain not found: interop tests need `go` on PATH"
INFO_FILE: Final = "build-info.json"


class GoBuildError(RuntimeError):
    """The Go build failed or timed out."""


def _go() -> str | None:
    return shutil.which("go")


def go_available() -> str | None:
    """None when a working ``go`` is on PATH, else the reason to skip."""
    go = _go()
    if go is None:
        return GO_MISSING
    try:
        subprocess.run([go, "version"], capture_output=True, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"Go toolchain at {go} does not run: {exc}"
    return None


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    flags = [f for f in env.get("GOFLAGS", "").split() if not f.startswith("-mod=")]
    env["GOFLAGS"] = " ".join([*flags, "-mod=mod"])
    # go.sum holds the tools module's hashes; the checksum database reachable
    # from here does not know its pseudo-version, so never ask it.
    nosum = [p for p in env.get("GONOSUMDB", "").split(",") if p]
    if ASYNQ_TOOLS_MODULE not in nosum:
        nosum.append(ASYNQ_TOOLS_MODULE)
    env["GONOSUMDB"] = ",".join(nosum)
    return env


def _run_go(args: list[str], env: dict[str, str], timeout: float) -> str:
    """Runs go in GO_DIR in its own process group; kills the group on timeout."""
    go = _go()
    if go is None:
        raise GoBuildError(GO_MISSING)
    proc = subprocess.Popen(
        [go, *args],
        cwd=GO_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise GoBuildError(f"`go {' '.join(args)}` timed out after {timeout:.0f}s") from exc
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    if proc.returncode != 0:
        raise GoBuildError(f"`go {' '.join(args)}` failed (exit {proc.returncode}):\n{out[-8000:]}")
    return out


def _go_version() -> str:
    return _run_go(["version"], _go_env(), 60.0).strip()


def source_hash() -> str:
    """Hash of everything the build depends on, first 16 hex digits."""
    h = hashlib.sha256()
    h.update(_go_version().encode())
    files = sorted(
        p for p in GO_DIR.rglob("*") if p.is_file() and (p.suffix == ".go" or p.name in ("go.mod", "go.sum"))
    )
    for p in files:
        h.update(b"\0" + p.relative_to(GO_DIR).as_posix().encode() + b"\0")
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _tools_in(out_dir: Path) -> dict[str, Path]:
    return {name: out_dir / name for name in (*PROGRAMS, ASYNQ_CLI)}


def _complete(out_dir: Path) -> bool:
    return (out_dir / INFO_FILE).is_file() and all(p.is_file() for p in _tools_in(out_dir).values())


def _build_into(tmp: Path, digest: str) -> dict[str, object]:
    env = _go_env()
    started = time.monotonic()
    packages = [f"./cmd/{name}" for name in PROGRAMS]
    _run_go(
        ["build", "-trimpath", "-o", str(tmp) + os.sep, *packages, ASYNQ_CLI_PACKAGE],
        env,
        BUILD_TIMEOUT_S,
    )
    seconds = round(time.monotonic() - started, 1)
    listed = _run_go(
        ["list", "-m", "-f", "{{.Path}} {{.Version}}", ASYNQ_MODULE, ASYNQ_TOOLS_MODULE], env, 120.0
    )
    versions = dict(line.split(" ", 1) for line in listed.splitlines() if " " in line)
    info: dict[str, object] = {
        "source_hash": digest,
        "go_version": _go_version(),
        "asynq": versions.get(ASYNQ_MODULE, "?"),
        "asynq_tools": versions.get(ASYNQ_TOOLS_MODULE, "?"),
        "build_seconds": seconds,
    }
    (tmp / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
    return info


_built: dict[str, Path] | None = None


def build_go_tools() -> dict[str, Path]:
    """Builds (or reuses) all Go programs and the asynq CLI; returns name -> binary path.

    Names: goclient, goserver, goinspect, goscheduler, gotrace, vectors, asynq.
    """
    global _built
    if _built is not None and all(p.is_file() for p in _built.values()):
        return dict(_built)
    digest = source_hash()
    out_dir = BUILD_ROOT / digest
    if not _complete(out_dir):
        BUILD_ROOT.mkdir(parents=True, exist_ok=True)
        with (BUILD_ROOT / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if not _complete(out_dir):
                    tmp = BUILD_ROOT / f"{digest}.tmp-{os.getpid()}"
                    shutil.rmtree(tmp, ignore_errors=True)
                    tmp.mkdir()
                    try:
                        info = _build_into(tmp, digest)
                        shutil.rmtree(out_dir, ignore_errors=True)
                        os.replace(tmp, out_dir)
                    finally:
                        shutil.rmtree(tmp, ignore_errors=True)
                    print(
                        f"gobuild: built Go interop tools in {info['build_seconds']}s into {out_dir} "
                        f"(asynq {info['asynq']}, asynq tools {info['asynq_tools']})",
                        file=sys.stderr,
                    )
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
    _built = _tools_in(out_dir)
    return dict(_built)


def build_info() -> dict[str, object]:
    """The build-info.json of the current build (builds first if needed)."""
    tools = build_go_tools()
    data: dict[str, object] = json.loads((tools[ASYNQ_CLI].parent / INFO_FILE).read_text())
    return data


def main() -> int:
    reason = go_available()
    if reason is not None:
        print(reason, file=sys.stderr)
        return 1
    tools = build_go_tools()
    print(json.dumps({"tools": {k: str(v) for k, v in tools.items()}, "info": build_info()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
