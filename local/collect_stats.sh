#!/usr/bin/env bash
# Stage 3: shape statistics of the training and validation sets (ESPnet collect_stats), in --nj
# jobs whose results are aggregated, as ESPnet's enh.sh does.
#
#   local/collect_stats.sh [options] <train-dir> <valid-dir> <stats-dir>
set -euo pipefail

log() {
    local fname=${BASH_SOURCE[1]##*/}
    echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*"
}

nj=2       # parallel jobs
cmd=run.pl # job launcher (see cmd.sh)

help_message="Usage: $0 [options] <train-dir> <valid-dir> <stats-dir>"
. utils/parse_options.sh
if [ $# -ne 3 ]; then
    echo "${help_message}" >&2
    exit 2
fi
train_dir=$1
valid_dir=$2
stats_dir=$3

if [ -f "${stats_dir}/.done" ] && [ "$(cat "${stats_dir}/.done")" = "${train_dir} ${valid_dir}" ] &&
    [ "${stats_dir}/.done" -nt "${train_dir}/.done" ] && [ "${stats_dir}/.done" -nt "${valid_dir}/.done" ]; then
    log "${stats_dir} is up to date with ${train_dir} and ${valid_dir}; delete it to redo"
    exit 0
fi
logdir=${stats_dir}/logdir
mkdir -p "${logdir}"
n=$(wc -l < "${valid_dir}/spk1.scp")
_nj=$(( nj < n ? nj : n ))
for split in train valid; do
    dir=${train_dir}
    [ "${split}" = valid ] && dir=${valid_dir}
    parts=()
    for j in $(seq "${_nj}"); do parts+=("${logdir}/${split}.${j}.scp"); done
    utils/split_scp.pl "${dir}/spk1.scp" "${parts[@]}"
done

# Data names by the files present (local/data_opts.sh).
. local/data_opts.sh
mapfile -t opts < <(data_opts train "${train_dir}"; data_opts valid "${valid_dir}")
log "Collecting statistics with ${_nj} jobs (logs: ${logdir}/stats.*.log)"
${cmd} JOB=1:"${_nj}" "${logdir}/stats.JOB.log" \
    python3 pyscripts/enh_train.py --collect_stats true \
    "${opts[@]}" \
    --train_shape_file "${logdir}/train.JOB.scp" --valid_shape_file "${logdir}/valid.JOB.scp" \
    --output_dir "${logdir}/stats.JOB"
inputs=()
for j in $(seq "${_nj}"); do inputs+=(--input_dir "${logdir}/stats.${j}"); done
python3 -m espnet2.bin.aggregate_stats_dirs "${inputs[@]}" --output_dir "${stats_dir}"
echo "${train_dir} ${valid_dir}" > "${stats_dir}/.done"
log "Statistics in ${stats_dir}"
