#!/usr/bin/env bash
# Copied from the project's measured recipe (shared notes, slurm-local.sh) with two additions for
# tests: SL_SCHED_INTERVAL, and SL_OWNER_PID — a watchdog that stops the cluster when the owning
# test process dies without its TearDown (e.g. killed by a ctest timeout).
# slurm_cluster.sh — single-host Slurm 22.05 (Debian 12) cluster with private munged; all state under DIR.
#   slurm-local.sh start  DIR    # idempotent: creates key/conf on first run, (re)starts only dead daemons
#   slurm-local.sh stop   DIR    # scancel all jobs, then TERM/KILL only the PIDs recorded in DIR/pids/*.pid
#   slurm-local.sh status DIR
#   source DIR/env.sh            # exports SLURM_CONF so sinfo/sbatch/srun/squeue talk to this cluster
# Tunables (env, read on first 'start' when slurm.conf is generated; delete DIR/slurm.conf to regenerate):
#   SL_CPUS (default: nproc; >nproc allowed via SlurmdParameters=config_overrides)  SL_NODES (default 1; >1 = multiple slurmd on this host)
#   SL_CTLD_PORT (16817)  SL_SLURMD_PORT (16818, nodes use consecutive ports)  SL_MEM_MB (from slurmd -C minus 512)
# Must run as root (SlurmUser=root, SlurmdUser=root). Tested on Debian 12, slurm-wlm 22.05.8, munge 0.5.15, in a sandboxed 2-vCPU VM.
set -euo pipefail
cmd=${1:?usage: $0 start|stop|status DIR}; D=$(realpath -m "${2:?usage: $0 start|stop|status DIR}")
HOST=$(hostname -s)
PIDS="$D/pids"

# alive PIDFILE: pid file exists, process exists AND is one of our daemons (guards against PID reuse)
alive() { local f=$1 p; [[ -s $f ]] || return 1; p=$(cat "$f"); kill -0 "$p" 2>/dev/null || return 1
          [[ $(cat "/proc/$p/comm" 2>/dev/null) =~ ^(munged|slurmctld|slurmd)$ ]]; }

