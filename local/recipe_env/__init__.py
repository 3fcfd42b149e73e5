"""The recipe's Python environment: build ``.venv`` to fit the machine, or check an existing one.

Run by ``local/setup_env.sh`` (which ``run.sh`` and ``test.sh`` call) as
``python3 -m local.recipe_env setup ...`` from the recipe root; see docs/install.md.

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
This package must stay importable by any Python >= 3.8: it runs before any environment exists.
Modules, from the bottom up:

    base          the recipe root, SetupError, the log line, running a step
    requirements  the requirement files, the stamps' hash, installed versions against the pins
    decide        Python version, torch build (CPU or CUDA) and index, the commands of a build
    checks        check(): the versions and an import probe in a fresh interpreter; the report
    venv          building .venv (or printing the plan), its stamp
    existing      checking (and with --install completing) RECIPE_ENV, its stamp
    cli           the command line: setup and check
"""

from .base import ROOT, SetupError, log, run
from .checks import IMPORT_PROBE, check, import_problems, probe_imports, report, torchaudio_extension
from .cli import HELP_VARIABLES, main
from .decide import (
    CPU_INDEX_URL,
    PIP_OPTS,
    SUPPORTED_PYTHONS,
    TORCH_PIP_OPTS,
    VARIANTS,
    build_plan,
    choose_variant,
    gpu_listed,
    python_problem,
    site_packages,
    torch_index,
    venv_variant,
)
from .existing import ENV_STAMP, env_fingerprint, setup_existing
from .requirements import (
    REQUIREMENTS,
    REQUIREMENTS_NODEPS,
    Problem,
    Requirement,
    check_versions,
    files_hash,
    installed_versions,
    normalize,
    pip_fix_commands,
    read_requirements,
    torch_requirement,
)
from .venv import PIP_INDEXES, STAMP, read_stamp, setup_venv

__all__ = [
    "CPU_INDEX_URL",
    "ENV_STAMP",
    "HELP_VARIABLES",
    "IMPORT_PROBE",
    "PIP_INDEXES",
    "PIP_OPTS",
    "REQUIREMENTS",
    "REQUIREMENTS_NODEPS",
    "ROOT",
    "STAMP",
    "SUPPORTED_PYTHONS",
    "TORCH_PIP_OPTS",
    "VARIANTS",
    "Problem",
    "Requirement",
    "SetupError",
    "build_plan",
    "check",
    "check_versions",
    "choose_variant",
    "env_fingerprint",
    "files_hash",
    "gpu_listed",
    "import_problems",
    "installed_versions",
    "log",
    "main",
    "normalize",
    "pip_fix_commands",
    "probe_imports",
    "python_problem",
    "read_requirements",
    "read_stamp",
    "report",
    "run",
    "setup_existing",
    "setup_venv",
    "site_packages",
    "torch_index",
    "torch_requirement",
    "torchaudio_extension",
    "venv_variant",
]
