#!/usr/bin/env bash
# The recipe's tests: builds .venv if needed (local/setup_env.sh), lints, then runs pytest.
#
#   ./test.sh                 # everything (what CI runs)
#   ./test.sh -m "not slow"   # pytest options pass through: skip the end-to-end runs
set -euo pipefail
cd "$(dirname "$0")"
local/setup_env.sh
. ./path.sh
echo "test.sh: ruff and shellcheck"
ruff check .
ruff format --check .
git ls-files -co --exclude-standard -- '*.sh' | xargs shellcheck
echo "test.sh: pytest"
exec python3 -m pytest "$@"
