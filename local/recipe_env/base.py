"""What every module shares: the recipe root, the error a user must act on, the log line, running a
step."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys

# local/recipe_env/base.py -> the recipe root, two folders up from this package
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class SetupError(Exception):
    """A problem the user must solve; the message says how."""


def log(msg: str) -> None:
    print(f"setup_env: {msg}", flush=True)


def run(argv: list[str]) -> None:
    """Run one step, dropping pip's "WARNING: Location ... is ignored" lines (a configured index
    without the package, noise)."""
    proc = subprocess.Popen(argv, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        if not line.startswith("WARNING: Location"):
            sys.stderr.write(line)
    if proc.wait():
        raise SetupError(f"failed (exit {proc.returncode}): {shlex.join(argv)}")
