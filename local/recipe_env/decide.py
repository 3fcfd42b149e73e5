"""The decisions: which Python, which torch build (CPU or CUDA) and from where, and the commands that
build ``.venv``. Pure functions of what they are given (``gpu_listed`` asks ``nvidia-smi``); tests
call them directly."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess

from .base import SetupError
from .requirements import REQUIREMENTS, REQUIREMENTS_NODEPS, torch_requirement

SUPPORTED_PYTHONS = ((3, 11), (3, 12))  # ESPnet 202511 and every pin resolve on both
VARIANTS = ("auto", "cpu", "cuda")
CPU_INDEX_URL = "https://download.pytorch.org/whl/cpu"  # where PyTorch publishes its CPU wheels
# Options of the torch install step: an unreachable torch index must fail fast, so that pip goes on
# with the other places it is configured to look in (pip's defaults, 5 retries, took 8.9 s to give up
# on a name that does not resolve; 2 retries 1.5 s).
TORCH_PIP_OPTS = "--retries 2 --timeout 15"
PIP_OPTS = ["--no-cache-dir", "--disable-pip-version-check", "-q"]


def python_problem(version) -> str | None:
    """Why this Python can't run the recipe, or None."""
    if tuple(version[:2]) in SUPPORTED_PYTHONS:
        return None
    want = " or ".join(f"{v[0]}.{v[1]}" for v in SUPPORTED_PYTHONS)
    return (
        f"Python {version[0]}.{version[1]} can't run the recipe: it needs Python {want} (ESPnet 202511 "
        "and the pinned packages are checked on those)"
    )


def gpu_listed(nvidia_smi: str = "nvidia-smi") -> tuple[bool, str]:
    """(True, why) when ``nvidia-smi -L`` lists a GPU."""
    exe = shutil.which(nvidia_smi)
    if exe is None:
        return False, "no nvidia-smi on PATH"
    try:
        proc = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, f"nvidia-smi -L failed ({e})"
    gpus = [line for line in proc.stdout.splitlines() if line.startswith("GPU ")]
    if proc.returncode == 0 and gpus:
        more = f" (+{len(gpus) - 1})" if len(gpus) > 1 else ""
        return True, f"nvidia-smi -L lists {gpus[0].strip()}{more}"
    return False, f"nvidia-smi -L lists no GPU (exit {proc.returncode})"


def choose_variant(requested: str, gpu: tuple[bool, str]) -> tuple[str, str]:
    """The torch build to install, and why: ``cpu`` or ``cuda``."""
    if requested not in VARIANTS:
        raise SetupError(f"TORCH_VARIANT={requested!r}: use one of {', '.join(VARIANTS)}")
    if requested != "auto":
        return requested, f"TORCH_VARIANT={requested}"
    return ("cuda" if gpu[0] else "cpu"), f"TORCH_VARIANT=auto: {gpu[1]}"


def venv_variant(requested: str, stamp: dict | None, exists: bool, name: str) -> tuple[str, str]:
    """The torch build of a venv, and why. A venv keeps the build it was made with unless another is
    asked for by name: TORCH_VARIANT=auto decides a new build only (a GPU that comes and goes changes
    nothing); ``nvidia-smi`` is asked only then."""
    keeps = f"the build {name} has; TORCH_VARIANT=cpu|cuda changes it"
    if stamp and requested == "auto":
        return stamp["variant"], keeps
    if exists and not stamp and requested == "auto":  # made before builds were recorded: always CPU
        return "cpu", keeps
    return choose_variant(requested, gpu_listed() if requested == "auto" else (False, ""))


def torch_index(variant: str, index_url: str | None) -> str | None:
    """The index the torch step installs from; None: pip's own configured indexes (PyPI)."""
    if index_url is not None and index_url.strip():
        return None if index_url.strip() == "none" else index_url.strip()
    return CPU_INDEX_URL if variant == "cpu" else None  # PyPI's Linux torch is the CUDA build


def site_packages(venv: str, version) -> str:
    return os.path.join(venv, "lib", f"python{version[0]}.{version[1]}", "site-packages")


def build_plan(
    python: str, version, venv: str, variant: str, index: str | None, torch_opts: str, reqs, fresh: bool
) -> list[list[str]]:
    """The commands that build (or update) ``venv``; the last two are done in Python, not run."""
    pip = [os.path.join(venv, "bin", "pip"), "install", *PIP_OPTS]
    torch = torch_requirement(reqs).text
    steps = []
    if fresh:
        steps.append([python, "-m", "venv", venv])
    # torch alone and without its dependencies from the torch index, so that this index serves torch
    # only; the next step installs torch's dependencies and everything else from pip's own indexes,
    # keeping the torch already there (it satisfies requirements.txt's pin, +cpu or not).
    index_opts = ["--index-url", index] if index else []
    steps.append([*pip, "--no-deps", torch, *index_opts, *shlex.split(torch_opts)])
    steps.append([*pip, "-r", REQUIREMENTS])
    steps.append([*pip, "--no-deps", "-r", REQUIREMENTS_NODEPS])
    # torchaudio 2.11's compiled extension is built against torch 2.11 (and CUDA): with our torch it
    # does not load, and the recipe uses none of it (docs/install.md). Removed for either variant.
    steps.append(["rm", "-f", os.path.join(site_packages(venv, version), "torchaudio", "lib", "*.so")])
    vpython = os.path.join(venv, "bin", "python")
    steps.append([vpython, "-m", "local.recipe_env", "check", "--strict", "--variant", variant])
    return steps
