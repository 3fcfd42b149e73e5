#!/usr/bin/env bash
# Stage 1: a DNS5-layout tree -> 16 kHz Kaldi-style lists of clean speech, noise and RIRs.
#
#   local/prepare_dns5.sh [options] <dns5-root> <list-dir>
#
# Writes <list-dir>/{clean,noise,rir}/{wav.scp,utt2dur,utt2spk,spk2utt,summary.json,bad_files.tsv}
# (noise and RIR files are their own "speakers", as in Kaldi). The tree is scanned on every run (a
# few seconds for DNS5): its inventory names each file with its size and modification time, and is
# the key of each kind's lists (local/lib.sh), so a changed, added or removed source file redoes
# that kind and every stage after it. The 16 kHz audio goes to --audio-dir, a cache that reuses a
# converted file only when it was made from the very same source (path, size, mtime).
set -euo pipefail

subsets="read_speech"   # clean_fullband sub-folders to use (space-separated)
nj=4                    # parallel conversion jobs
cmd=run.pl              # job launcher (see cmd.sh)
audio_dir=dump/audio16k # where the 16 kHz copies go
fs=16000
max_bad_share=0.01      # fail when more than this share of files is unreadable

help_message="Usage: $0 [options] <dns5-root> <list-dir>
Builds 16 kHz clean/noise/RIR lists from a DNS5-layout tree."

. utils/parse_options.sh
. local/lib.sh
expect_args 2 "$@"
root=$1
list_dir=$2
scan_dir=${list_dir}/.scan

log "Scanning ${root} (clean subsets: ${subsets})"
python3 local/prepare_dns5.py scan --root "${root}" --subsets "${subsets}" --out-dir "${scan_dir}"
root_abs=$(cd "${root}" && pwd -P)

for kind in clean noise rir; do
    dir=${list_dir}/${kind}
    key=$(key_of "root=${root_abs}" "subsets=${subsets}" "fs=${fs}" "audio_dir=${audio_dir}" \
        "max_bad_share=${max_bad_share}" "file:${scan_dir}/${kind}.tsv" "file:${scan_dir}/${kind}.bad.tsv")
    if step_done "${dir}" "${key}"; then
        log "${kind}: ${dir} is up to date with ${root}"
        continue
    fi
    step_begin "${dir}" "${key}"
    _nj=$(capped_nj "${nj}" "${scan_dir}/${kind}.tsv")
    logdir=${dir}/logdir
    mkdir -p "${logdir}"
    split_list "${scan_dir}/${kind}.tsv" "${_nj}" "${logdir}/JOB.tsv"
    log "${kind}: converting $(wc -l < "${scan_dir}/${kind}.tsv") files to ${fs} Hz with ${_nj} jobs" \
        "(logs: ${logdir}/convert.*.log)"
    ${cmd} JOB=1:"${_nj}" "${logdir}/convert.JOB.log" \
        python3 local/prepare_dns5.py convert --kind "${kind}" --part "${logdir}/JOB.tsv" --root "${root}" \
        --audio-dir "${audio_dir}/${kind}" --fs "${fs}" --out "${logdir}/JOB.out"
    outs=()
    for j in $(seq "${_nj}"); do outs+=("${logdir}/${j}.out"); done
    python3 local/prepare_dns5.py merge --kind "${kind}" --list-dir "${dir}" \
        --max-bad-share "${max_bad_share}" --scan-bad "${scan_dir}/${kind}.bad.tsv" "${outs[@]}"
    utils/validate_data_dir.sh --no-feats --no-text "${dir}"
    step_end "${dir}"
done
log "Lists in ${list_dir}: $(for k in clean noise rir; do printf '%s=%s ' "${k}" "$(wc -l < "${list_dir}/${k}/wav.scp")"; done)"
