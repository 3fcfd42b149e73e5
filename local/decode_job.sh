#!/usr/bin/env bash
# One decoding job: skip it when <output-dir>/.done exists, otherwise run the command and mark it.
#
#   local/decode_job.sh <output-dir> <command...>
set -euo pipefail
out=$1
shift
if [ -f "${out}/.done" ]; then
    echo "decode_job.sh: ${out} is complete; skipping"
    exit 0
fi
rm -rf "${out}"
"$@"
touch "${out}/.done"
