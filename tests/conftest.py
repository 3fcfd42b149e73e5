"""Shared fixtures: the repository root on sys.path and an environment like path.sh's."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "pyscripts"))
sys.path.insert(0, str(ROOT / "local"))

os.environ.setdefault("NLTK_DATA", str(ROOT / "conf" / "nltk_data"))
os.environ["PATH"] = f"{ROOT / 'utils'}{os.pathsep}{os.environ['PATH']}"
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(ROOT / "pyscripts"), *filter(None, [os.environ.get("PYTHONPATH")])]
)
os.environ["LC_ALL"] = "C"
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before anything imports torch (see path.sh)
