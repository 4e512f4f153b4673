#!/usr/bin/env bash
# A stand-in for the `csweep` binary on the compute nodes, used by the Slurm tests so that
# they exercise every Slurm mechanism (script, submission, signals, requeue, arrays,
# dependencies) independently of the model. It honours the same contract as `csweep run`:
#   plan JOB --ranks N --json     prints {"shards": K, "ranks": N, "tensor_parallel": 1}; with
#                                 "levels: L", K shards on each of L stage levels (`analyses`)
#   run JOB --store DIR [--slice k/N]
#                                 computes each missing shard (id % N == k) of its rank
#                                 (SLURM_PROCID of SLURM_NTASKS); a shard's result is a
#                                 deterministic function of the job file and the shard id,
#                                 written atomically; on USR1/TERM it finishes the current
#                                 shard and exits 75; a rerun computes only what is missing.
#   reduce DIR                    concatenates the results into DIR/sweep.txt
# The job file is a YAML-ish text with lines "shards: K" and "shard_seconds: S".
set -u
cmd=${1:?usage: standin plan|run|reduce ...}; shift

job_value() { sed -n "s/^$2: *\([0-9.]*\).*/\1/p" "$1" | head -1; }

case $cmd in
plan)
  job=$1; shift; ranks=1
  while (($#)); do case $1 in --ranks) ranks=$2; shift 2;; *) shift;; esac; done
  [[ -r $job ]] || { echo "csweep: $job: cannot read job file" >&2; exit 2; }
  shards=$(job_value "$job" shards); levels=$(job_value "$job" levels)
  if [[ -z $levels ]]; then
    printf '{"shards": %s, "ranks": %s, "tensor_parallel": 1}\n' "$shards" "$ranks"
  else
    analyses=""
    for ((l = 0; l < levels; l++)); do analyses+="${analyses:+, }{\"level\": $l, \"shards\": $shards}"; done
    printf '{"totals": {"shards": %s, "stage_levels": %s}, "ranks": %s, "tensor_parallel": 1, "analyses": [%s]}\n' \
      "$((shards * levels))" "$levels" "$ranks" "$analyses"
  fi
  ;;
run)
  job=$1; shift; store=""; slice_k=0; slice_n=1
  while (($#)); do
    case $1 in
      --store) store=$2; shift 2;;
      --slice) slice_k=${2%/*}; slice_n=${2#*/}; shift 2;;
      --level) shift 2;;  # every level's shards are the same stand-in shards
      *) echo "standin: unknown option $1" >&2; exit 2;;
    esac
  done
  shards=$(job_value "$job" shards); seconds=$(job_value "$job" shard_seconds)
  rank=${SLURM_PROCID:-0}; ntasks=${SLURM_NTASKS:-1}
  # Slurm signals every process of the task, so a USR1 would also kill a child such as
  # sha256sum mid-shard: hash once, before any signal can come, and write with builtins.
  job_hash=$(sha256sum < "$job" | cut -d' ' -f1)
  drain=0
  trap 'drain=1' USR1 TERM
  mkdir -p "$store/results" "$store/index"
  writer="job=${SLURM_JOB_ID:-local} task=${SLURM_ARRAY_TASK_ID:-none} restart=${SLURM_RESTART_COUNT:-0} rank=$rank"
  for ((i = 0; i < shards; i++)); do
    (( i % slice_n == slice_k )) || continue
    (( (i / slice_n) % ntasks == rank )) || continue
    [[ -e $store/results/shard-$i ]] && continue
    if (( drain )); then echo "standin: drained before shard $i" >&2; exit 75; fi
    sleep "${seconds:-0}"
    printf 'shard %s of %s\n' "$i" "$job_hash" > "$store/results/.shard-$i.tmp"
    mv "$store/results/.shard-$i.tmp" "$store/results/shard-$i"
    echo "shard $i $writer" >> "$store/index/writer-${SLURM_JOB_ID:-local}-$rank.txt"
  done
  if (( drain )); then echo "standin: drained after the last shard" >&2; exit 75; fi
  ;;
reduce)
  store=$1
  for f in $(ls "$store/results" | sort -t- -k2 -n); do cat "$store/results/$f"; done > "$store/sweep.txt"
  ;;
*) echo "standin: unknown command $cmd" >&2; exit 2;;
esac
