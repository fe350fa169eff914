#!/usr/bin/env bash
# A single-node SLURM cluster on localhost, for the SLURM tests and for trying sweeps.
#
#   sudo benchmark/slurm/local_cluster.sh start    # install (apt) + configure + start; prints the env to use
#   benchmark/slurm/local_cluster.sh test          # submit a job and wait for sacct to say COMPLETED
#   sudo benchmark/slurm/local_cluster.sh stop     # stop only the daemons this script started (by PID)
#
# No systemd or cgroups: proctrack/linuxproc, task/none, jobacct_gather/none. Everything it
# writes (configs, state, spool, logs, pid files, the accounting database) lives under
# $MCDI_SLURM_DIR (default /tmp/mcdi-slurm); clients find the cluster through
# SLURM_CONF=$MCDI_SLURM_DIR/etc/slurm.conf. Accounting (slurmdbd + MariaDB) is started because
# submitit polls sacct: without it a cancelled job would look pending forever.
# Tested on Debian bookworm (slurm-wlm 22.05) as root.
set -euo pipefail

DIR=${MCDI_SLURM_DIR:-/tmp/mcdi-slurm}
CLUSTER=mcdi
DB_PORT=${MCDI_SLURM_DB_PORT:-13306}
DBD_PORT=${MCDI_SLURM_DBD_PORT:-16819}
CTLD_PORT=${MCDI_SLURM_CTLD_PORT:-16817}
SLURMD_PORT=${MCDI_SLURM_SLURMD_PORT:-16818}
export SLURM_CONF=$DIR/etc/slurm.conf

log() { echo "[local_cluster] $*" >&2; }
need_root() { [ "$(id -u)" = 0 ] || { log "must run as root (it installs packages and starts daemons)"; exit 1; }; }

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmdbd >/dev/null && command -v munged >/dev/null \
        && command -v mariadbd >/dev/null; then
        return
    fi
    log "installing slurm-wlm, slurmdbd, munge, mariadb-server (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends slurm-wlm slurmdbd munge mariadb-server mariadb-client >/dev/null
}

started() {   # name pid
    echo "$2" > "$DIR/run/$1.pid"
}

wait_for() {  # description, command...
    local what=$1; shift
    for _ in $(seq 1 120); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 1
    done
    log "timed out waiting for $what (logs in $DIR/log)"; return 1
}

write_configs() {
    local cpus mem
    cpus=$(nproc)
    mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 ))
    mkdir -p "$DIR"/{etc,state,spool,log,run,mysql}
    cat > "$DIR/etc/slurm.conf" <<CONF
ClusterName=$CLUSTER
SlurmctldHost=localhost
SlurmUser=root
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.internal.pid
SlurmdPidFile=$DIR/run/slurmd.internal.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$DBD_PORT
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
JobRequeue=1
KillWait=5
MinJobAge=600
InactiveLimit=0
NodeName=localhost CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
    cat > "$DIR/etc/slurmdbd.conf" <<CONF
AuthType=auth/munge
DbdHost=localhost
DbdPort=$DBD_PORT
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
PidFile=$DIR/run/slurmdbd.internal.pid
LogFile=$DIR/log/slurmdbd.log
CONF
    chmod 600 "$DIR/etc/slurmdbd.conf"          # slurmdbd refuses a group/world-readable config
}

start() {
    need_root
    if [ -f "$DIR/run/slurmctld.pid" ] && kill -0 "$(cat "$DIR/run/slurmctld.pid")" 2>/dev/null; then
        log "already running (SLURM_CONF=$SLURM_CONF)"; print_env; return
    fi
    install_packages
    write_configs
    # munge: must run as user munge
    if [ ! -s /etc/munge/munge.key ]; then
        dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
    fi
    mkdir -p /run/munge /var/lib/munge /var/log/munge
    chown munge:munge /etc/munge/munge.key /run/munge /var/lib/munge /var/log/munge
    chmod 400 /etc/munge/munge.key
    if ! munge -n >/dev/null 2>&1; then
        setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged -F >"$DIR/log/munged.log" 2>&1 &
        started munged $!
        wait_for munged munge -n
    fi
    # accounting database (MariaDB on 127.0.0.1:$DB_PORT, data under $DIR/mysql)
    if [ ! -d "$DIR/mysql/mysql" ]; then
        mariadb-install-db --user=root --datadir="$DIR/mysql" --auth-root-authentication-method=normal \
            >"$DIR/log/mariadb-install.log" 2>&1
    fi
    mariadbd --user=root --datadir="$DIR/mysql" --bind-address=127.0.0.1 --port="$DB_PORT" \
        --socket="$DIR/run/mysqld.sock" --pid-file="$DIR/run/mysqld.internal.pid" \
        >"$DIR/log/mariadb.log" 2>&1 &
    started mariadbd $!
    wait_for mariadb mariadb --socket="$DIR/run/mysqld.sock" -uroot -e "select 1"
    mariadb --socket="$DIR/run/mysqld.sock" -uroot -e "
        CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm';
        CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
    slurmdbd -D >"$DIR/log/slurmdbd.out" 2>&1 &
    started slurmdbd $!
    wait_for slurmdbd sacctmgr -n list cluster
    sacctmgr -i add cluster "$CLUSTER" >/dev/null 2>&1 || true
    slurmctld -D -i >"$DIR/log/slurmctld.out" 2>&1 &
    started slurmctld $!
    slurmd -D -N localhost >"$DIR/log/slurmd.out" 2>&1 &
    started slurmd $!
    wait_for "an idle node" sh -c '[ "$(sinfo -h -o %t | head -1)" = idle ]'
    log "cluster up"
    print_env
}

print_env() {
    echo "export SLURM_CONF=$SLURM_CONF"
}

stop() {
    local name pid
    for name in slurmd slurmctld slurmdbd mariadbd munged; do
        [ -f "$DIR/run/$name.pid" ] || continue
        pid=$(cat "$DIR/run/$name.pid")
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
            kill -9 "$pid" 2>/dev/null || true
        fi
        rm -f "$DIR/run/$name.pid"
        log "stopped $name ($pid)"
    done
}

selftest() {
    local id state
    id=$(sbatch --parsable --wrap "hostname" -o /dev/null)
    for _ in $(seq 1 60); do
        state=$(sacct -n -X -j "$id" -o State 2>/dev/null | tr -d ' ' | head -1)
        [ "$state" = COMPLETED ] && { log "job $id COMPLETED"; return 0; }
        sleep 1
    done
    log "job $id did not complete (state: ${state:-unknown})"; return 1
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    test) selftest ;;
    env) print_env ;;
    *) echo "usage: $0 start|stop|test|env" >&2; exit 2 ;;
esac
