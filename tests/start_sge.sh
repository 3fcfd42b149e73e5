#!/usr/bin/env bash
# Start (or stop) a single-node Grid Engine cluster on this machine, for tests and CI.
#
#   tests/start_sge.sh STATE_DIR          install Grid Engine if missing, start it, wait for the host
#   tests/start_sge.sh --stop STATE_DIR   delete its jobs and stop its daemons
#
# The cluster is a private one: its own SGE_ROOT (STATE_DIR/sge, pointing at the installed
# binaries), cell, spool folders and ports, with the daemons running as root. Nothing system-wide is
# configured or started. Use it with
#   . STATE_DIR/env.sh        (sets SGE_ROOT, SGE_CELL, SGE_QMASTER_PORT, SGE_EXECD_PORT)
# Installing needs root and Debian's packages (gridengine-master gridengine-exec gridengine-client).
# Jobs run as root, so the cell allows user ids below 1000 (min_uid 0).
set -euo pipefail

# die MESSAGE; parse_state_dir [--stop] STATE_DIR (sets stop and dir); stop_pidfile FILE [SECONDS]
. "$(dirname "${BASH_SOURCE[0]}")/daemon_lib.sh"

stop=false dir=
parse_state_dir "$@"
root=${dir}/sge
cell=tfgridnettest

if "${stop}"; then
    if [ -f "${dir}/env.sh" ]; then
        # shellcheck disable=SC1091
        . "${dir}/env.sh"
        qdel -u "$(id -un)" >/dev/null 2>&1 || true
        for _ in $(seq 30); do  # let the deleted jobs go (at most 15 s)
            [ -z "$(qstat -u '*' 2>/dev/null)" ] && break
            sleep 0.5
        done
    fi
    stop_pidfile "${root}/execd/$(hostname -s)/execd.pid" 15
    for f in "${root}"/execd/*/execd.pid; do [ -f "${f}" ] && stop_pidfile "${f}" 15; done
    stop_pidfile "${root}/qmaster/qmaster.pid" 15
    echo "start_sge.sh: stopped the cluster in ${dir}"
    exit 0
fi

if ! command -v qsub >/dev/null || [ ! -x /usr/sbin/sge_qmaster ] || [ ! -x /usr/sbin/sge_execd ]; then
    [ "$(id -u)" -eq 0 ] || die "Grid Engine is not installed and installing it needs root"
    echo "start_sge.sh: installing Grid Engine from Debian's packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        gridengine-master gridengine-exec gridengine-client >"${dir}/apt-get.log" 2>&1 ||
        die "apt-get install failed; see ${dir}/apt-get.log"
fi
[ -d /var/lib/gridengine/util ] || die "/var/lib/gridengine/util is missing (gridengine-common not installed?)"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
node=$(hostname -s)
rm -rf "${root}"
mkdir -p "${root}/${cell}/common" "${root}/qmaster" "${root}/execd" "${root}/spooldb"
for d in bin lib util utilbin; do ln -s "/var/lib/gridengine/${d}" "${root}/${d}"; done
chmod 0755 "${dir}" "${root}"
cat >"${dir}/env.sh" <<EOF
export SGE_ROOT=${root}
export SGE_CELL=${cell}
export SGE_QMASTER_PORT=$(free_port)
export SGE_EXECD_PORT=$(free_port)
EOF
# shellcheck disable=SC1091
. "${dir}/env.sh"

common=${root}/${cell}/common
cat >"${common}/bootstrap" <<EOF
admin_user              none
default_domain          none
ignore_fqdn             true
spooling_method         berkeleydb
spooling_lib            libspoolb
spooling_params         ${root}/spooldb
binary_path             /usr/sbin
qmaster_spool_dir       ${root}/qmaster
security_mode           none
listener_threads        2
worker_threads          2
scheduler_threads       1
EOF
echo "${node}" >"${common}/act_qmaster"
# This host may resolve to "localhost" through 127.0.0.1; tell Grid Engine they are one host.
echo "${node} localhost" >"${common}/host_aliases"
sed -e "s|^execd_spool_dir .*|execd_spool_dir        ${root}/execd|" \
    -e 's|^min_uid .*|min_uid                0|' -e 's|^min_gid .*|min_gid                0|' \
    -e 's|^mailer .*|mailer                 /bin/true|' \
    /usr/share/gridengine/default-configuration >"${root}/global.conf"
{
    /usr/lib/gridengine/spoolinit berkeleydb libspoolb "${root}/spooldb" init
    /usr/lib/gridengine/spooldefaults configuration "${root}/global.conf"
    /usr/lib/gridengine/spooldefaults complexes /usr/share/gridengine/util/resources/centry
    /usr/lib/gridengine/spooldefaults usersets /usr/share/gridengine/util/resources/usersets
    /usr/lib/gridengine/spooldefaults managers "$(id -un)"
} >"${dir}/init.log" 2>&1 || die "initialising the spool failed; see ${dir}/init.log"

/usr/sbin/sge_qmaster || die "sge_qmaster did not start; see ${root}/qmaster/messages"
ok=false
for _ in $(seq 60); do  # at most 30 s for the qmaster to answer
    if qconf -sh >/dev/null 2>&1; then ok=true; break; fi
    sleep 0.5
done
"${ok}" || die "sge_qmaster does not answer; see ${root}/qmaster/messages"
{
    qconf -ah "${node}"
    qconf -as "${node}"
    # Schedule every second, not every 15 s, and do not count a just-started job as load.
    qconf -ssconf | sed -e 's/^schedule_interval .*/schedule_interval 0:0:1/' \
        -e 's/^job_load_adjustments .*/job_load_adjustments NONE/' \
        -e 's/^flush_submit_sec .*/flush_submit_sec 1/' -e 's/^flush_finish_sec .*/flush_finish_sec 1/' \
        >"${root}/sched.conf"
    qconf -Msconf "${root}/sched.conf"
    cat >"${root}/host.conf" <<EOF
