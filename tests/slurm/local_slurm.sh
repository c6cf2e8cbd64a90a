#!/usr/bin/env bash
# A real Slurm on this machine (slurmctld + slurmd, CPU only) for tests/slurm/.
#
#   tests/slurm/local_slurm.sh start     install slurm-wlm + munge if missing (apt-get), start
#                                        munged (unless one answers), write slurm.conf, start
#                                        slurmctld + the slurmds, wait until the nodes are idle
#   tests/slurm/local_slurm.sh stop      cancel every job, wait for their processes, stop the
#                                        daemons this script started (by the pids it recorded)
#   tests/slurm/local_slurm.sh status    sinfo + squeue
#   tests/slurm/local_slurm.sh running   exit status 0 if this script's slurmctld is running
#   tests/slurm/local_slurm.sh env       print `export SLURM_CONF=...` (eval it to use sbatch)
#
# Two nodes on one machine (LOCAL_SLURM_NODES=2, the default; 1 also works): one slurmd per
# node, named by this machine's hostname and `localhost` (both resolve here, so Lightning's
# MASTER_ADDR and MPI work unchanged), on ports LOCAL_SLURM_PORT+1 and +2. Two nodes let the
# tests run what a cluster runs: a multi-node `srun`, and a heterogeneous job whose components
# (trainers, solvers) sit on different nodes -- the backfill scheduler plans whole nodes, so it
# never starts a heterogeneous job whose components would have to share one node. The cores are
# split between the nodes (declared honestly: nproc in all, at least 1 per node); the partition
# oversubscribes (OverSubscribe=FORCE:4) so tiny test jobs do not queue behind each other.
#
# Expects: Debian/Ubuntu and root (slurmd runs jobs as root here; apt-get and munged need root).
# Everything else lives in LOCAL_SLURM_DIR (default /tmp/pdesurrogate-slurm): slurm.conf, state,
# spool, logs and pid files. The cluster is private to that file: clients find it through
# SLURM_CONF (this script never touches /etc/slurm), and slurmctld listens on LOCAL_SLURM_PORT
# (default 16817, not Slurm's usual 6817, so a site Slurm on this machine is left alone).
# Every wait has a timeout.
set -euo pipefail

DIR=${LOCAL_SLURM_DIR:-/tmp/pdesurrogate-slurm}
PORT=${LOCAL_SLURM_PORT:-16817}
NNODES=${LOCAL_SLURM_NODES:-2}
CONF=$DIR/slurm.conf
export SLURM_CONF=$CONF
HOST=$(hostname -s)
case "$NNODES" in
  1) NODES=("$HOST") ;;
  2) NODES=("$HOST" localhost) ;;
  *) echo "LOCAL_SLURM_NODES must be 1 or 2, got $NNODES" >&2; exit 2 ;;
esac

log() { echo "[local_slurm] $*" >&2; }
die() { log "error: $*"; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo -n "$@"
  else die "need root or passwordless sudo for: $*"; fi
}

# wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND every 0.5 s until it succeeds
wait_for() {
  local limit=$1 what=$2; shift 2
  local end=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || { log "timed out after ${limit}s waiting for $what"; return 1; }
    sleep 0.5
  done
}

install_packages() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
     && command -v munged >/dev/null && command -v sbatch >/dev/null; then
    return
  fi
  command -v apt-get >/dev/null \
    || die "slurmctld/slurmd/munged not found and no apt-get to install them"
  log "installing slurm-wlm and munge with apt-get (once)"
  local t0=$SECONDS
  as_root env DEBIAN_FRONTEND=noninteractive timeout 300 apt-get update -qq >/dev/null \
    || die "apt-get update failed"
  as_root env DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq \
    --no-install-recommends slurm-wlm munge >/dev/null \
    || die "apt-get install slurm-wlm munge failed"
  log "installed in $((SECONDS - t0)) s"
}

munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munge() {
  if munge_ok; then log "munged already running (left alone)"; return; fi
  if [ ! -s /etc/munge/munge.key ]; then
    log "creating /etc/munge/munge.key"
    as_root sh -c 'umask 077; dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 2>/dev/null'
    as_root chown munge:munge /etc/munge/munge.key
    as_root chmod 400 /etc/munge/munge.key
  fi
  as_root mkdir -p /run/munge
  as_root chown munge:munge /run/munge
  # --force: a stale socket from an earlier munged that died is replaced
  as_root runuser -u munge -- /usr/sbin/munged --force
  wait_for 20 "munged" munge_ok || die "munged does not answer (munge -n | unmunge)"
  # remember the pid so `stop` ends the munged we started, and only that one
  cat /run/munge/munged.pid > "$DIR/munged.pid" 2>/dev/null || true
  log "munged started (pid $(cat "$DIR/munged.pid" 2>/dev/null || echo ?))"
}

