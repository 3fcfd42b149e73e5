#!/usr/bin/env python3
"""Transitional: the old name of ``python3 -m local.embedded_corpus`` (same options).

local/make_embedded_corpus.sh calls this path until it runs the package itself; then delete this file.
"""

import os
import sys
from pathlib import Path

root = str(Path(__file__).resolve().parents[1])
env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
os.execve(sys.executable, [sys.executable, "-m", "local.embedded_corpus", *sys.argv[1:]], env)
