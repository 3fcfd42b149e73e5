#!/usr/bin/env bash
# Build the recipe's Python environment in .venv, idempotently (see docs/install.md).
#
# ESPnet 202511 pins setuptools<74 while torch 2.13 wants >=77, so a plain `pip install espnet`
# drags in a multi-GB CUDA torch. We install ESPnet's own requirements (requirements.txt, torch
# pinned to the CPU wheel on disk) and then espnet itself with --no-deps. torchaudio's compiled
# extension is CUDA-linked and fails to load; the parts ESPnet's enh task uses are pure PyTorch,
# so the extension is removed and torchaudio falls back to them.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
stamp="${venv}/.requirements.sha1"
want="$(cat requirements.txt local/setup_env.sh | sha1sum | cut -d' ' -f1)"
if [ -f "${stamp}" ] && [ "$(cat "${stamp}")" = "${want}" ]; then
    echo "setup_env.sh: ${venv} is up to date (delete it to rebuild)"
    exit 0
fi

python=${PYTHON:-python3}
"${python}" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' || {
    echo "setup_env.sh: Python 3.11 is required (ESPnet 202511); set PYTHON=/path/to/python3.11" >&2
    exit 1
}
[ -d "${venv}" ] || "${python}" -m venv "${venv}"
pip=("${venv}/bin/pip" --no-cache-dir --disable-pip-version-check -q)
SECONDS=0
"${pip[@]}" install -r requirements.txt 2> >(grep -v "^WARNING: Location" >&2)
"${pip[@]}" install --no-deps espnet==202511 2> >(grep -v "^WARNING: Location" >&2)
rm -f "${venv}"/lib/python3.11/site-packages/torchaudio/lib/*.so
NLTK_DATA=conf/nltk_data "${venv}/bin/python" - <<'PY'
import importlib.metadata as md
import torch
assert torch.version.cuda is None, f"a CUDA build of torch got in: {torch.__version__}"
bad = sorted(d.metadata["Name"] for d in md.distributions() if d.metadata["Name"].lower().startswith("nvidia"))
assert not bad, f"CUDA packages got in: {bad}"
import espnet2.tasks.enh  # noqa: F401  (fails loudly if torchaudio or a dependency is broken)
print(f"torch {torch.__version__}, espnet {md.version('espnet')}: environment ready")
PY
echo "${want}" > "${stamp}"
echo "setup_env.sh: done in ${SECONDS}s"
