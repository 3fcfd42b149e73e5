#!/usr/bin/env bash
# Peer systems on our test set: GTCRN and DeepFilterNet3, each in our decode-dir layout.
#
#   local/run_peers.sh [--systems "gtcrn dfn3"] [--data data/test] [--threads 1]
#
# Builds the peers' own Python environment once (local/setup_peers_env.sh). Then, per system,
# pyscripts/peers.py writes exp/peer_<system>/decode_<set>/{spk1.scp,wavs/,.done} and
# exp/peer_<system>/complexity.json (parameters, measured RTF). A system whose .done is newer than
# <data>/wav.scp is skipped.
set -euo pipefail

log() {
    local fname=${BASH_SOURCE[1]##*/}
    echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*"
}

systems="gtcrn dfn3"  # peers to run: gtcrn, dfn3
data=data/test        # data dir with wav.scp
threads=1             # onnxruntime threads (GTCRN)
venv=.venv-peers      # the peers' environment
python=python3        # interpreter the environment is made from

help_message="Usage: $0 [options]
Enhance --data with the peer systems into exp/peer_<system>/decode_<set>."
. utils/parse_options.sh
if [ $# -ne 0 ]; then
    echo "${help_message}" >&2
    exit 2
fi

local/setup_peers_env.sh --venv "${venv}" --python "${python}"

if [ ! -s "${data}/wav.scp" ]; then
    log "Error: ${data}/wav.scp is missing or empty"
    exit 1
fi
set_name=$(basename "${data}")
export PYTHONPATH="${PWD}/pyscripts"
export LC_ALL=C
for system in ${systems}; do
    case "${system}" in
        gtcrn | dfn3) ;;
        *) log "Error: unknown peer system '${system}' (known: gtcrn dfn3)"; exit 2 ;;
    esac
    out=exp/peer_${system}/decode_${set_name}
    if [ -f "${out}/.done" ] && [ "${out}/.done" -nt "${data}/wav.scp" ]; then
        log "${out} is up to date; delete ${out}/.done to redo"
        continue
    fi
    log "Enhancing ${data} with ${system} into ${out}"
    "${venv}/bin/python" pyscripts/peers.py --system "${system}" --data "${data}" --out "${out}" \
        --threads "${threads}"
done
log "Peers done: $(for s in ${systems}; do printf 'exp/peer_%s ' "${s}"; done)"
