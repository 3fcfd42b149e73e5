"""Building ``.venv`` (or ``--venv``): decide what it needs, print the plan (``--dry-run``) or carry
it out, and record what it was built as in its stamp."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass

from .base import ROOT, SetupError, log, run
from .decide import TORCH_PIP_OPTS, build_plan, python_problem, torch_index, venv_variant
from .requirements import files_hash, read_requirements

STAMP = ".recipe_env.json"  # inside the built venv: what it was built as
PIP_INDEXES = "pip's configured indexes (PyPI's Linux torch is the CUDA build)"


def read_stamp(venv: str) -> dict | None:
    try:
        with open(os.path.join(venv, STAMP)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


@dataclass
class VenvPlan:
    """What ``setup_venv`` decided for one venv."""

    name: str  # as given (--venv, RECIPE_VENV)
    venv: str  # its absolute path
    pyver: str  # the running Python's X.Y: the venv's
    variant: str  # the torch build: cpu or cuda
    reason: str  # why that build
    index: str | None  # where torch comes from (None: pip's configured indexes)
    built: dict  # what the venv was built as: {"variant", "python"} (an unrecorded one: CPU)
    exists: bool
    rebuild: bool  # from scratch: another torch build, or PYTHON names another version
    up_to_date: bool  # built as asked, and nothing changed since (files_hash)
    want_hash: str
    steps: list[list[str]]


def plan_venv(name: str) -> VenvPlan:
    venv = os.path.abspath(os.path.join(ROOT, name))
    reqs = read_requirements()
    why = python_problem(sys.version_info)
    if why:
        raise SetupError(f"{why}; set PYTHON=/path/to/python3.12 (or 3.11)")
    stamp = read_stamp(venv)
    requested = os.environ.get("TORCH_VARIANT", "auto").strip() or "auto"
    pyver = f"{sys.version_info[0]}.{sys.version_info[1]}"
    want_hash = files_hash()
    exists = os.path.isfile(os.path.join(venv, "bin", "python"))
    variant, reason = venv_variant(requested, stamp, exists, name)
    index = torch_index(variant, os.environ.get("TORCH_INDEX_URL"))
    built = stamp or {"variant": "cpu", "python": None}  # an unrecorded venv is CPU (the old set-up)
    rebuild = bool(
        exists
        and (built["variant"] != variant or ("PYTHON" in os.environ and stamp and stamp["python"] != pyver))
    )
    up_to_date = bool(stamp and exists and not rebuild and stamp["hash"] == want_hash)
    torch_opts = os.environ.get("TORCH_PIP_OPTS", TORCH_PIP_OPTS)
    python = sys.executable  # the interpreter setup_env.sh chose (PYTHON), checked above
    fresh = not exists or rebuild
    steps = build_plan(python, sys.version_info, venv, variant, index, torch_opts, reqs, fresh)
    return VenvPlan(
        name, venv, pyver, variant, reason, index, built, exists, rebuild, up_to_date, want_hash, steps
    )


def print_plan(p: VenvPlan) -> None:
    state = (
        "up to date"
        if p.up_to_date
        else "rebuilt from scratch"
        if p.rebuild
        else "updated"
        if p.exists
        else "created"
    )
    log("plan (dry run: nothing is changed)")
    print(f"  python  {sys.executable} ({p.pyver})")
    print(f"  torch   {p.variant} build ({p.reason}), from {p.index or PIP_INDEXES}")
    print(f"  venv    {p.venv} would be {state}")
    if p.rebuild:
        print(f"+ rm -rf {shlex.quote(p.venv)}")
    for step in p.steps:
        print("+ " + shlex.join(step))


def build_venv(p: VenvPlan) -> None:
    t0 = time.time()
    log(f"building {p.venv}: torch {p.variant} build ({p.reason}), from {p.index or PIP_INDEXES}")
    if p.rebuild:
        log(f"removing {p.venv} (built with Python {p.built['python'] or '?'}, {p.built['variant']} torch)")
        shutil.rmtree(p.venv)
    stamp_path = os.path.join(p.venv, STAMP)
    if os.path.exists(stamp_path):
        os.remove(stamp_path)  # written last: a build stopped half-way has none
    vpython = os.path.join(p.venv, "bin", "python")
    for step in p.steps:
        if step[0] == "rm":  # the venv's own torchaudio, wherever its site-packages are
            code = (
                "import os; from local.recipe_env.checks import torchaudio_extension; "
                "[os.remove(f) for f in torchaudio_extension()]"
            )
            subprocess.run([vpython, "-c", code], cwd=ROOT, check=True)
        else:
            run(step)
    code = "import importlib.metadata as m; print(m.version('torch'))"
    torch = subprocess.run([vpython, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    record = {"hash": p.want_hash, "python": p.pyver, "variant": p.variant, "torch": torch, "index": p.index}
    with open(stamp_path, "w") as f:
        json.dump(record, f)
        f.write("\n")
    log(f"done in {time.time() - t0:.0f}s: torch {torch}")


def setup_venv(args) -> int:
    """Build or update the venv (or print the plan with --dry-run)."""
    p = plan_venv(args.venv)
    if args.dry_run:
        print_plan(p)
        return 0
    if p.up_to_date:
        log(f"{args.venv} is up to date ({p.variant} torch; delete it to rebuild)")
        return 0
    build_venv(p)
    return 0
