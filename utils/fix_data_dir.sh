#!/usr/bin/env bash
# Repair a data directory: sort its lists and keep only the utterances that every list has.
#
#   utils/fix_data_dir.sh [--utt-extra-files "FILE..."] DIR
#
# Utterance lists handled: utt2spk, text, feats.scp, segments, utt2dur, utt2num_frames, utt2fs,
# utt2category, the enhancement lists spk*.scp, noise*.scp, dereverb*.scp, wav.scp (unless there is
# a segments file, when wav.scp is keyed by recording and keeps the recordings still used), and the
# files named by --utt-extra-files (relative to DIR). Each list is sorted (C locale) with duplicate
# keys dropped (the first line kept, and counted); then only the utterances present in every list
# are kept, and spk2utt is regenerated from utt2spk. The originals are copied to DIR/.backup first
# and every list is rewritten under a temporary name and renamed.
#
# Prints "fix_data_dir.sh: kept N utterances out of M" (M counts every utterance any list names),
# then, when some were dropped, how many and the first few keys with the list that lacked them.
set -euo pipefail
export LC_ALL=C

utt_extra_files=""   # more utterance lists to keep in step, e.g. "spk2.scp utt2lang"
help_message="Usage: $0 [--utt-extra-files \"FILE...\"] DIR
Sorts the lists of DIR and keeps only the utterances present in every one of them."

utils=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=utils/parse_options.sh
. "${utils}/parse_options.sh"
[ $# -eq 1 ] || { echo "${help_message}" >&2; exit 1; }
data=${1%/}
prog=fix_data_dir.sh
fail() {
    echo "${prog}: $*" >&2
    exit 1
}
[ -f "${data}/utt2spk" ] || fail "${data}/utt2spk is missing"

tmp=$(mktemp -d)
trap 'rm -rf "${tmp}"' EXIT

lists=()
for f in utt2spk text feats.scp segments utt2dur utt2num_frames utt2fs utt2category; do
    if [ -f "${data}/${f}" ]; then lists+=("${f}"); fi
done
[ -f "${data}/segments" ] || { [ -f "${data}/wav.scp" ] && lists+=(wav.scp); }
for f in "${data}"/spk[0-9]*.scp "${data}"/noise[0-9]*.scp "${data}"/dereverb[0-9]*.scp; do
    if [ -f "${f}" ]; then lists+=("$(basename "${f}")"); fi
done
for f in ${utt_extra_files}; do
    [ -f "${data}/${f}" ] || fail "${data}/${f} (from --utt-extra-files) does not exist"
    case " ${lists[*]} " in *" ${f} "*) ;; *) lists+=("${f}") ;; esac
done

mkdir -p "${data}/.backup"
for f in "${lists[@]}" spk2utt wav.scp; do
    if [ -f "${data}/${f}" ]; then cp -p "${data}/${f}" "${data}/.backup/${f}"; fi
done

# Sort each list (stable), keeping the first line of a duplicated key; collect its keys.
for f in "${lists[@]}"; do
    awk 'NF' "${data}/${f}" | sort -s -k1,1 |
        awk -v dups="${tmp}/${f}.dups" -v keys="${tmp}/${f}.keys" '
            NR > 1 && $1 == prev { n++; next }
            { prev = $1; print; print $1 > keys }
            END { if (n) printf "%d\n", n > dups }
        ' >"${tmp}/${f}"
    if [ -s "${tmp}/${f}.dups" ]; then
        echo "${prog}: ${data}/${f}: dropped $(cat "${tmp}/${f}.dups") lines whose key was already on an earlier line" >&2
    fi
done

# The utterances every list has, and every utterance any list names.
cp "${tmp}/${lists[0]}.keys" "${tmp}/keep"
for f in "${lists[@]:1}"; do
    comm -12 "${tmp}/keep" "${tmp}/${f}.keys" >"${tmp}/keep.new"
    mv "${tmp}/keep.new" "${tmp}/keep"
done
for f in "${lists[@]}"; do cat "${tmp}/${f}.keys"; done | sort -u >"${tmp}/all"
kept=$(wc -l <"${tmp}/keep")
total=$(wc -l <"${tmp}/all")

# Keep only those utterances in every list (and the recordings they use in wav.scp).
# Both are sorted the same way, so one merging pass does it.
for f in "${lists[@]}"; do
    if cmp -s "${tmp}/keep" "${tmp}/${f}.keys"; then
        mv "${tmp}/${f}" "${tmp}/${f}.out"
        continue
    fi
    awk -v keepfile="${tmp}/keep" '
        BEGIN { more = (getline k < keepfile) > 0 }
        {
            while (more && (k "") < ($1 "")) more = (getline k < keepfile) > 0
            if (more && k == $1) print
        }
    ' "${tmp}/${f}" >"${tmp}/${f}.out"
done
if [ -f "${data}/segments" ] && [ -f "${data}/wav.scp" ]; then
    awk 'NR == FNR { use[$2] = 1; next } $1 in use' "${tmp}/segments.out" "${data}/wav.scp" |
        sort -s -k1,1 >"${tmp}/wav.scp.out"
    lists+=(wav.scp)
fi
"${utils}/utt2spk_to_spk2utt.pl" "${tmp}/utt2spk.out" | sort -k1,1 >"${tmp}/spk2utt.out"
for f in "${lists[@]}" spk2utt; do
    cp "${tmp}/${f}.out" "${data}/.${f}.tmp"
    mv -f "${data}/.${f}.tmp" "${data}/${f}"
done

echo "${prog}: kept ${kept} utterances out of ${total}"
if [ "${kept}" -lt "${total}" ]; then
    comm -23 "${tmp}/all" "${tmp}/keep" >"${tmp}/dropped"
    examples=$(head -n 5 "${tmp}/dropped" | while read -r key; do
        for f in "${lists[@]}"; do
            [ "${f}" = wav.scp ] && [ -f "${data}/segments" ] && continue
            if ! grep -qxF -- "${key}" "${tmp}/${f}.keys"; then printf '%s (not in %s) ' "${key}" "${f}"; break; fi
        done
    done)
    echo "${prog}: dropped $((total - kept)) utterances, e.g. ${examples% }; originals in ${data}/.backup"
fi
[ "${kept}" -gt 0 ] || fail "no utterance is in every list of ${data}; originals in ${data}/.backup"