hostname              ${node}
load_scaling          NONE
complex_values        NONE
user_lists            NONE
xuser_lists           NONE
projects              NONE
xprojects             NONE
usage_scaling         NONE
report_variables      NONE
EOF
    qconf -Ae "${root}/host.conf"
    # The parallel environment that conf/queue.conf's --num-threads uses (-pe smp N).
    # shellcheck disable=SC2016  # $pe_slots is Grid Engine's word, not a shell variable
    printf '%s\n' 'pe_name smp' 'slots 9999' 'user_lists NONE' 'xuser_lists NONE' 'start_proc_args NONE' \
        'stop_proc_args NONE' 'allocation_rule $pe_slots' 'control_slaves FALSE' 'job_is_first_task TRUE' \
        'urgency_slots min' 'accounting_summary FALSE' 'qsort_args NONE' >"${root}/pe.conf"
    qconf -Ap "${root}/pe.conf"
    qconf -sq | sed -e 's/^qname .*/qname all.q/' -e "s/^hostlist .*/hostlist ${node}/" \
        -e "s/^slots .*/slots $(nproc)/" -e 's|^shell .*|shell /bin/bash|' -e 's/^pe_list .*/pe_list smp/' \
        -e 's/^load_thresholds .*/load_thresholds NONE/' \
        >"${root}/queue.conf"
    qconf -Aq "${root}/queue.conf"
} >>"${dir}/init.log" 2>&1 || die "configuring the cluster failed; see ${dir}/init.log"

/usr/sbin/sge_execd || die "sge_execd did not start; see ${root}/execd/${node}/messages"
state=""
for _ in $(seq 120); do  # at most 60 s for the host to report in
    # A queue instance is usable once it has a load value and no state flag (u: unknown, a: alarm).
    state=$(qstat -f -q "all.q@${node}" 2>/dev/null | awk -v q="all.q@${node}" '$1 == q { print ($6 == "" ? "ok" : $6) }')
    [ "${state}" = ok ] && break
    sleep 0.5
done
if [ "${state}" != ok ]; then
    tail -n 20 "${root}/qmaster/messages" "${root}/execd/${node}/messages" >&2 2>/dev/null || true
    die "queue all.q@${node} is '${state:-not reported}', not ready, after 60 s"
fi
echo "start_sge.sh: all.q@${node} is ready ($(nproc) slots); . ${dir}/env.sh to use it"
