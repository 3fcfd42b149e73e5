#!/usr/bin/env bash
# The runs that RESULTS.md's spread over seeds combines (stage 6, local/report.sh), on one line.
#
#   local/seed_runs.sh --set test "dl pl"    # e.g. "dl dl_seed1 dl_seed2 pl pl_seed1"
#
# For each model tag, its runs at several seeds in exp/ (run.sh --seeds: exp/enh_<tag> is seed 0,
# exp/enh_<tag>_seed<s> seed s) that were trained from the tag's current config (the first line of
# their training key), are scored on --set, and were decoded with the same options as the first of
# them (their decoding keys past the checkpoint and model config: decode and model-override configs,
# data). A tag with fewer than two such runs has no spread. Runs left out are logged on stderr.
set -euo pipefail

set="test" # the scored set the spread is computed on

help_message="Usage: $0 [--set test] <model tags>"
. utils/parse_options.sh
. local/lib.sh
expect_args 1 "$@"

decode_opts() { tail -n +3 "exp/enh_$1/decode_${set}/.done"; }
runs=()
for tag in $(for m in $1; do echo "${m%_seed*}"; done | awk '!seen[$0]++'); do
    config_key=$(file_key "conf/train_${tag}.yaml" 2> /dev/null) || continue
    found=()
    for dir in "exp/enh_${tag}" exp/enh_"${tag}"_seed*; do
        if ! { [ -f "${dir}/.done" ] && [ -f "${dir}/decode_${set}/.done" ] &&
            [ -f "${dir}/decode_${set}/scoring/.done" ]; }; then
            continue
        fi
        if [ "$(head -n 1 "${dir}/.done")" != "${config_key}" ]; then
            log "${dir} is left out of the spread over seeds: trained from another conf/train_${tag}.yaml" >&2
        elif [ "${#found[@]}" -gt 0 ] && [ "$(decode_opts "${dir#exp/enh_}")" != "$(decode_opts "${found[0]}")" ]; then
            log "${dir} is left out of the spread over seeds: decoded with other options than" \
                "exp/enh_${found[0]} (decode it again: run.sh --seeds ... --stage 5)" >&2
        else
            found+=("${dir#exp/enh_}")
        fi
    done
    [ "${#found[@]}" -lt 2 ] || runs+=("${found[@]}")
done
echo "${runs[*]}"
