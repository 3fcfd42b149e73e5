#!/usr/bin/env bash
# Stage 6: score the noisy input and every system on each set, then write RESULTS.md and the figures
# (local/report.sh).
#
#   local/score.sh [options] --models "dl pl" --peers "gtcrn dfn3" --sets "test"
#
# Each scored list gets <dir>/scoring/: <METRIC> files (sorted "key value" lines; METRIC in PESQ_WB
# STOI SI_SNR DNSMOS_P808 DNSMOS_SIG DNSMOS_BAK DNSMOS_OVRL), flagged.tsv (values written as nan, and
# why) and summary.json (per metric: n, mean, 95 % t-interval half-width, flagged count), where <dir>
# is exp/noisy/decode_<set>, exp/enh_<model>/decode_<set> or exp/peer_<peer>/decode_<set>. A set
# without data/<set>/spk1.scp (no references) is scored with DNSMOS only. Each scoring is a step
# keyed (local/lib.sh) on what it scores; one cut short scores only the utterances that are missing.
set -euo pipefail

models="dl pl"                 # model tags: exp/enh_<tag>
peers=                         # peer systems: exp/peer_<name>
sets="test"                    # data/<set> to score
nj=4                           # parallel scoring jobs per list
cmd=run.pl                     # job runner: run.pl, queue.pl or slurm.pl (with its options)
metrics=pesq,stoi,si_snr,dnsmos # comma list
fs=16000                       # sampling rate every file must have
num_threads=1                  # onnxruntime threads per job (DNSMOS)
report=true                    # write RESULTS.md and the figures afterwards (local/report.sh)
sim_config=conf/simulation.yaml # recorded in RESULTS.md

help_message="Usage: $0 [options]
Score the noisy input, --models and --peers on each of --sets; then the report."
. utils/parse_options.sh
. local/lib.sh
expect_args 0 "$@"

score_list() { # score_list <inf-scp> <marker-key-arg> <ref-scp or ""> <out-dir>
    local inf_scp=$1 upstream=$2 ref_scp=$3 out_dir=$4 key _nj logdir ref_opt=() thread_opt=()
    [ -s "${inf_scp}" ] || die "${inf_scp} is missing or empty"
    key=$(key_of "file:${inf_scp}" "${upstream}" "metrics=${metrics}" "fs=${fs}" \
        ${ref_scp:+"file:${ref_scp}"})
    if step_done "${out_dir}" "${key}"; then
        log "${out_dir} is up to date with ${inf_scp}"
        return 0
    fi
    step_begin "${out_dir}" "${key}"
    [ -n "${ref_scp}" ] && ref_opt=(--ref-scp "${ref_scp}")
    logdir=${out_dir}/logdir
    mkdir -p "${logdir}"
    cut -d' ' -f1 "${inf_scp}" > "${logdir}/keys.scp"
    _nj=$(capped_nj "${nj}" "${logdir}/keys.scp")
    split_list "${logdir}/keys.scp" "${_nj}" "${logdir}/keys.JOB.scp"
    [ "${num_threads}" -gt 1 ] && thread_opt=(--num-threads "${num_threads}")
    log "Scoring $(wc -l < "${logdir}/keys.scp") utterances of ${inf_scp} (${metrics}) in ${_nj} jobs: ${out_dir}"
    if ! OMP_NUM_THREADS=${num_threads} ${cmd} "${thread_opt[@]}" JOB=1:"${_nj}" "${logdir}/score.JOB.log" \
        python3 pyscripts/score_enh.py --inf-scp "${inf_scp}" "${ref_opt[@]}" \
        --key-file "${logdir}/keys.JOB.scp" --output-dir "${logdir}/part.JOB" \
        --metrics "${metrics}" --fs "${fs}" --num-threads "${num_threads}"; then
        for j in $(seq "${_nj}"); do
            if ! grep -q '# Ended (code 0)' "${logdir}/score.${j}.log" 2> /dev/null; then
                log "Error: scoring job ${j} failed, log: ${logdir}/score.${j}.log; its last lines:"
                tail -n 15 "${logdir}/score.${j}.log" >&2 || true
            fi
        done
        exit 1
    fi
    local parts=()
    for j in $(seq "${_nj}"); do parts+=("${logdir}/part.${j}"); done
    python3 pyscripts/score_enh.py --merge --inf-scp "${inf_scp}" "${ref_opt[@]}" --metrics "${metrics}" \
        --key-file "${logdir}/keys.scp" --output-dir "${out_dir}" "${parts[@]}"
    step_end "${out_dir}"
}

for dset in ${sets}; do
    data=data/${dset}
    ref_scp=
    if [ -f "${data}/spk1.scp" ]; then
        ref_scp=${data}/spk1.scp
    else
        log "${data} has no spk1.scp (no references): scoring DNSMOS only"
    fi
    score_list "${data}/wav.scp" "$(data_key "${data}")" "${ref_scp}" "exp/noisy/decode_${dset}/scoring"
    for dir in $(for m in ${models}; do echo "enh_${m}"; done) $(for p in ${peers}; do echo "peer_${p}"; done); do
        decode=exp/${dir}/decode_${dset}
        [ -f "${decode}/.done" ] || die "${decode} is not complete: decode it first (stage 5)"
        score_list "${decode}/spk1.scp" "file:${decode}/.done" "${ref_scp}" "${decode}/scoring"
    done
done
if "${report}"; then
    local/report.sh --models "${models}" --peers "${peers}" --test-sets "${sets}" --sim-config "${sim_config}"
fi
