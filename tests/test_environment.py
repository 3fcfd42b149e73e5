"""The environment local/setup_env.sh built (.venv) or accepted (RECIPE_ENV): torch of the build
it chose, the pins, ESPnet's enh task imports."""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from local import recipe_env

ROOT = Path(__file__).resolve().parents[1]
EXISTING = bool(os.environ.get("RECIPE_ENV"))  # an environment the user brought: checked, not built
built_only = pytest.mark.skipif(EXISTING, reason="RECIPE_ENV: the user's environment, not one we built")


def built_variant() -> str:
    """The torch build setup_env.sh chose for .venv (a venv built before it recorded one is CPU)."""
    try:
        return json.loads((Path(sys.prefix) / recipe_env.STAMP).read_text())["variant"]
    except OSError:
        return "cpu"


@built_only
def test_torch_is_the_build_setup_chose():
    import torch

    assert torch.__version__.startswith("2.13.0")
    if built_variant() == "cpu":
        assert torch.version.cuda is None, torch.__version__
    else:
        assert torch.version.cuda is not None, torch.__version__


@built_only
def test_no_nvidia_distributions_in_a_cpu_build():
    if built_variant() != "cpu":
        pytest.skip("a CUDA build holds nvidia-* distributions")
    names = sorted(d.metadata["Name"] for d in md.distributions() if d.metadata["Name"])
    assert not [n for n in names if n.lower().startswith(("nvidia", "triton"))]


def test_pins_that_matter():
    assert md.version("espnet") == "202511"
    major, minor = (int(x) for x in md.version("numpy").split(".")[:2])
    assert (major, minor) < (2, 4), "numpy >= 2.4 breaks ESPnet's chunk iterator"


def test_requirements_are_installed_at_their_pins():
    """Every line of requirements*.txt: the exact pins in .venv, the `# env:` needs in RECIPE_ENV."""
    reqs = recipe_env.read_requirements(str(ROOT))
    assert len(reqs) > 40
    problems = recipe_env.check_versions(reqs, recipe_env.installed_versions(), strict=not EXISTING)
    assert not problems, problems


def test_espnet_enh_task_imports_in_a_fresh_interpreter():
    proc = subprocess.run(
        [sys.executable, "-c", "import espnet2.tasks.enh, torchaudio; print('ok')"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0 and proc.stdout.splitlines()[-1] == "ok", proc.stderr[-2000:]
