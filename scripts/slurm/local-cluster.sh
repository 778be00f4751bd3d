#!/usr/bin/env bash
# Starts a single-node SLURM cluster on this machine (Debian 12, as root or with sudo), for
# trying the batch scripts and for CI:
#
#     scripts/slurm/local-cluster.sh start    # prints the state directory; sinfo/sbatch work after
#     scripts/slurm/local-cluster.sh stop
#
# It installs slurm-wlm and munge, creates a munge key, starts munged as user munge, writes a
# slurm.conf with one node (this host, all its CPUs; proctrack/linuxproc, task/none,
# select/cons_tres, so no cgroup setup is needed) with state, spool and logs under
# $SLURM_LOCAL_DIR (default /tmp/agg2exp-slurm), then starts slurmctld and slurmd and waits until
# the node is idle. It takes a few seconds once the packages are installed.
set -euo pipefail

dir="${SLURM_LOCAL_DIR:-/tmp/agg2exp-slurm}"
sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"

stop() {
    for name in slurmd slurmctld; do
        if [ -f "$dir/$name.pid" ]; then
            $sudo_cmd kill "$(cat "$dir/$name.pid")" 2>/dev/null || true
            rm -f "$dir/$name.pid"
        fi
    done
    if [ -f "$dir/munged.pid" ]; then
        $sudo_cmd kill "$(cat "$dir/munged.pid")" 2>/dev/null || true
    fi
}

start() {
    if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
        $sudo_cmd apt-get update -q
        DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q slurm-wlm munge
    fi
    $sudo_cmd mkdir -p "$dir"/{state,spool,log,munge}
    $sudo_cmd chmod 755 "$dir"

    # munge: a fresh key, and a daemon running as user munge with its socket in the state dir.
    $sudo_cmd mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge
    if [ ! -s /etc/munge/munge.key ]; then
        $sudo_cmd dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    $sudo_cmd chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge
    $sudo_cmd chmod 700 /etc/munge /var/lib/munge /var/log/munge
    $sudo_cmd chmod 755 /run/munge
    $sudo_cmd chmod 400 /etc/munge/munge.key
    if ! munge -n >/dev/null 2>&1; then
        $sudo_cmd -u munge munged --pid-file=/run/munge/munged.pid 2>/dev/null \
            || $sudo_cmd runuser -u munge -- munged --pid-file=/run/munge/munged.pid
        $sudo_cmd ln -sf /run/munge/munged.pid "$dir/munged.pid"
    fi
    for _ in $(seq 50); do munge -n >/dev/null 2>&1 && break; sleep 0.1; done
    munge -n | unmunge >/dev/null

    host="$(hostname -s)"
    cpus="$(nproc)"
    memory=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 ))
    conf=/etc/slurm/slurm.conf
    $sudo_cmd mkdir -p /etc/slurm
    $sudo_cmd tee "$conf" >/dev/null <<CONF
ClusterName=agg2exp-local
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MinJobAge=300
NodeName=$host CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
    $sudo_cmd slurmctld
    $sudo_cmd slurmd
    for _ in $(seq 100); do
        if sinfo -h -o %T 2>/dev/null | grep -qx idle; then
            echo "SLURM is up: $(sinfo -h -o '%P %D %T %C')  (state in $dir)"
            return 0
        fi
        sleep 0.2
    done
    echo "error: the node did not become idle; see $dir/log" >&2
    sinfo >&2 || true
    return 1
}

case "${1:-start}" in
start) start ;;
stop) stop ;;
*) echo "usage: $0 start|stop" >&2; exit 64 ;;
esac
