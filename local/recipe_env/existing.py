"""An environment the user already has (``RECIPE_ENV``): check it, say what it lacks and the pip
commands that fix it, install into it only with ``--install``; a stamp in the recipe root remembers a
pass."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import sys

from .base import ROOT, log, run
from .checks import check, report, torchaudio_extension
from .requirements import Problem, files_hash, installed_versions, pip_fix_commands

ENV_STAMP = ".recipe_env.ok"  # in the recipe root: an existing environment that passed the check


def env_fingerprint(prefix: str) -> str:
    h = hashlib.sha1(files_hash().encode())
    h.update(prefix.encode())
    h.update(json.dumps(sorted(installed_versions().items())).encode())
    return h.hexdigest()


def install_fixes(where: str, problems: list[Problem]) -> list[Problem]:
    """--install: pip install what is missing or wrong, remove torchaudio's extension if it is what
    breaks; what is still wrong after."""
    log(f"{where}: installing what is missing or wrong")
    for cmd in pip_fix_commands(sys.executable, problems):
        run(cmd)
    problems = check()  # after the installs, the import check may still find torchaudio's extension
    for f in torchaudio_extension() if any(p.fix.startswith("rm ") for p in problems) else []:
        log(f"removing {f}")
        os.remove(f)
    return check()


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
        problems = install_fixes(where, problems)
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
