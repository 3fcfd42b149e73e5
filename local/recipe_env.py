"""The recipe's Python environment: build ``.venv`` to fit the machine, or check an existing one.

Run by ``local/setup_env.sh`` (which ``run.sh`` and ``test.sh`` call); see docs/install.md.

- Build (the default): ``.venv`` from ``requirements.txt`` and ``requirements-nodeps.txt``, with the
  torch build chosen by ``TORCH_VARIANT`` (``auto``: CUDA when ``nvidia-smi -L`` lists a GPU, else
  CPU), torch taken from ``TORCH_INDEX_URL`` (default: PyTorch's CPU index for the CPU build, pip's
  own indexes for the CUDA build).
- Existing environment (``RECIPE_ENV=/path/to/env``): check that environment against the same two
  files and name what is missing or wrong, with the pip commands that fix it; install only with
  ``--install``.

Both paths judge an environment with one function, ``check``, run inside the environment judged.
The requirement files are the only list of what the recipe needs (a trailing ``# env: SPEC``
comment there says what an existing environment must satisfy, see requirements.txt).
This file must stay importable by any Python >= 3.8: it runs before any environment exists.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REQUIREMENTS = "requirements.txt"  # installed with their dependencies
REQUIREMENTS_NODEPS = "requirements-nodeps.txt"  # installed with --no-deps (espnet, see docs/install.md)
SUPPORTED_PYTHONS = ((3, 11), (3, 12))  # ESPnet 202511 and every pin resolve on both
VARIANTS = ("auto", "cpu", "cuda")
CPU_INDEX_URL = "https://download.pytorch.org/whl/cpu"  # where PyTorch publishes its CPU wheels
# Options of the torch install step: an unreachable torch index must fail fast, so that pip goes on
# with the other places it is configured to look in (pip's defaults, 5 retries, took 8.9 s to give up
# on a name that does not resolve; 2 retries 1.5 s).
TORCH_PIP_OPTS = "--retries 2 --timeout 15"
PIP_OPTS = ["--no-cache-dir", "--disable-pip-version-check", "-q"]
STAMP = ".recipe_env.json"  # inside the built venv: what it was built as
PIP_INDEXES = "pip's configured indexes (PyPI's Linux torch is the CUDA build)"
ENV_STAMP = ".recipe_env.ok"  # in the recipe root: an existing environment that passed the check
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


HELP_VARIABLES = f"""variables:
  TORCH_VARIANT    auto (default: cuda when `nvidia-smi -L` lists a GPU, else cpu), cpu or cuda
  TORCH_INDEX_URL  where torch comes from (default: PyTorch's CPU index for cpu, PyPI for cuda;
                   `none`: pip's configured indexes)
  TORCH_PIP_OPTS   pip options of the torch step (default: {TORCH_PIP_OPTS})
  PYTHON           the interpreter .venv is made from (Python 3.11 or 3.12)
  RECIPE_ENV       an existing environment's prefix to check and use instead of .venv
  RECIPE_VENV      where to build (default .venv; same as --venv)"""


class SetupError(Exception):
    """A problem the user must solve; the message says how."""


# ----------------------------------------------------------------------------------------------
# The requirement files


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


class Requirement:
    """One line of a requirement file: ``name[extras] spec ; marker  # env: SPEC``."""

    LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*([^;]*?)\s*(?:;\s*(.*))?$")

    def __init__(self, line: str, source: str, nodeps: bool):
        text, _, comment = line.partition("#")
        m = self.LINE.match(text.strip())
        if not m:
            raise SetupError(f"{source}: cannot read the requirement {line.strip()!r}")
        self.name, _, self.spec, self.marker = m.groups()
        self.text = text.strip()
        self.source = source
        self.nodeps = nodeps
        env = re.match(r"\s*env:\s*(\S+)", comment)
        # What an existing environment must have: the `# env:` range when the line gives one, else
        # the line's own specifier without exact pins (those say what .venv gets, not what works).
        if env:
            self.env_spec = "" if env.group(1) == "any" else env.group(1)
        else:
            self.env_spec = ",".join(s for s in self.spec.split(",") if s and not s.strip().startswith("=="))

    @property
    def key(self) -> str:
        return normalize(self.name)


def read_requirements(root: str = ROOT) -> list[Requirement]:
    reqs = []
    for fname, nodeps in ((REQUIREMENTS, False), (REQUIREMENTS_NODEPS, True)):
        with open(os.path.join(root, fname)) as f:
            for line in f:
                if line.strip() and not line.lstrip().startswith("#"):
                    reqs.append(Requirement(line, fname, nodeps))
    return reqs


def torch_requirement(reqs: list[Requirement]) -> Requirement:
    return next(r for r in reqs if r.key == "torch")


def files_hash(root: str = ROOT) -> str:
    h = hashlib.sha1()
    for rel in (REQUIREMENTS, REQUIREMENTS_NODEPS, "local/recipe_env.py", "local/setup_env.sh"):
        with open(os.path.join(root, rel), "rb") as f:
            h.update(f.read())
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------
# Decisions (pure functions of what they are given; tests call them directly)


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
    steps.append([vpython, "local/recipe_env.py", "check", "--strict", "--variant", variant])
    return steps


# ----------------------------------------------------------------------------------------------
# Checking an environment (runs inside the environment it judges)


def _packaging():
    try:
        from packaging.markers import Marker
        from packaging.specifiers import SpecifierSet
        from packaging.version import InvalidVersion, Version
    except ImportError:
        try:
            from pip._vendor.packaging.markers import Marker
            from pip._vendor.packaging.specifiers import SpecifierSet
            from pip._vendor.packaging.version import InvalidVersion, Version
        except ImportError as e:
            raise SetupError(
                f"{sys.executable} has neither `packaging` nor pip: install pip into it "
                f"({sys.executable} -m ensurepip) so that it can be checked"
            ) from e
    return SpecifierSet, Version, InvalidVersion, Marker


def installed_versions() -> dict[str, str]:
    import importlib.metadata as md

    found = {}
    for d in md.distributions():  # in sys.path order: the first one found is the one imported
        name = d.metadata["Name"]
        if name and normalize(name) not in found:
            found[normalize(name)] = d.version
    return found


class Problem:
    def __init__(self, what: str, fix: str = "", req: Requirement | None = None):
        self.what, self.fix, self.req = what, fix, req

    def __repr__(self):
        return f"Problem({self.what!r})"


def check_versions(reqs, installed: dict[str, str], strict: bool) -> list[Problem]:
    """Missing and wrong distributions. ``strict``: the pins as written (what .venv must hold);
    else each requirement's ``env_spec`` (what an existing environment must hold)."""
    specifier_set, version_of, invalid_version, marker = _packaging()
    problems = []
    for r in reqs:
        if r.marker and not marker(r.marker).evaluate():
            continue
        spec = r.spec if strict else r.env_spec
        have = installed.get(r.key)
        if have is None:
            problems.append(Problem(f"missing  {r.name}" + (f" (needs {spec})" if spec else ""), req=r))
            continue
        try:
            # a local label (2.13.0+cpu) satisfies ==2.13.0; pre-releases count as what they are
            ok = specifier_set(spec).contains(version_of(have), prereleases=True) if spec else True
        except invalid_version:
            ok = False
        if not ok:
            problems.append(Problem(f"wrong    {r.name} {have} (needs {spec})", req=r))
    return problems


def pip_fix_commands(python: str, problems: list[Problem]) -> list[list[str]]:
    """One pip command for what installs with dependencies, one for what installs without."""
    cmds = []
    for nodeps in (False, True):
        pins = [p.req.text for p in problems if p.req is not None and p.req.nodeps == nodeps]
        if pins:
            cmds.append([python, "-m", "pip", "install", *(["--no-deps"] if nodeps else []), *pins])
    return cmds


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


# ----------------------------------------------------------------------------------------------
# Commands


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


def read_stamp(venv: str) -> dict | None:
    try:
        with open(os.path.join(venv, STAMP)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def setup_venv(args) -> int:
    """Build or update the venv (or print the plan with --dry-run)."""
    venv = os.path.abspath(os.path.join(ROOT, args.venv))
    reqs = read_requirements()
    why = python_problem(sys.version_info)
    if why:
        raise SetupError(f"{why}; set PYTHON=/path/to/python3.12 (or 3.11)")
    stamp = read_stamp(venv)
    requested = os.environ.get("TORCH_VARIANT", "auto").strip() or "auto"
    pyver = f"{sys.version_info[0]}.{sys.version_info[1]}"
    want_hash = files_hash()
    # A venv keeps the torch build and Python it was built with unless they are asked for by name:
    # TORCH_VARIANT=auto decides a new build only (a GPU that comes and goes changes nothing).
    exists = os.path.isfile(os.path.join(venv, "bin", "python"))
    if stamp and requested == "auto":
        variant, reason = stamp["variant"], f"the build {args.venv} has; TORCH_VARIANT=cpu|cuda changes it"
    elif exists and not stamp and requested == "auto":  # made before builds were recorded: always CPU
        variant, reason = "cpu", f"the build {args.venv} has; TORCH_VARIANT=cpu|cuda changes it"
    else:
        if requested not in VARIANTS:
            choose_variant(requested, (False, ""))  # raises
        variant, reason = choose_variant(requested, gpu_listed() if requested == "auto" else (False, ""))
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
    plan = build_plan(python, sys.version_info, venv, variant, index, torch_opts, reqs, fresh)
    if args.dry_run:
        state = (
            "up to date"
            if up_to_date
            else "rebuilt from scratch"
            if rebuild
            else "updated"
            if exists
            else "created"
        )
        log("plan (dry run: nothing is changed)")
        print(f"  python  {sys.executable} ({pyver})")
        print(f"  torch   {variant} build ({reason}), from {index or PIP_INDEXES}")
        print(f"  venv    {venv} would be {state}")
        if rebuild:
            print(f"+ rm -rf {shlex.quote(venv)}")
        for step in plan:
            print("+ " + shlex.join(step))
        return 0
    if up_to_date:
        log(f"{args.venv} is up to date ({variant} torch; delete it to rebuild)")
        return 0
    t0 = time.time()
    log(f"building {venv}: torch {variant} build ({reason}), from {index or PIP_INDEXES}")
    if rebuild:
        log(f"removing {venv} (built with Python {built['python'] or '?'}, {built['variant']} torch)")
        shutil.rmtree(venv)
    stamp_path = os.path.join(venv, STAMP)
    if os.path.exists(stamp_path):
        os.remove(stamp_path)  # written last: a build stopped half-way has none
    for step in plan:
        if step[0] == "rm":
            vpython = os.path.join(venv, "bin", "python")
            code = "import recipe_env, os; [os.remove(f) for f in recipe_env.torchaudio_extension()]"
            subprocess.run([vpython, "-c", code], cwd=os.path.join(ROOT, "local"), check=True)
        else:
            run(step)
    code = "import importlib.metadata as m; print(m.version('torch'))"
    vpython = os.path.join(venv, "bin", "python")
    torch = subprocess.run([vpython, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    with open(stamp_path, "w") as f:
        json.dump({"hash": want_hash, "python": pyver, "variant": variant, "torch": torch, "index": index}, f)
        f.write("\n")
    log(f"done in {time.time() - t0:.0f}s: torch {torch}")
    return 0


def env_fingerprint(prefix: str) -> str:
    h = hashlib.sha1(files_hash().encode())
    h.update(prefix.encode())
    h.update(json.dumps(sorted(installed_versions().items())).encode())
    return h.hexdigest()


def setup_existing(args, prefix: str) -> int:
    """Check the environment this interpreter belongs to (RECIPE_ENV); install into it only with
    --install."""
    where = f"RECIPE_ENV={prefix}"
    stamp = os.path.join(ROOT, ENV_STAMP)
    fingerprint = env_fingerprint(prefix)
    try:
        with open(stamp) as f:
            if f.read().strip() == fingerprint and not args.dry_run:
                log(f"{where}: checked, unchanged since")
                return 0
    except OSError:
        pass
    problems = check()
    hint = f"or let the recipe run them: RECIPE_ENV={shlex.quote(prefix)} local/setup_env.sh --install"
    if problems and args.install and not args.dry_run:
        log(f"{where}: installing what is missing or wrong")
        for cmd in pip_fix_commands(sys.executable, problems):
            run(cmd)
        problems = check()  # after the installs, the import check may still find torchaudio's extension
        for f in torchaudio_extension() if any(p.fix.startswith("rm ") for p in problems) else []:
            log(f"removing {f}")
            os.remove(f)
        problems = check()
    if problems:
        print(report(problems, where, None if args.install else hint), file=sys.stderr)
        return 1
    log(f"{where}: python {sys.version.split()[0]}, every requirement met, espnet2.tasks.enh imports")
    if os.path.isdir(os.path.join(ROOT, ".venv")):
        log(
            "warning: .venv is still here: jobs that do not inherit RECIPE_ENV (Slurm, Grid Engine) "
            "activate it in path.sh; remove it to use RECIPE_ENV everywhere"
        )
    if not args.dry_run:
        with open(stamp, "w") as f:
            f.write(env_fingerprint(prefix) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="local/setup_env.sh", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser(
        "setup",
        prog="local/setup_env.sh",
        help="build .venv, or check RECIPE_ENV",
        description="Build .venv to fit the machine, or check RECIPE_ENV (docs/install.md).",
        epilog=HELP_VARIABLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("--dry-run", action="store_true", help="print the plan (or the check), change nothing")
    s.add_argument("--install", action="store_true", help="RECIPE_ENV: install what is missing into it")
    s.add_argument("--venv", default=os.environ.get("RECIPE_VENV", ".venv"), help="where to build")
    c = sub.add_parser("check", help="check the running interpreter's environment")
    c.add_argument("--strict", action="store_true", help="the pins as written (a built venv)")
    c.add_argument("--variant", choices=("cpu", "cuda"), help="with --strict: the torch build wanted")
    c.add_argument("--no-imports", action="store_true", help="versions only, no import check")
    args = p.parse_args(argv)
    try:
        if args.cmd == "check":
            problems = check(args.strict, args.variant, not args.no_imports)
            if problems:
                print(report(problems, sys.prefix, None), file=sys.stderr)
                return 1
            print(f"{sys.prefix}: ready for the recipe")
            return 0
        prefix = os.environ.get("RECIPE_ENV", "").strip()
        if prefix:
            return setup_existing(args, prefix)
        return setup_venv(args)
    except SetupError as e:
        print(f"setup_env: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
