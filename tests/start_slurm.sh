#!/usr/bin/env bash
# Start (or stop) a single-node Slurm cluster on this machine, for tests and CI.
#
#   tests/start_slurm.sh STATE_DIR          install Slurm if missing, start it, wait until the node is idle
#   tests/start_slurm.sh --stop STATE_DIR   cancel its jobs and stop its daemons
#
# Everything lives in STATE_DIR: slurm.conf, a private munge key and socket, state and spool folders,
# the daemons' logs and pid files. Nothing system-wide is configured or started, so it does not touch
# a Slurm installation the machine already has. Use the cluster with
#   export SLURM_CONF=STATE_DIR/slurm.conf      (STATE_DIR/env.sh does this)
# Installing needs root and Debian's packages (slurmctld slurmd slurm-client munge). The ports are
# free ones the kernel picks (or SLURM_TEST_PORT and SLURM_TEST_PORT+1).
set -euo pipefail

# die MESSAGE; parse_state_dir [--stop] STATE_DIR (sets stop and dir); stop_pidfile FILE [SECONDS]
. "$(dirname "${BASH_SOURCE[0]}")/daemon_lib.sh"

stop=false dir=
parse_state_dir "$@"

if "${stop}"; then
    if [ -f "${dir}/slurm.conf" ] && [ -s "${dir}/slurmctld.pid" ]; then
        export SLURM_CONF=${dir}/slurm.conf
        scancel --user="$(id -un)" 2>/dev/null || true
        for _ in $(seq 30); do  # let the cancelled jobs' processes finish (at most 15 s)
            [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break
            sleep 0.5
        done
    fi
    stop_pidfile "${dir}/slurmd.pid"
    stop_pidfile "${dir}/slurmctld.pid"
    stop_pidfile "${dir}/munge/munged.pid"
    echo "start_slurm.sh: stopped the cluster in ${dir}"
    exit 0
fi

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null ||
    ! command -v munged >/dev/null; then
    [ "$(id -u)" -eq 0 ] || die "Slurm is not installed and installing it needs root"
    echo "start_slurm.sh: installing Slurm and munge from Debian's packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        slurmctld slurmd slurm-client munge >"${dir}/apt-get.log" 2>&1 ||
        die "apt-get install failed; see ${dir}/apt-get.log"
fi

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
ctld_port=${SLURM_TEST_PORT:-$(free_port)}
slurmd_port=${SLURM_TEST_PORT:+$((SLURM_TEST_PORT + 1))}
slurmd_port=${slurmd_port:-$(free_port)}
node=$(hostname -s)
cpus=$(nproc)
mem_mb=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 * 0.8 }' /proc/meminfo)
mkdir -p "${dir}/munge" "${dir}/state" "${dir}/spool" "${dir}/log"
chmod 0755 "${dir}" "${dir}/munge"

# munge, with a key and socket of its own.
if [ ! -s "${dir}/munge/munge.key" ]; then
    dd if=/dev/urandom of="${dir}/munge/munge.key" bs=1024 count=1 status=none
fi
chmod 0600 "${dir}/munge/munge.key"
munged --force --socket="${dir}/munge/munge.socket" --key-file="${dir}/munge/munge.key" \
    --pid-file="${dir}/munge/munged.pid" --log-file="${dir}/log/munged.log" \
    --seed-file="${dir}/munge/munged.seed" || die "munged did not start; see ${dir}/log/munged.log"

cat >"${dir}/slurm.conf" <<EOF
# Single-node test cluster written by tests/start_slurm.sh
ClusterName=tfgridnettest
SlurmctldHost=${node}(127.0.0.1)
SlurmctldPort=${ctld_port}
SlurmdPort=${slurmd_port}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=${dir}/munge/munge.socket
SlurmUser=$(id -un)
SlurmdUser=root
StateSaveLocation=${dir}/state
SlurmdSpoolDir=${dir}/spool
SlurmctldPidFile=${dir}/slurmctld.pid
SlurmdPidFile=${dir}/slurmd.pid
SlurmctldLogFile=${dir}/log/slurmctld.log
SlurmdLogFile=${dir}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=256
ReturnToService=2
MinJobAge=300
KillWait=5
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=${node} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${mem_mb} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
printf 'export SLURM_CONF=%q\n' "${dir}/slurm.conf" >"${dir}/env.sh"
export SLURM_CONF=${dir}/slurm.conf

slurmctld -f "${SLURM_CONF}" || die "slurmctld did not start; see ${dir}/log/slurmctld.log"
slurmd -f "${SLURM_CONF}" -N "${node}" || die "slurmd did not start; see ${dir}/log/slurmd.log"

state=""
for _ in $(seq 120); do  # at most 60 s
    state=$(sinfo -h -n "${node}" -o %T 2>/dev/null || true)
    [ "${state}" = idle ] && break
    sleep 0.5
done
if [ "${state}" != idle ]; then
    tail -n 20 "${dir}/log/slurmctld.log" "${dir}/log/slurmd.log" >&2 || true
    die "node ${node} is '${state:-unknown}', not idle, after 60 s (logs above)"
fi
echo "start_slurm.sh: node ${node} is idle (${cpus} CPUs, ${mem_mb} MB); SLURM_CONF=${SLURM_CONF}"
