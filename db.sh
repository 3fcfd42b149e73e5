# shellcheck shell=bash
# Corpus locations, read from the environment so that nothing machine-specific is committed.
# DNS5: root of a DNS Challenge 5 download (the folder that holds datasets_fullband/).
# Leave it empty to use the embedded corpus that stage 0 builds under downloads/.
DNS5="${DNS5:-}"
export DNS5
