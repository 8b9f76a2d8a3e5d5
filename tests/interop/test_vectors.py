"""The golden vectors in tests/engine/vectors/ are still what Go prints.

``go/cmd/vectors`` recomputes every output in those files from Go's standard library and Go
asynq v0.26.0; ``-check`` fails when a file differs, so the vectors cannot drift from Go (a new
Go release that formats differently shows up here, not as a silent mismatch).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.interop

VECTORS_DIR = Path(__file__).resolve().parents[1] / "engine" / "vectors"


def test_vector_files_match_what_go_computes(go_tools: dict[str, Path]) -> None:
    result = subprocess.run(
        [str(go_tools["vectors"]), "-check", str(VECTORS_DIR)],
        env={**os.environ, "TZ": "UTC"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
