"""The requirement files (the only list of what the recipe needs) and the version checks against them.

A trailing ``# env: SPEC`` comment on a line says what an existing environment must satisfy (see
requirements.txt); without one, the line's own specifier less its exact pins.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
import sys

from .base import ROOT, SetupError

REQUIREMENTS = "requirements.txt"  # installed with their dependencies
REQUIREMENTS_NODEPS = "requirements-nodeps.txt"  # installed with --no-deps (espnet, see docs/install.md)
PACKAGE = os.path.join("local", "recipe_env")  # this package, relative to the recipe root


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
    """The stamps' hash: the requirement files and the scripts that act on them (every module of
    this package and local/setup_env.sh), so that a change to any of them updates the environment."""
    paths = [os.path.join(root, REQUIREMENTS), os.path.join(root, REQUIREMENTS_NODEPS)]
    paths += sorted(glob.glob(os.path.join(root, PACKAGE, "*.py")))
    paths.append(os.path.join(root, "local", "setup_env.sh"))
    h = hashlib.sha1()
    for path in paths:
        with open(path, "rb") as f:
            h.update(f.read())
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------
# Versions installed against the files (runs inside the environment it judges)


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
