#!/usr/bin/env bash
# One decoding job of local/decode.sh: a step (local/lib.sh) keyed on the job's key list, so a rerun
# skips a finished job and redoes one that was cut short or had other utterances.
#
#   local/decode_job.sh <output-dir> <key-list> <command...>
set -euo pipefail
. local/lib.sh
out=$1
key=$(key_of "file:$2")
shift 2
if step_done "${out}" "${key}"; then
    log "${out} is complete; skipping"
    exit 0
fi
step_begin "${out}" "${key}"
"$@"
step_end "${out}"
