# shellcheck shell=bash
# Sourced by tests/start_slurm.sh and tests/start_sge.sh.

# die MESSAGE...: print the message after the script's name on stderr, and exit 1.
die() { echo "$(basename "$0"): $*" >&2; exit 1; }

# parse_state_dir "$@": the scripts' arguments, [--stop] STATE_DIR. Sets the caller's stop (true or
# false) and dir (STATE_DIR, created if missing, as an absolute path). Both are the caller's variables:
# shellcheck disable=SC2034
parse_state_dir() {
    stop=false
    if [ "${1:-}" = --stop ]; then
        stop=true
        shift
    fi
    [ $# -eq 1 ] || die "usage: $0 [--stop] STATE_DIR"
    mkdir -p "$1"
    dir=$(cd "$1" && pwd)
}

# stop_pidfile FILE [SECONDS]: send TERM to the daemon whose pid is in FILE, then KILL if it is
# still there after SECONDS (default 10); remove FILE.
stop_pidfile() {
    local file=$1 tries=$((${2:-10} * 5)) pid i
    [ -s "${file}" ] || return 0
    pid=$(cat "${file}")
    kill -TERM "${pid}" 2>/dev/null || { rm -f "${file}"; return 0; }
    for i in $(seq "${tries}"); do
        kill -0 "${pid}" 2>/dev/null || break
        [ "${i}" -lt "${tries}" ] && sleep 0.2
    done
    kill -KILL "${pid}" 2>/dev/null || true
    rm -f "${file}"
}
