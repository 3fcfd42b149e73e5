#!/usr/bin/env bash
# Stage 1: a DNS5-layout tree -> 16 kHz Kaldi-style lists of clean speech, noise and RIRs.
#
#   local/prepare_dns5.sh [options] <dns5-root> <list-dir>
#
# Writes <list-dir>/{clean,noise,rir}/{wav.scp,utt2dur,utt2spk,spk2utt,summary.json,bad_files.tsv}
# (noise and RIR files are their own "speakers", as in Kaldi). The 16 kHz audio goes to --audio-dir,
# a cache: a file already there and newer than its source is not converted again. Each step leaves a
# .done marker, so a rerun after a kill redoes only what is missing; delete <list-dir> to redo the
# lists, and --audio-dir to redo the audio.
set -euo pipefail

log() {
    local fname=${BASH_SOURCE[1]##*/}
    echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*"
}

subsets="read_speech"   # clean_fullband sub-folders to use (space-separated)
nj=4                    # parallel conversion jobs
cmd=run.pl              # job launcher (see cmd.sh)
audio_dir=dump/audio16k # where the 16 kHz copies go
fs=16000
max_bad_share=0.01      # fail when more than this share of files is unreadable

help_message="Usage: $0 [options] <dns5-root> <list-dir>
Builds 16 kHz clean/noise/RIR lists from a DNS5-layout tree."

. utils/parse_options.sh

if [ $# -ne 2 ]; then
    echo "${help_message}" >&2
    exit 2
fi
root=$1
list_dir=$2
tmp=${list_dir}/tmp

# The lists belong to one tree and subset choice; another one (or a rebuilt embedded corpus, whose
# manifest is newer) starts the lists over. Converted audio stays cached unless its source changed.
source_id="$(cd "${root}" && pwd) ${subsets}"
if [ -f "${tmp}/.scan.done" ] && { [ "$(cat "${tmp}/.scan.done")" != "${source_id}" ] ||
    [ "${root}/manifest.tsv" -nt "${tmp}/.scan.done" ]; }; then
    log "${list_dir} was made from another tree or subsets; making it again"
    rm -rf "${list_dir}"
fi
if [ ! -f "${tmp}/.scan.done" ]; then
    log "Scanning ${root} (clean subsets: ${subsets})"
    python3 local/prepare_dns5.py scan --root "${root}" --subsets "${subsets}" --out-dir "${tmp}"
    echo "${source_id}" > "${tmp}/.scan.done"
fi

for kind in clean noise rir; do
    if [ -f "${list_dir}/${kind}/.done" ]; then
        log "${kind}: ${list_dir}/${kind} exists; delete it to redo"
        continue
    fi
    n=$(wc -l < "${tmp}/${kind}.tsv")
    _nj=$(( nj < n ? nj : n ))
    parts=()
    for j in $(seq "${_nj}"); do parts+=("${tmp}/${kind}.${j}.tsv"); done
    utils/split_scp.pl "${tmp}/${kind}.tsv" "${parts[@]}"
    log "${kind}: converting ${n} files to ${fs} Hz with ${_nj} jobs (logs: ${tmp}/log/${kind}.*.log)"
    ${cmd} JOB=1:"${_nj}" "${tmp}/log/${kind}.JOB.log" \
        python3 local/prepare_dns5.py convert --part "${tmp}/${kind}.JOB.tsv" --root "${root}" \
        --audio-dir "${audio_dir}/${kind}" --fs "${fs}" --out "${tmp}/${kind}.JOB.out"
    outs=()
    for j in $(seq "${_nj}"); do outs+=("${tmp}/${kind}.${j}.out"); done
    python3 local/prepare_dns5.py merge --kind "${kind}" --list-dir "${list_dir}/${kind}" \
        --max-bad-share "${max_bad_share}" "${outs[@]}"
    utils/validate_data_dir.sh --no-feats --no-text "${list_dir}/${kind}"
    touch "${list_dir}/${kind}/.done"
done
log "Lists in ${list_dir}: $(for k in clean noise rir; do printf '%s=%s ' "${k}" "$(wc -l < "${list_dir}/${k}/wav.scp")"; done)"
