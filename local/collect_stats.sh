#!/usr/bin/env bash
# Stage 3: shape statistics of the training and validation sets (ESPnet collect_stats), in --nj
# jobs whose results are aggregated, as ESPnet's enh.sh does. Keyed (local/lib.sh) on the two data
# dirs' markers: new data collects the statistics again.
#
#   local/collect_stats.sh [options] <train-dir> <valid-dir> <stats-dir>
set -euo pipefail

nj=2       # parallel jobs
cmd=run.pl # job launcher (see cmd.sh)

help_message="Usage: $0 [options] <train-dir> <valid-dir> <stats-dir>"
. utils/parse_options.sh
. local/lib.sh
expect_args 3 "$@"
train_dir=$1
valid_dir=$2
stats_dir=$3

key=$(key_of "train=${train_dir}" "valid=${valid_dir}" "file:${train_dir}/.done" "file:${valid_dir}/.done")
if step_done "${stats_dir}" "${key}"; then
    log "${stats_dir} is up to date with ${train_dir} and ${valid_dir}"
    exit 0
fi
step_begin "${stats_dir}" "${key}"
logdir=${stats_dir}/logdir
mkdir -p "${logdir}"
_nj=$(capped_nj "${nj}" "${valid_dir}/spk1.scp")
split_list "${train_dir}/spk1.scp" "${_nj}" "${logdir}/train.JOB.scp"
split_list "${valid_dir}/spk1.scp" "${_nj}" "${logdir}/valid.JOB.scp"

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
step_end "${stats_dir}"
log "Statistics in ${stats_dir}"
