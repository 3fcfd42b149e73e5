"""Shared fixtures: the recipe on sys.path and an environment like path.sh's."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# pyscripts/ as path.sh puts it on PYTHONPATH (the library, the entry points); the recipe root for
# local/'s Python (local.simulate, local.embedded_corpus), as when it runs with python3 -m from there.
sys.path.insert(0, str(ROOT / "pyscripts"))
sys.path.insert(1, str(ROOT))

os.environ.setdefault("NLTK_DATA", str(ROOT / "conf" / "nltk_data"))
os.environ["PATH"] = f"{ROOT / 'utils'}{os.pathsep}{os.environ['PATH']}"
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(ROOT / "pyscripts"), *filter(None, [os.environ.get("PYTHONPATH")])]
)
os.environ["LC_ALL"] = "C"
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before anything imports torch (see path.sh)
