#!/usr/bin/env bash
# Score a set of enhanced (or noisy) utterances in parallel jobs; merge and summarise.
#
#   local/score.sh [--nj 4] [--cmd run.pl] [--ref-scp data/test/spk1.scp] INF_SCP OUT_DIR
#
# Writes OUT_DIR/<METRIC> (sorted "key value" lines; METRIC in PESQ_WB STOI SI_SNR DNSMOS_P808
# DNSMOS_SIG DNSMOS_BAK DNSMOS_OVRL), OUT_DIR/flagged.tsv (values written as nan, and why) and
# OUT_DIR/summary.json (per metric: n, mean, 95 % t-interval half-width, flagged count). Without
# --ref-scp only DNSMOS is scored. Job logs are OUT_DIR/logdir/score.JOB.log. A rerun scores only
# what is missing, or what changed since (see docs/scoring.md); changing --nj rescores moved keys.
set -euo pipefail

log() {
    local fname=${BASH_SOURCE[1]##*/}
    echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*"
}

nj=4                           # parallel scoring jobs
cmd=run.pl                     # job runner: run.pl, queue.pl or slurm.pl (with its options)
ref_scp=                       # clean references; empty: DNSMOS only
metrics=pesq,stoi,si_snr,dnsmos # comma list
fs=16000                       # sampling rate every file must have
num_threads=1                  # onnxruntime threads per job (DNSMOS)

help_message="Usage: $0 [options] INF_SCP OUT_DIR
Score INF_SCP (key -> wav) against --ref-scp with --metrics in --nj jobs; results in OUT_DIR."
. utils/parse_options.sh

if [ $# -ne 2 ]; then
    echo "${help_message}" >&2
    exit 2
fi
inf_scp=$1
out_dir=$2

[ -s "${inf_scp}" ] || { log "Error: ${inf_scp} is missing or empty"; exit 1; }
if [ -n "${ref_scp}" ] && [ ! -s "${ref_scp}" ]; then
    log "Error: --ref-scp ${ref_scp} is missing or empty"
    exit 1
fi
ref_opt=()
if [ -n "${ref_scp}" ]; then
    ref_opt=(--ref-scp "${ref_scp}")
else
    log "${inf_scp}: no references given (--ref-scp): scoring DNSMOS only"
fi

logdir=${out_dir}/logdir
mkdir -p "${logdir}"
cut -d' ' -f1 "${inf_scp}" > "${logdir}/keys.scp"
n_keys=$(wc -l < "${logdir}/keys.scp")
if [ "${nj}" -gt "${n_keys}" ]; then
    log "--nj ${nj} is more than the ${n_keys} utterances: using ${n_keys} jobs"
    nj=${n_keys}
fi
split_keys=()
for n in $(seq "${nj}"); do split_keys+=("${logdir}/keys.${n}.scp"); done
utils/split_scp.pl "${logdir}/keys.scp" "${split_keys[@]}"

thread_opt=()
[ "${num_threads}" -gt 1 ] && thread_opt=(--num-threads "${num_threads}")
export OMP_NUM_THREADS=${num_threads}
log "Scoring ${n_keys} utterances of ${inf_scp} (${metrics}) in ${nj} jobs: ${out_dir}"
# shellcheck disable=SC2086
if ! ${cmd} "${thread_opt[@]}" JOB=1:"${nj}" "${logdir}/score.JOB.log" \
    python3 pyscripts/score_enh.py --inf-scp "${inf_scp}" "${ref_opt[@]}" \
    --key-file "${logdir}/keys.JOB.scp" --output-dir "${logdir}/part.JOB" \
    --metrics "${metrics}" --fs "${fs}" --num-threads "${num_threads}"; then
    for n in $(seq "${nj}"); do
        job_log=${logdir}/score.${n}.log
        if ! grep -q '# Ended (code 0)' "${job_log}" 2>/dev/null; then
            log "Error: scoring job ${n} failed, log: ${job_log}; its last lines:"
            tail -n 15 "${job_log}" >&2 || true
        fi
    done
    exit 1
fi

parts=()
for n in $(seq "${nj}"); do parts+=("${logdir}/part.${n}"); done
python3 pyscripts/score_enh.py --merge --inf-scp "${inf_scp}" "${ref_opt[@]}" --metrics "${metrics}" \
    --key-file "${logdir}/keys.scp" --output-dir "${out_dir}" "${parts[@]}"
log "Scores of ${n_keys} utterances in ${out_dir} (summary: ${out_dir}/summary.json)"
