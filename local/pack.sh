#!/usr/bin/env bash
# Stage 7: pack one trained model into a self-contained archive for pyscripts/enhance.py
# (config, inference-graph weights, versions, ONNX core in fp32 and int8; pyscripts/pack_model.py).
#
#   local/pack.sh [--model valid.loss.best.pth] [--onnx true] [--decode-model-config F] \
#       <exp-dir> <archive.tar.gz>
#
# --decode-model-config: the overrides stage 5 decoded with (conf/decode_model.yaml), packed into the
# archive's config so that the packed model enhances the same way.
# The archive's folder is a step keyed (local/lib.sh) on the checkpoint's and the configs' content:
# another --model, or a best-model link that moved to another epoch, packs again. Log: <folder>/pack.log.
set -euo pipefail

model=valid.loss.best.pth # checkpoint inside <exp-dir>
onnx=true                 # also export the ONNX core (fp32 and int8) for --backend onnx
decode_model_config=conf/decode_model.yaml # overrides of the model's config at decoding; empty: none

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
[ -z "${decode_model_config}" ] || [ -f "${decode_model_config}" ] ||
    die "--decode-model-config ${decode_model_config}: no such file"
key=$(key_of "file:${exp_dir}/${model}" "file:${exp_dir}/config.yaml" \
    ${decode_model_config:+"file:${decode_model_config}"} "onnx=${onnx}" "archive=${out}")
if step_done "${dir}" "${key}"; then
    log "${out} is packed from ${exp_dir}/${model} ($(readlink -f "${exp_dir}/${model}"))"
    exit 0
fi
step_begin "${dir}" "${key}"
if ! python3 pyscripts/pack_model.py --exp "${exp_dir}" --model "${model}" --onnx "${onnx}" \
    ${decode_model_config:+--inference-config "${decode_model_config}"} --out "${out}" > "${dir}/pack.log" 2>&1; then
    log "Error: packing failed; the end of ${dir}/pack.log:"
    tail -n 20 "${dir}/pack.log" >&2
    exit 1
fi
step_end "${dir}"
log "Packed ${exp_dir}/${model} -> ${out} ($(du -h "${out}" | cut -f1)); use it with" \
    "pyscripts/enhance.py --model ${out} INPUT... --out-dir DIR"
