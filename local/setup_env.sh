#!/usr/bin/env bash
# The recipe's Python environment (docs/install.md): builds .venv to fit the machine, or checks an
# environment you already have. Idempotent; run.sh and test.sh call it first.
#
#   local/setup_env.sh                 # build or update .venv (returns at once when up to date)
#   local/setup_env.sh --dry-run       # print what it would do (the torch build and the pip commands)
#   RECIPE_ENV=$CONDA_PREFIX local/setup_env.sh [--install]   # check (and complete) your environment
#
# Variables: TORCH_VARIANT=auto|cpu|cuda (auto: CUDA when `nvidia-smi -L` lists a GPU),
# TORCH_INDEX_URL (where torch comes from; `none`: pip's configured indexes), TORCH_PIP_OPTS (pip
# options of the torch step), PYTHON (the interpreter .venv is made from), RECIPE_ENV (an existing
# environment to use instead of .venv; path.sh then uses it too), RECIPE_VENV (build elsewhere).
# The logic lives in local/recipe_env/ (the package python3 -m local.recipe_env runs).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${RECIPE_ENV:-}" ]; then
    python=
    for candidate in "${RECIPE_ENV}/bin/python3" "${RECIPE_ENV}/bin/python"; do
        if [ -x "${candidate}" ]; then python=${candidate}; break; fi
    done
    [ -n "${python}" ] || {
        echo "setup_env: error: RECIPE_ENV=${RECIPE_ENV} has no bin/python3: set it to an environment's" \
            "prefix (for conda: \$CONDA_PREFIX, for a venv: \$VIRTUAL_ENV)" >&2
        exit 1
    }
else
    python=${PYTHON:-python3}
fi
# local/recipe_env says which Python versions the recipe runs on; this only makes sure it can run.
"${python}" -c 'import sys; sys.exit(sys.version_info < (3, 8))' 2>/dev/null || {
    echo "setup_env: error: ${python} ($("${python}" -V 2>&1 || true)) is too old: the recipe needs" \
        "Python 3.11 or 3.12 (set PYTHON=/path/to/python3.12)" >&2
    exit 1
}
exec "${python}" -m local.recipe_env setup "$@"