write_conf() {
  local cpus mem_mb i
  cpus=$(( $(nproc) / NNODES )); [ "$cpus" -ge 1 ] || cpus=1
  mem_mb=$(awk -v n="$NNODES" '/MemAvailable/ {printf "%d", $2 / 1024 * 0.8 / n}' /proc/meminfo)
  mkdir -p "$DIR/state" "$DIR/log"
  cat > "$CONF" <<EOF
# written by tests/slurm/local_slurm.sh: a private test cluster on one machine
ClusterName=pdslocal
SlurmctldHost=$HOST
SlurmctldPort=$PORT
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmUser=root
SlurmdUser=root
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool-%n
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd-%n.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
# quick turnaround for tests: a killed job's processes get SIGKILL 10 s after SIGTERM
KillWait=10
MinJobAge=600
# backfill: heterogeneous jobs (sbatch ... : ... slurm/online.sbatch) are only started by it
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=1,sched_min_interval=0
# a modest default memory per job (else every job, and every component of a heterogeneous
# job, asks for a whole node)
DefMemPerCPU=1024
EOF
  for i in "${!NODES[@]}"; do
    echo "NodeName=${NODES[$i]} NodeHostname=$HOST NodeAddr=127.0.0.1 Port=$((PORT + 1 + i))" \
         "CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN" >> "$CONF"
  done
  echo "PartitionName=debug Nodes=$(IFS=,; echo "${NODES[*]}") Default=YES MaxTime=INFINITE" \
       "State=UP OverSubscribe=FORCE:4" >> "$CONF"
}

pid_alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

any_slurmd_alive() {
  local f
  for f in "$DIR"/slurmd-*.pid; do pid_alive "$f" && return 0; done
  return 1
}

# every node answers (idle, or already running something)
nodes_up() {
  local up
  up=$(sinfo -h -N -o '%N %t' 2>/dev/null | awk '$2 ~ /^(idle|mix|alloc)$/' | wc -l)
  [ "$up" -eq "${#NODES[@]}" ]
}

start() {
  [ "$(id -u)" = 0 ] || die "slurmd must run as root here (SlurmdUser=root); run as root"
  install_packages
  mkdir -p "$DIR"
  if pid_alive "$DIR/slurmctld.pid" || any_slurmd_alive; then
    log "already running in $DIR; use 'stop' first"; return 0
  fi
  start_munge
  rm -rf "$DIR/state" "$DIR"/spool-*
  write_conf
  # -c: a clean start (no jobs from an earlier run); -i: ignore unreadable state files
  slurmctld -f "$CONF" -c -i
  if ! wait_for 30 "slurmctld" scontrol ping; then
    tail -n 20 "$DIR/log/slurmctld.log" >&2
    die "slurmctld did not start"
  fi
  local n
  for n in "${NODES[@]}"; do slurmd -f "$CONF" -N "$n"; done
  if ! wait_for 60 "nodes ${NODES[*]} idle" nodes_up; then
    tail -n 20 "$DIR"/log/slurmd-*.log >&2
    sinfo -N -l >&2 || true
    die "slurmd did not register"
  fi
  log "cluster up: $(sinfo -h -o '%P %a %D nodes (%N), %C cpus (A/I/O/T), %t')"
  log "use it with: export SLURM_CONF=$CONF"
}

stop_pidfile() {
  local name=$1 pidfile=$2
  pid_alive "$pidfile" || { rm -f "$pidfile"; return 0; }
  local pid; pid=$(cat "$pidfile")
  kill -TERM "$pid" 2>/dev/null || true
  local end=$((SECONDS + 20))
  while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.3; done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name (pid $pid) ignored SIGTERM for 20 s; SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
  log "stopped $name (pid $pid)"
}

no_jobs() { [ -z "$(squeue -h -o %i 2>/dev/null)" ]; }

# the pids of job processes the slurmds still know about (empty once every job has ended)
job_pids() {
  local n
  for n in "${NODES[@]}"; do
    scontrol listpids '*' "$n" 2>/dev/null | awk 'NR > 1 && $1 ~ /^[0-9]+$/ {print $1}'
  done
}
no_job_pids() { [ -z "$(job_pids)" ]; }

stop() {
  if [ -f "$CONF" ] && pid_alive "$DIR/slurmctld.pid" && ! no_jobs; then
    log "cancelling jobs: $(squeue -h -o %i | tr '\n' ' ')"
    scancel "--user=$(id -un)" 2>/dev/null || true
    wait_for 40 "jobs to end" no_jobs || true
  fi
  if [ -f "$CONF" ] && any_slurmd_alive && ! wait_for 30 "job processes to exit" no_job_pids; then
    # processes of a job that outlived its cancellation: end them by pid (the slurmds' list)
    local pids; pids=$(job_pids | sort -u | tr '\n' ' ')
    log "job processes still alive after cancel: $pids; SIGKILL"
    # shellcheck disable=SC2086
    [ -z "${pids// }" ] || kill -KILL $pids 2>/dev/null || true
  fi
  local f
  for f in "$DIR"/slurmd-*.pid; do
    [ -e "$f" ] || continue
    stop_pidfile "slurmd $(basename "$f" .pid | sed 's/^slurmd-//')" "$f"
  done
  stop_pidfile slurmctld "$DIR/slurmctld.pid"
  if [ -s "$DIR/munged.pid" ]; then
    stop_pidfile munged "$DIR/munged.pid"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) sinfo -N; squeue ;;
  running) pid_alive "$DIR/slurmctld.pid" ;;
  env) echo "export SLURM_CONF=$CONF" ;;
  *) echo "usage: $0 start|stop|status|running|env" >&2; exit 2 ;;
esac
