"""The environment local/setup_env.sh builds: CPU torch, no CUDA packages, ESPnet's enh task imports."""

from __future__ import annotations

import importlib.metadata as md
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_torch_is_the_cpu_build():
    import torch

    assert torch.version.cuda is None, torch.__version__
    assert torch.__version__.startswith("2.13.0")


def test_no_nvidia_distributions():
    names = sorted(d.metadata["Name"] for d in md.distributions() if d.metadata["Name"])
    assert not [n for n in names if n.lower().startswith(("nvidia", "triton"))]


def test_pins_that_matter():
    assert md.version("espnet") == "202511"
    major, minor = (int(x) for x in md.version("numpy").split(".")[:2])
    assert (major, minor) < (2, 4), "numpy >= 2.4 breaks ESPnet's chunk iterator"


def test_requirements_are_installed_at_their_pins():
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==")
            installed = md.version(name).split("+")[0]  # torch reports 2.13.0+cpu
            assert installed == version, f"{name}: installed {installed}, pinned {version}"


def test_espnet_enh_task_imports_in_a_fresh_interpreter():
    proc = subprocess.run(
        [sys.executable, "-c", "import espnet2.tasks.enh, torchaudio; print('ok')"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0 and proc.stdout.splitlines()[-1] == "ok", proc.stderr[-2000:]
