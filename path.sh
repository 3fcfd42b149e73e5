# shellcheck shell=bash
# Environment of the recipe: sourced by run.sh, local/*.sh and the tests.
# The Python environment lives in .venv (built by local/setup_env.sh, see README.md).
RECIPE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export RECIPE_ROOT
if [ -f "${RECIPE_ROOT}/.venv/bin/activate" ]; then
    # shellcheck disable=SC1091
    . "${RECIPE_ROOT}/.venv/bin/activate"
fi
export PATH="${RECIPE_ROOT}/utils:${PATH}"
export PYTHONPATH="${RECIPE_ROOT}/pyscripts${PYTHONPATH:+:${PYTHONPATH}}"
export LC_ALL=C
export PYTHONIOENCODING=UTF-8
export PYTHONUNBUFFERED=1
# g2p_en (imported by ESPnet's text frontend) tries to download nltk data at import; these
# valid empty archives make it stop trying (see docs/install.md).
export NLTK_DATA="${RECIPE_ROOT}/conf/nltk_data"
# OpenMP threads that spin while waiting made training steps 2-10x slower on a loaded 2-core
# machine (measured); passive waiting costs nothing when the machine is idle.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