write_conf() {
  local cpus=${SL_CPUS:-$(nproc)} nodes=${SL_NODES:-1} cport=${SL_CTLD_PORT:-16817} dport=${SL_SLURMD_PORT:-16818}
  local mem=${SL_MEM_MB:-$(( $(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p') - 512 ))}
  local nodeline
  if (( nodes == 1 )); then
    nodeline="NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN"
  else  # multiple slurmd on one host: distinct NodeName, same NodeHostname, distinct Port
    nodeline=""
    for ((i=1;i<=nodes;i++)); do nodeline+="NodeName=n$i NodeHostname=$HOST NodeAddr=127.0.0.1 Port=$((dport+i-1)) CPUs=$cpus RealMemory=$mem State=UNKNOWN"$'\n'; done
  fi
  cat > "$D/slurm.conf" <<CONF
ClusterName=local
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$D/munge/munge.socket.2
SlurmctldPort=$cport
SlurmdPort=$dport
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool/%n
SlurmctldPidFile=$PIDS/slurmctld.pid
SlurmdPidFile=$PIDS/slurmd-%n.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$D/log/jobcomp.txt
MpiDefault=pmix
MailProg=/bin/true
TmpFS=$D/tmp/%n
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=${SL_SCHED_INTERVAL:-5}
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=600
KillWait=5
Waittime=0
$nodeline
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
}

start() {
  [[ $(id -u) == 0 ]] || { echo "must run as root" >&2; exit 1; }
  mkdir -p "$D"/{munge,state,spool,log} "$PIDS"; chmod 0755 "$D" "$D/munge"
  # --- munge: private key/socket, does not touch /etc/munge or /run/munge
  if [[ ! -s $D/munge/munge.key ]]; then
    if command -v mungekey >/dev/null; then mungekey --create --keyfile="$D/munge/munge.key"
    else dd if=/dev/urandom of="$D/munge/munge.key" bs=1024 count=1 status=none; fi
    chmod 0400 "$D/munge/munge.key"
  fi
  if ! alive "$PIDS/munged.pid"; then
    rm -f "$D/munge/munge.socket.2" "$D/munge/munge.socket.2.lock"
    munged --key-file="$D/munge/munge.key" --socket="$D/munge/munge.socket.2" \
           --pid-file="$PIDS/munged.pid" --log-file="$D/log/munged.log" --seed-file="$D/munge/munged.seed" --force
  fi
  for _ in $(seq 50); do [[ -S $D/munge/munge.socket.2 ]] && break; sleep 0.1; done
  munge -n -S "$D/munge/munge.socket.2" | unmunge -S "$D/munge/munge.socket.2" >/dev/null   # sanity
  # --- slurm
  [[ -s $D/slurm.conf ]] || write_conf
  cat > "$D/env.sh" <<ENV
export SLURM_CONF=$D/slurm.conf
ENV
  export SLURM_CONF=$D/slurm.conf
  if ! alive "$PIDS/slurmctld.pid"; then slurmctld -f "$D/slurm.conf"; fi   # daemonizes, writes pid file
  # nodes: one slurmd per NodeName in slurm.conf
  for n in $(sed -n 's/^NodeName=\([^ ]*\).*/\1/p' "$D/slurm.conf"); do
    mkdir -p "$D/spool/$n" "$D/tmp/$n"
    if ! alive "$PIDS/slurmd-$n.pid"; then
      if [[ $n == "$HOST" ]]; then slurmd -f "$D/slurm.conf"; else slurmd -f "$D/slurm.conf" -N "$n"; fi
    fi
  done
  # wait until every node is idle/allocated/mixed
  for _ in $(seq 100); do
    if sinfo -h -o '%t' 2>/dev/null | grep -qvE '^(idle|alloc|mix)$'; then sleep 0.2; continue; fi
    [[ -n $(sinfo -h -o '%t' 2>/dev/null) ]] && break; sleep 0.2
  done
  for n in $(sinfo -h -N -o '%N %t' | awk '$2 ~ /down|drain|unk/ {print $1}'); do scontrol update NodeName="$n" State=RESUME || true; done
  if [[ -n ${SL_OWNER_PID:-} ]] && ! watchdog_alive; then
    # setsid + closed fds: the watchdog must not keep the caller's pipes open.
    setsid bash "$0" watch "$D" "$SL_OWNER_PID" </dev/null >/dev/null 2>&1 &
  fi
  sinfo
}

watchdog_alive() { local f=$PIDS/watchdog.pid; [[ -s $f ]] && kill -0 "$(cat "$f")" 2>/dev/null; }

watch() {
  local owner=$1
  echo $$ > "$PIDS/watchdog.pid"
  while kill -0 "$owner" 2>/dev/null; do sleep 1; done
  rm -f "$PIDS/watchdog.pid"
  stop >/dev/null 2>&1
}

stop() {
  if [[ -s $D/slurm.conf ]] && alive "$PIDS/slurmctld.pid"; then
    SLURM_CONF=$D/slurm.conf scancel --full --quiet $(SLURM_CONF=$D/slurm.conf squeue -h -o %A 2>/dev/null) 2>/dev/null || true
    sleep 1
  fi
  for f in "$PIDS"/slurmd-*.pid "$PIDS/slurmctld.pid" "$PIDS/munged.pid"; do
    [[ -s $f ]] || continue; p=$(cat "$f")
    if alive "$f"; then
      kill -TERM "$p"; for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$p" 2>/dev/null && kill -KILL "$p"
    fi
    rm -f "$f"
  done
  if [[ -s $PIDS/watchdog.pid && $$ != "$(cat "$PIDS/watchdog.pid")" ]]; then
    kill -TERM "$(cat "$PIDS/watchdog.pid")" 2>/dev/null || true; rm -f "$PIDS/watchdog.pid"
  fi
  echo "stopped (state kept in $D; rm -rf it for a fresh cluster)"
}

status() {
  for f in "$PIDS"/*.pid; do [[ -e $f ]] || continue; printf '%-22s %s\n' "$(basename "$f")" "$(alive "$f" && echo "running pid $(cat "$f")" || echo dead)"; done
  [[ -s $D/slurm.conf ]] && alive "$PIDS/slurmctld.pid" && SLURM_CONF=$D/slurm.conf sinfo || true
}

case $cmd in start) start;; stop) stop;; status) status;; watch) watch "${3:?owner pid}";; *) echo "unknown $cmd" >&2; exit 2;; esac
