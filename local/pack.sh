#!/usr/bin/env bash
# Stage 7: pack one trained model into a self-contained archive for pyscripts/enhance.py
# (config, inference-graph weights, versions, ONNX core in fp32 and int8; pyscripts/pack_model.py).
#
#   local/pack.sh [--model valid.loss.best.pth] [--onnx true] <exp-dir> <archive.tar.gz>
#
# Skipped when the archive was made from the same checkpoint file and is newer than it and the config.
# Log: <archive dir>/pack.log.
set -euo pipefail

log() {
    local fname=${BASH_SOURCE[1]##*/}
    echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*"
}

model=valid.loss.best.pth # checkpoint inside <exp-dir>
onnx=true                 # also export the ONNX core (fp32 and int8) for --backend onnx

help_message="Usage: $0 [options] <exp-dir> <archive.tar.gz>"
. utils/parse_options.sh
if [ $# -ne 2 ]; then
    echo "${help_message}" >&2
    exit 2
fi
exp_dir=$1
out=$2

for f in "${exp_dir}/${model}" "${exp_dir}/config.yaml"; do
    [ -f "${f}" ] || { log "Error: ${f} is missing: train first (stage 4)"; exit 1; }
done
# <archive>.source names the checkpoint file the archive was made from (symlinks resolved): another
# --model, or a best-model link that moved to another epoch, packs again.
source_stamp=${out}.source
source="$(readlink -f "${exp_dir}/${model}")"
if [ -f "${out}" ] && [ -f "${source_stamp}" ] && [ "$(cat "${source_stamp}")" = "${source}" ] &&
    [ "${out}" -nt "${source}" ] && [ "${out}" -nt "${exp_dir}/config.yaml" ]; then
    log "${out} is packed from ${source}; delete it to pack again"
    exit 0
fi
mkdir -p "$(dirname "${out}")"
logfile=$(dirname "${out}")/pack.log
if ! python3 pyscripts/pack_model.py --exp "${exp_dir}" --model "${model}" --onnx "${onnx}" \
    --out "${out}" > "${logfile}" 2>&1; then
    log "Error: packing failed; the end of ${logfile}:"
    tail -n 20 "${logfile}" >&2
    exit 1
fi
echo "${source}" > "${source_stamp}.tmp" && mv "${source_stamp}.tmp" "${source_stamp}"
log "Packed ${exp_dir}/${model} -> ${out} ($(du -h "${out}" | cut -f1)); use it with" \
    "pyscripts/enhance.py --model ${out} INPUT... --out-dir DIR"
