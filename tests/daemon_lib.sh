# shellcheck shell=bash
# Sourced by tests/start_slurm.sh and tests/start_sge.sh.

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
