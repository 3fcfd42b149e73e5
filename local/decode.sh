#!/usr/bin/env bash
# Stage 5: enhance a data set with a trained model, in --nj jobs (pyscripts/enh_inference.py).
#
#   local/decode.sh [options] <exp-dir> <data-dir> <decode-dir>
#
# Job J writes <decode-dir>/logdir/output.J/ and then output.J/.done; a rerun redoes only jobs
# without .done. The merged <decode-dir>/spk1.scp lists every enhanced wav.
set -euo pipefail

log() {
    local fname=${BASH_SOURCE[1]##*/}
    echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*"
}

nj=2                          # parallel jobs
cmd=run.pl                    # job launcher (decode_cmd of cmd.sh)
ngpu=0                        # GPUs per job
model=valid.loss.best.pth     # checkpoint inside <exp-dir>
decode_config=conf/decode.yaml # enh_inference options
fs=16000

help_message="Usage: $0 [options] <exp-dir> <data-dir> <decode-dir>"
. utils/parse_options.sh
if [ $# -ne 3 ]; then
    echo "${help_message}" >&2
    exit 2
fi
exp_dir=$1
data_dir=$2
decode_dir=$3
model_file=${exp_dir}/${model}

if [ -f "${decode_dir}/.done" ] && [ "${decode_dir}/.done" -nt "${model_file}" ] &&
    [ "${decode_dir}/.done" -nt "${data_dir}/wav.scp" ]; then
    log "${decode_dir} is up to date with ${model_file}; delete it to redo"
    exit 0
fi
logdir=${decode_dir}/logdir
mkdir -p "${logdir}"
n=$(wc -l < "${data_dir}/wav.scp")
_nj=$(( nj < n ? nj : n ))
# A new model invalidates every job's output.
if [ -f "${logdir}/model" ] && [ "$(cat "${logdir}/model")" != "$(readlink -f "${model_file}")" ]; then
    rm -rf "${logdir}"/output.*
fi
readlink -f "${model_file}" > "${logdir}/model"
parts=()
for j in $(seq "${_nj}"); do parts+=("${logdir}/keys.${j}.scp"); done
utils/split_scp.pl "${data_dir}/wav.scp" "${parts[@]}"

log "Decoding ${n} utterances with ${_nj} jobs (logs: ${logdir}/inference.*.log)"
${cmd} --gpu "${ngpu}" JOB=1:"${_nj}" "${logdir}/inference.JOB.log" \
    local/decode_job.sh "${logdir}/output.JOB" \
    python3 pyscripts/enh_inference.py --ngpu "${ngpu}" --fs "${fs}" --config "${decode_config}" \
    --train_config "${exp_dir}/config.yaml" --model_file "${model_file}" \
    --data_path_and_name_and_type "${data_dir}/wav.scp,speech_mix,sound" \
    --key_file "${logdir}/keys.JOB.scp" --output_dir "${logdir}/output.JOB"

tmp=$(mktemp "${decode_dir}/.spk1.scp.XXXXXX")
for j in $(seq "${_nj}"); do cat "${logdir}/output.${j}/spk1.scp"; done | sort > "${tmp}"
mv "${tmp}" "${decode_dir}/spk1.scp"
if ! cmp -s <(cut -d' ' -f1 "${decode_dir}/spk1.scp") <(cut -d' ' -f1 "${data_dir}/wav.scp"); then
    log "Error: ${decode_dir}/spk1.scp and ${data_dir}/wav.scp have different keys"
    exit 1
fi
touch "${decode_dir}/.done"
log "Enhanced $(wc -l < "${decode_dir}/spk1.scp") utterances: ${decode_dir}/spk1.scp"
