"""The command line: ``setup`` (what local/setup_env.sh runs) and ``check``."""

from __future__ import annotations

import argparse
import os
import sys

from .base import SetupError
from .checks import check, report
from .decide import TORCH_PIP_OPTS
from .existing import setup_existing
from .venv import setup_venv

DESCRIPTION = "The recipe's Python environment: build ``.venv`` to fit the machine, or check an existing one."
HELP_VARIABLES = f"""variables:
  TORCH_VARIANT    auto (default: cuda when `nvidia-smi -L` lists a GPU, else cpu), cpu or cuda
  TORCH_INDEX_URL  where torch comes from (default: PyTorch's CPU index for cpu, PyPI for cuda;
                   `none`: pip's configured indexes)
  TORCH_PIP_OPTS   pip options of the torch step (default: {TORCH_PIP_OPTS})
  PYTHON           the interpreter .venv is made from (Python 3.11 or 3.12)
  RECIPE_ENV       an existing environment's prefix to check and use instead of .venv
  RECIPE_VENV      where to build (default .venv; same as --venv)"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="local/setup_env.sh", description=DESCRIPTION)
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
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
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
