#!/usr/bin/env bash
# Check a Kaldi/ESPnet data directory, including the enhancement lists this recipe uses.
#
#   utils/validate_data_dir.sh [--no-feats] [--no-text] [--no-wav] DIR
#
# Checks, stopping at the first problem with a message naming the file, the line or key, and what
# is wrong (exit status 1):
#   - utt2spk and spk2utt exist, and so do wav.scp, text and feats.scp unless --no-wav, --no-text,
#     --no-feats say they need not;
#   - every list present (utt2spk spk2utt wav.scp segments text feats.scp utt2dur utt2num_frames
#     reco2dur utt2fs utt2category spk*.scp noise*.scp dereverb*.scp) has no empty lines, a value
#     on every line, no DOS line ends, and keys in C-locale order without duplicates;
#   - spk2utt says the same as utt2spk;
#   - wav.scp (or segments when there is one), text, feats.scp, utt2dur, utt2num_frames, and the
#     enhancement lists spk*.scp, noise*.scp, dereverb*.scp have exactly the keys of utt2spk;
#   - utt2dur and reco2dur hold positive numbers;
#   - the files that wav.scp, spk*.scp, noise*.scp and dereverb*.scp name exist (entries that are
#     commands, "... |", are not checked; "file.ark:123" checks file.ark).
# It warns (without failing) when sorting utt2spk by speaker does not keep its order, which
# split_scp.pl --utt2spk needs. On success it prints "Successfully validated data-directory DIR".
# Built on sort/comm/awk/perl passes, not shell loops: about a second per million lines.
set -euo pipefail
export LC_ALL=C

prog=validate_data_dir.sh
no_feats=false
no_text=false
no_wav=false
usage="Usage: $0 [--no-feats] [--no-text] [--no-wav] DIR"
while [ $# -gt 0 ]; do
    case "$1" in
        --no-feats) no_feats=true ;;
        --no-text) no_text=true ;;
        --no-wav) no_wav=true ;;
        -h | --help) echo "${usage}"; exit 0 ;;
        --*) echo "${prog}: unknown option $1" >&2; echo "${usage}" >&2; exit 1 ;;
        *) break ;;
    esac
    shift
