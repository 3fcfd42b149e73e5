#!/usr/bin/env bash
# Stage 2: simulate the fixed train/dev/test sets as ESPnet enhancement data dirs.
#
#   local/simulate.sh [options] <list-dir> <data-dir>
#
# Step 1 (plan) draws every utterance's parameters from the simulation config's seed into
# <sim-dir>/plan/<set>/meta.tsv, and lists the training speech, noises and RIRs for on-the-fly mixing
# in <data-dir>/train_dm/; step 2 renders each set's audio into <sim-dir>/<set>/ in --nj jobs; step 3
# writes <data-dir>/<set>/. Each step is keyed (local/lib.sh) on the config and on the stage-1 lists
# (their markers), so a changed config or source redoes exactly the sets it changes; a rendering cut
# short renders only the utterances that are missing.
set -euo pipefail

sim_config=conf/simulation.yaml # simulation parameters
nj=4                        # parallel rendering jobs per set
cmd=run.pl                  # job launcher (see cmd.sh)
sim_dir=dump/sim            # audio and parameters of the simulated sets

help_message="Usage: $0 [options] <list-dir> <data-dir>
Simulates the sets of --sim-config (default ${sim_config}) from the stage-1 lists."

. utils/parse_options.sh
. local/lib.sh
expect_args 2 "$@"
list_dir=$1
data_dir=$2
sim=(python3 local/simulate.py --config "${sim_config}")
plan_dir=${sim_dir}/plan

key=$(key_of "file:${sim_config}" "file:${list_dir}/clean/.done" "file:${list_dir}/noise/.done" \
    "file:${list_dir}/rir/.done")
if step_done "${plan_dir}" "${key}" && step_done "${data_dir}/train_dm" "${key}"; then
    log "The plan in ${plan_dir} is up to date with ${sim_config} and ${list_dir}"
else
    log "Planning from ${sim_config}"
    step_begin "${plan_dir}" "${key}"
    step_begin "${data_dir}/train_dm" "${key}"
    "${sim[@]}" plan --list-dir "${list_dir}" --sim-dir "${plan_dir}" --dm-dir "${data_dir}/train_dm"
    utils/validate_data_dir.sh --no-feats --no-text --no-wav "${data_dir}/train_dm"
    step_end "${data_dir}/train_dm"
    step_end "${plan_dir}"
fi

for meta in "${plan_dir}"/*/meta.tsv; do
    dset=$(basename "$(dirname "${meta}")")
    key=$(key_of "file:${sim_config}" "file:${meta}")
    if step_done "${data_dir}/${dset}" "${key}"; then
        log "${dset}: ${data_dir}/${dset} is up to date with ${meta}"
        continue
    fi
    audio=${sim_dir}/${dset}
    step_begin "${audio}" "${key}"
    tail -n +2 "${meta}" > "${audio}/rows.tsv" # the rows without the header, split into one meta per job
    _nj=$(capped_nj "${nj}" "${audio}/rows.tsv")
    split_list "${audio}/rows.tsv" "${_nj}" "${audio}/logdir/rows.JOB.tsv"
    for j in $(seq "${_nj}"); do
        { head -n 1 "${meta}"; cat "${audio}/logdir/rows.${j}.tsv"; } > "${audio}/logdir/meta.${j}.tsv"
    done
    log "${dset}: rendering $(wc -l < "${audio}/rows.tsv") utterances with ${_nj} jobs" \
        "(logs: ${audio}/logdir/render.*.log)"
    ${cmd} JOB=1:"${_nj}" "${audio}/logdir/render.JOB.log" \
        "${sim[@]}" render --meta "${audio}/logdir/meta.JOB.tsv" --audio-dir "${audio}"
    step_end "${audio}"
    step_begin "${data_dir}/${dset}" "${key}"
    "${sim[@]}" finalize --meta "${meta}" --audio-dir "${audio}" --data-dir "${data_dir}/${dset}"
    utils/validate_data_dir.sh --no-feats --no-text "${data_dir}/${dset}"
    step_end "${data_dir}/${dset}"
done
