#!/usr/bin/env bash
# Stage 7: pack one trained model into a self-contained archive for pyscripts/enhance.py
# (config, inference-graph weights, versions, ONNX core in fp32 and int8; pyscripts/pack_model.py).
#
#   local/pack.sh [--model valid.loss.best.pth] [--onnx true] <exp-dir> <archive.tar.gz>
#
# The archive's folder is a step keyed (local/lib.sh) on the checkpoint's and the config's content:
# another --model, or a best-model link that moved to another epoch, packs again. Log: <folder>/pack.log.
set -euo pipefail

model=valid.loss.best.pth # checkpoint inside <exp-dir>
onnx=true                 # also export the ONNX core (fp32 and int8) for --backend onnx

help_message="Usage: $0 [options] <exp-dir> <archive.tar.gz>"
. utils/parse_options.sh
. local/lib.sh
expect_args 2 "$@"
exp_dir=$1
out=$2
dir=$(dirname "${out}")

for f in "${exp_dir}/${model}" "${exp_dir}/config.yaml"; do
    [ -f "${f}" ] || die "${f} is missing: train first (stage 4)"
done
key=$(key_of "file:${exp_dir}/${model}" "file:${exp_dir}/config.yaml" "onnx=${onnx}" "archive=${out}")
if step_done "${dir}" "${key}"; then
    log "${out} is packed from ${exp_dir}/${model} ($(readlink -f "${exp_dir}/${model}"))"
    exit 0
fi
step_begin "${dir}" "${key}"
if ! python3 pyscripts/pack_model.py --exp "${exp_dir}" --model "${model}" --onnx "${onnx}" \
    --out "${out}" > "${dir}/pack.log" 2>&1; then
    log "Error: packing failed; the end of ${dir}/pack.log:"
    tail -n 20 "${dir}/pack.log" >&2
    exit 1
fi
step_end "${dir}"
log "Packed ${exp_dir}/${model} -> ${out} ($(du -h "${out}" | cut -f1)); use it with" \
    "pyscripts/enhance.py --model ${out} INPUT... --out-dir DIR"