done
[ $# -eq 1 ] || { echo "${usage}" >&2; exit 1; }
data=${1%/}

fail() {
    echo "${prog}: $*" >&2
    exit 1
}
[ -d "${data}" ] || fail "${data} is not a directory"

tmp=$(mktemp -d)
trap 'rm -rf "${tmp}"' EXIT

# Check the form of one list and write its keys to $tmp/<name>.keys.
check_list() {
    local name=$1 file=${data}/$1
    awk -v f="${file}" -v keys="${tmp}/${name}.keys" '
        /\r$/ { printf "%s line %d: DOS line end (carriage return); convert with dos2unix\n", f, NR; exit 1 }
        NF == 0 { printf "%s line %d: empty line\n", f, NR; exit 1 }
        NF < 2 { printf "%s line %d: key '\''%s'\'' has no value\n", f, NR, $1; exit 1 }
        NR > 1 && $1 == prev { printf "%s line %d: duplicate key '\''%s'\'' (also on line %d)\n", f, NR, $1, NR - 1; exit 1 }
        NR > 1 && ($1 "") < (prev "") {
            printf "%s line %d: not sorted: key '\''%s'\'' comes after '\''%s'\'' (sort it with LC_ALL=C sort -k1,1)\n", f, NR, $1, prev
            exit 1
        }
        { prev = $1; print $1 > keys }
        END { if (NR == 0) { printf "%s is empty\n", f; exit 1 } }
    ' "${file}" >"${tmp}/msg" || fail "$(cat "${tmp}/msg")"
}

# Fail if lists $1 and $2 (both checked, so with sorted keys) do not have exactly the same keys.
same_keys() {
    local a b only
    for a in "$1" "$2"; do
        b=$1
        [ "${a}" = "$1" ] && b=$2
        only=$(comm -23 "${tmp}/${a}.keys" "${tmp}/${b}.keys" |
            awk 'NR <= 3 { s = s (NR > 1 ? ", " : "") $0 } END { print NR " " s }')
        if [ "${only%% *}" != 0 ]; then
            fail "${data}/$1 and ${data}/$2 differ: ${a} has ${only%% *} keys that ${b} lacks (first: ${only#* })"
        fi
    done
}

# Fail if a list names files that do not exist.
check_paths() {
    local file=${data}/$1
    perl -ne '
        chomp;
        my ($key, $value) = split /\s+/, $_, 2;
        next if $value =~ /\|\s*$/ || -e $value;
        next if $value =~ /^(.+):\d+(\[[^\]]*\])?$/ && -e $1;
        print "$.\t$key\t$value\n";
    ' "${file}" >"${tmp}/missing"
    if [ -s "${tmp}/missing" ]; then
        local n first
        n=$(wc -l <"${tmp}/missing")
        first=$(head -n 1 "${tmp}/missing" | awk -F'\t' '{ printf "line %s, key '\''%s'\'': %s", $1, $2, $3 }')
        fail "${file} names ${n} files that do not exist (first: ${first})"
    fi
}

for f in utt2spk spk2utt; do
    [ -f "${data}/${f}" ] || fail "${data}/${f} is missing"
done
"${no_wav}" || [ -f "${data}/wav.scp" ] || fail "${data}/wav.scp is missing (use --no-wav if there is no audio)"
"${no_text}" || [ -f "${data}/text" ] || fail "${data}/text is missing (use --no-text if there is no transcript)"
"${no_feats}" || [ -f "${data}/feats.scp" ] || fail "${data}/feats.scp is missing (use --no-feats if there are no features)"

lists=()
for f in utt2spk spk2utt wav.scp segments text feats.scp utt2dur utt2num_frames reco2dur utt2fs utt2category; do
    if [ -f "${data}/${f}" ]; then lists+=("${f}"); fi
done
enh=()
for f in "${data}"/spk[0-9]*.scp "${data}"/noise[0-9]*.scp "${data}"/dereverb[0-9]*.scp; do
    if [ -f "${f}" ]; then enh+=("$(basename "${f}")"); fi
done
for f in "${lists[@]}" "${enh[@]}"; do
    check_list "${f}"
done

# spk2utt must say what utt2spk says (compared as sorted utt-spk pairs).
awk '{ print $1, $2 }' "${data}/utt2spk" >"${tmp}/pairs.utt2spk"
awk '{ for (i = 2; i <= NF; i++) print $i, $1 }' "${data}/spk2utt" | sort -k1,1 >"${tmp}/pairs.spk2utt"
if ! cmp -s "${tmp}/pairs.utt2spk" "${tmp}/pairs.spk2utt"; then
    d=$(diff "${tmp}/pairs.utt2spk" "${tmp}/pairs.spk2utt" | grep -m 1 '^[<>]' || true)
    case "${d}" in
        "<"*) fail "${data}/spk2utt does not agree with utt2spk: utt2spk has '${d#< }' but spk2utt does not" ;;
        *) fail "${data}/spk2utt does not agree with utt2spk: spk2utt has '${d#> }' but utt2spk does not" ;;
    esac
fi
awk '$2 != last && ($2 in seen) { print; exit } { seen[$2] = 1; last = $2 }' "${data}/utt2spk" >"${tmp}/interleaved"
if [ -s "${tmp}/interleaved" ]; then
    echo "${prog}: warning: in ${data}/utt2spk the utterances of speaker '$(awk '{ print $2 }' "${tmp}/interleaved")'" \
        "are not contiguous (keys not prefixed by the speaker); split_scp.pl --utt2spk will refuse it" >&2
fi

if [ -f "${data}/segments" ]; then
    same_keys segments utt2spk
    if [ -f "${data}/wav.scp" ]; then
        awk '{ print $2 }' "${data}/segments" | sort -u >"${tmp}/recordings.keys"
        missing=$(comm -23 "${tmp}/recordings.keys" "${tmp}/wav.scp.keys" | head -n 1)
        [ -z "${missing}" ] || fail "${data}/segments uses recording '${missing}', which is not in ${data}/wav.scp"
    fi
elif [ -f "${data}/wav.scp" ]; then
    same_keys wav.scp utt2spk
fi
ref=utt2spk
if [ -f "${data}/wav.scp" ] && [ ! -f "${data}/segments" ]; then ref=wav.scp; fi
for f in text feats.scp utt2dur utt2num_frames "${enh[@]}"; do
    if [ -f "${data}/${f}" ]; then same_keys "${f}" "${ref}"; fi
done
for f in utt2dur reco2dur; do
    [ -f "${data}/${f}" ] || continue
    awk -v f="${data}/${f}" '!($2 ~ /^[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?$/ && $2 + 0 > 0) {
        printf "%s line %d: key '\''%s'\'': duration '\''%s'\'' is not a positive number\n", f, NR, $1, $2; exit 1 }' \
        "${data}/${f}" >"${tmp}/msg" || fail "$(cat "${tmp}/msg")"
done
if [ -f "${data}/wav.scp" ]; then check_paths wav.scp; fi
for f in "${enh[@]}"; do
    check_paths "${f}"
done
echo "Successfully validated data-directory ${data}"
