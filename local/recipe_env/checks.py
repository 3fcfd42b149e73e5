"""Judging an environment: ``check`` (the versions, then an import probe in a fresh interpreter) and
the report of what is wrong with the commands that fix it. Runs inside the environment it judges."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys

from .base import ROOT
from .decide import CPU_INDEX_URL, python_problem
from .requirements import Problem, check_versions, installed_versions, pip_fix_commands, read_requirements

# An import of the enhancement task in a fresh interpreter is the test that counts: torchaudio's
# compiled extension and every dependency are loaded the way the recipe loads them.
IMPORT_PROBE = r"""
import importlib.metadata as md, json, sys
out = {"python": list(sys.version_info[:2])}
def err(e):
    return (type(e).__name__ + ": " + str(e)).strip()[:600]
try:
    import torch
    out["torch"] = torch.__version__
    out["cuda"] = torch.version.cuda
except Exception as e:
    out["torch_error"] = err(e)
else:
    try:
        import torchaudio  # noqa: F401
    except Exception as e:
        out["torchaudio_error"] = err(e)
    else:
        try:
            import espnet2.tasks.enh  # noqa: F401
        except Exception as e:
            out["espnet_error"] = err(e)
out["nvidia"] = sorted(
    d.metadata["Name"] for d in md.distributions()
    if (d.metadata["Name"] or "").lower().startswith(("nvidia", "triton"))
)
print("RECIPE_ENV_PROBE " + json.dumps(out))
"""


def torchaudio_extension() -> list[str]:
    """The compiled extension files of the torchaudio this interpreter would import."""
    import glob
    import importlib.util

    spec = importlib.util.find_spec("torchaudio")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return []
    return sorted(glob.glob(os.path.join(list(spec.submodule_search_locations)[0], "lib", "*.so")))


def probe_imports(python: str = sys.executable) -> dict:
    """Import torch, torchaudio and ESPnet's enhancement task in a fresh interpreter."""
    env = dict(os.environ)
    env.setdefault("NLTK_DATA", os.path.join(ROOT, "conf", "nltk_data"))
    paths = [os.path.join(ROOT, "pyscripts"), env.get("PYTHONPATH")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    proc = subprocess.run([python, "-c", IMPORT_PROBE], capture_output=True, text=True, env=env, timeout=600)
    for line in proc.stdout.splitlines():
        if line.startswith("RECIPE_ENV_PROBE "):
            return json.loads(line.split(" ", 1)[1])
    return {"torch_error": f"the import check crashed (exit {proc.returncode}): {proc.stderr[-600:]}"}


def import_problems(probe: dict, variant: str | None, extension: list[str]) -> list[Problem]:
    """What the import check found wrong; ``variant`` (strict mode) also checks the torch build."""
    problems = []
    if "torch_error" in probe:
        problems.append(Problem(f"torch does not import: {probe['torch_error']}"))
    err = probe.get("torchaudio_error")
    if err:
        if extension and re.search(r"torchaudio/lib|_torchaudio|libtorchaudio|different CUDA versions", err):
            problems.append(
                Problem(
                    f"torchaudio's compiled extension does not load with this torch ({err[:200]}); the "
                    "recipe uses none of it, and torchaudio works without it",
                    fix="rm -f " + " ".join(shlex.quote(f) for f in extension),
                )
            )
        else:
            problems.append(Problem(f"torchaudio does not import: {err}"))
    if "espnet_error" in probe:
        problems.append(Problem(f"espnet2.tasks.enh does not import: {probe['espnet_error']}"))
    if variant == "cpu" and "torch" in probe:
        if probe.get("cuda") is not None:
            problems.append(Problem(f"a CUDA build of torch got in: {probe['torch']} (CUDA {probe['cuda']})"))
        if probe.get("nvidia"):
            problems.append(Problem(f"CUDA packages got in: {', '.join(probe['nvidia'])}"))
    if variant == "cuda" and "torch" in probe and probe.get("cuda") is None:
        problems.append(Problem(f"torch {probe['torch']} is a CPU build; TORCH_VARIANT=cuda wants CUDA"))
    return problems


def check(strict: bool = False, variant: str | None = None, imports: bool = True) -> list[Problem]:
    """Everything wrong with the running interpreter's environment, for the recipe."""
    why = python_problem(sys.version_info)
    if why:  # nothing to install into it would help
        return [Problem(f"{why}: use an environment with one of those")]
    problems = check_versions(read_requirements(), installed_versions(), strict)
    if imports and not problems:  # an import error would only repeat a missing package
        problems += import_problems(probe_imports(), variant if strict else None, torchaudio_extension())
    return problems


def report(problems: list[Problem], where: str, install_hint: str | None) -> str:
    lines = [f"{where} does not fit the recipe ({len(problems)} problem{'s' * (len(problems) > 1)}):"]
    lines += [f"  {p.what}" for p in problems]
    cmds = [shlex.join(c) for c in pip_fix_commands(sys.executable, problems)]
    cmds += [p.fix for p in problems if p.fix]
    if cmds:
        lines.append("To fix it, run:")
        lines += [f"  {c}" for c in cmds]
    torch = [p.req for p in problems if p.req is not None and p.req.key == "torch"]
    if torch:
        lines.append(
            f"  (torch: your site's build is best, if it has one; from PyPI, {torch[0].text} is the CUDA "
            f"build, for the CPU one add --index-url {CPU_INDEX_URL})"
        )
    if install_hint and cmds:
        lines.append(install_hint)
    return "\n".join(lines)
