#!/usr/bin/env bash
# Stage 2: simulate the fixed train/dev/test sets as ESPnet enhancement data dirs.
#
#   local/simulate.sh [options] <list-dir> <data-dir>
#
# Step 1 (plan) draws every utterance's parameters from conf/simulation.yaml's seed into
# <sim-dir>/<set>/meta.tsv, and lists the training speech, noises and RIRs for on-the-fly mixing in
# <data-dir>/train_dm/; step 2 renders the audio in --nj jobs; step 3 writes <data-dir>/<set>/.
# A finished set has <data-dir>/<set>/.done; a rerun renders only utterances that are missing.
set -euo pipefail

log() {
    local fname=${BASH_SOURCE[1]##*/}
    echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*"
}

sim_config=conf/simulation.yaml # simulation parameters
nj=4                        # parallel rendering jobs per set
cmd=run.pl                  # job launcher (see cmd.sh)
sim_dir=dump/sim            # audio and parameters of the simulated sets

help_message="Usage: $0 [options] <list-dir> <data-dir>
Simulates the sets of --sim-config (default ${sim_config}) from the stage-1 lists."

. utils/parse_options.sh

if [ $# -ne 2 ]; then
    echo "${help_message}" >&2
    exit 2
fi
list_dir=$1
data_dir=$2
sim=(python3 local/simulate.py --config "${sim_config}")

if [ ! -f "${sim_dir}/.plan.done" ] || [ "${sim_config}" -nt "${sim_dir}/.plan.done" ]; then
    log "Planning from ${sim_config}"
    "${sim[@]}" plan --list-dir "${list_dir}" --sim-dir "${sim_dir}" --dm-dir "${data_dir}/train_dm"
    utils/validate_data_dir.sh --no-feats --no-text --no-wav "${data_dir}/train_dm"
    touch "${sim_dir}/.plan.done" "${data_dir}/train_dm/.done"
fi

for meta in "${sim_dir}"/*/meta.tsv; do
    dset=$(basename "$(dirname "${meta}")")
    if [ -f "${data_dir}/${dset}/.done" ] && [ "${data_dir}/${dset}/.done" -nt "${meta}" ]; then
        log "${dset}: ${data_dir}/${dset} exists; delete it to redo"
        continue
    fi
    logdir=${sim_dir}/${dset}/log
    n=$(( $(wc -l < "${meta}") - 1 ))
    _nj=$(( nj < n ? nj : n ))
    mkdir -p "${logdir}"
    # Split the rows (not the header) into one meta file per job.
    tail -n +2 "${meta}" > "${logdir}/rows.tsv"
    parts=()
    for j in $(seq "${_nj}"); do parts+=("${logdir}/rows.${j}.tsv"); done
    utils/split_scp.pl "${logdir}/rows.tsv" "${parts[@]}"
    for part in "${parts[@]}"; do
        { head -n 1 "${meta}"; cat "${part}"; } > "${part%.tsv}.meta.tsv"
    done
    log "${dset}: rendering ${n} utterances with ${_nj} jobs (logs: ${logdir}/render.*.log)"
    ${cmd} JOB=1:"${_nj}" "${logdir}/render.JOB.log" \
        "${sim[@]}" render --meta "${logdir}/rows.JOB.meta.tsv" --audio-dir "${sim_dir}/${dset}"
    "${sim[@]}" finalize --meta "${meta}" --audio-dir "${sim_dir}/${dset}" --data-dir "${data_dir}/${dset}"
    utils/validate_data_dir.sh --no-feats --no-text "${data_dir}/${dset}"
    touch "${data_dir}/${dset}/.done"
done
