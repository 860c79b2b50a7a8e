#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for the workflow's Slurm test.
#
#   bash tests/services/slurm.sh start   # write the config, start munged,
#                                        # slurmctld and slurmd; wait until idle
#   bash tests/services/slurm.sh stop    # stop exactly the daemons it started
#   bash tests/services/slurm.sh status
#
# Needs root and Debian's slurm-wlm and munge. Every daemon listens on
# 127.0.0.1 only (CommunicationParameters=NoCtldInAddrAny,NoInAddrAny with the node and the
# controller at 127.0.0.1); state, logs and PID files live in $SLURM_STATE
# (default /tmp/topxsec-slurm). No systemd, no cgroups, no accounting
# database: the workflow's slurm profile polls with squeue.
set -euo pipefail

state=${SLURM_STATE:-/tmp/topxsec-slurm}
conf=/etc/slurm/slurm.conf
action=${1:-status}

pid_alive() {  # pid_alive FILE: the PID in FILE runs
    [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

marker="# Written by tests/services/slurm.sh (topxsec)"

write_config() {
    local cpus memory
    # Keep a configuration that is not ours, to be put back by stop.
    if [ -e "$conf" ] && ! head -n 1 "$conf" | grep -qF "$marker"; then
        mkdir -p "$state"
        cp -p "$conf" "$state/slurm.conf.orig"
    fi
    cpus=$(nproc)
    # RealMemory must be set: the default of 1 MB rejects every --mem.
    memory=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
    mkdir -p "$state/spool/ctld" "$state/spool/d" /etc/slurm
    chown slurm:slurm "$state/spool/ctld" 2>/dev/null || true
    cat > "$conf" <<CONF
$marker: a one-node test cluster.
ClusterName=topxsec
SlurmctldHost=localhost(127.0.0.1)
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
SlurmUser=root
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
StateSaveLocation=$state/spool/ctld
SlurmdSpoolDir=$state/spool/d
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/slurmctld.log
SlurmdLogFile=$state/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
MailProg=/bin/true
ReturnToService=2
# squeue is the job-status source without accounting: keep finished jobs
# visible for well over three status-check intervals.
MinJobAge=300
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=main Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
}

start() {
    for tool in slurmctld slurmd munged sinfo; do
        command -v "$tool" > /dev/null || {
            echo "slurm.sh: $tool not found; apt-get install slurm-wlm munge" >&2
            exit 1
        }
    done
    if pid_alive "$state/slurmctld.pid"; then
        echo "slurm.sh: already running (state in $state)"
        return
    fi
    write_config

    # munge: a key, then the daemon as user munge, its socket in its own dir.
    mkdir -p "$state/munge" /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge "$state/munge"
    [ -s /etc/munge/munge.key ] || {
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
        chown munge:munge /etc/munge/munge.key
        chmod 400 /etc/munge/munge.key
    }
    if ! pid_alive "$state/munge/munged.pid"; then
        runuser -u munge -- munged --pid-file="$state/munge/munged.pid" \
            --log-file="$state/munge/munged.log"
    fi

    slurmctld -i   # -i: ignore state from an earlier run
    slurmd -N localhost
    for _ in $(seq 100); do
        if sinfo -h -n localhost -o %t 2>/dev/null | grep -qx idle; then
            echo "slurm.sh: node idle (state in $state)"
            return
        fi
        sleep 0.2
    done
    echo "slurm.sh: the node did not become idle in 20 s" >&2
    tail -n 20 "$state/slurmctld.log" "$state/slurmd.log" >&2 || true
    exit 1
}

stop_pidfile() {  # stop_pidfile FILE NAME: TERM, wait up to 10 s, then KILL
    local file=$1 pid
    pid_alive "$file" || return 0
    pid=$(cat "$file")
    kill "$pid"
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || { rm -f "$file"; return 0; }
        sleep 0.2
    done
    echo "slurm.sh: $2 ($pid) did not stop; killing it" >&2
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$file"
}

stop() {
    stop_pidfile "$state/slurmd.pid" slurmd
    stop_pidfile "$state/slurmctld.pid" slurmctld
    stop_pidfile "$state/munge/munged.pid" munged

    # Without a controller our configuration would make every Slurm client
    # (and Snakemake's Slurm plugin, which runs `scontrol show config` when it
    # is loaded) wait 10 s for it: put the machine's own back, or remove ours.
    if [ -s "$state/slurm.conf.orig" ]; then
        mv "$state/slurm.conf.orig" "$conf"
    elif [ -e "$conf" ] && head -n 1 "$conf" | grep -qF "$marker"; then
        rm -f "$conf"
    fi
    echo "slurm.sh: stopped"
}

case $action in
    start) start ;;
    stop) stop ;;
    status)
        if pid_alive "$state/slurmctld.pid"; then sinfo; else echo "not running"; exit 3; fi ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
