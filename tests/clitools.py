"""Running the real ``autoposter`` command in a child process, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


def write_config(folder: Path, data: dict[str, Any]) -> Path:
    path = folder / "autoposter.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    path.chmod(0o600)
    return path


def autoposter(
    *args: str,
    timeout: float = 60,
    env: dict[str, str] | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m autoposter ARGS`` with ``input`` (default: nothing) on its
    standard input, and capture what it printed."""
    # The user's own $AUTOPOSTER_CONFIG must not leak into a test.
    full_env = {k: v for k, v in os.environ.items() if k != "AUTOPOSTER_CONFIG"}
    full_env["PYTHONPATH"] = str(ROOT)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "autoposter", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        input=input or "",
        check=False,
    )
