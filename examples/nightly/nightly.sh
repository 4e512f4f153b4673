#!/usr/bin/env bash
# Nightly validation sweep: submits JOB into a dated store (STORE_ROOT/YYYY-MM-DD, yesterday's
# stays beside it), chains reduce (by csweep submit) and then `csweep validate` against the
# baseline. Run by scrontab (see scrontab.txt) or by hand:
#   nightly.sh JOB.yaml CLUSTER.yaml BASELINE.h5 STORE_ROOT
set -euo pipefail
job=${1:?usage: nightly.sh JOB.yaml CLUSTER.yaml BASELINE STORE_ROOT}
cluster=${2:?cluster profile}
baseline=${3:?baseline file}
root=${4:?store root}
csweep=${CSWEEP:-csweep}
store="$root/$(date -u +%F)"
mkdir -p "$root"

# --json: the ids come back as JSON; the reduce job id is the one validate waits for.
out=$("$csweep" submit "$job" --cluster "$cluster" --store "$store" --name "nightly-$(date -u +%F)" --json)
reduce_id=$(printf '%s\n' "$out" | sed -n 's/.*"reduce_job_id": *"\([0-9]*\)".*/\1/p')
[[ -n $reduce_id ]] || { echo "nightly: could not read the reduce job id from: $out" >&2; exit 1; }

ln -sfn "$store" "$root/latest"
echo "nightly: store $store, reduce job $reduce_id"

# Validation runs after the report exists; `csweep validate` exits 0 only if the store is
# complete, matches the baseline within tolerance and every assertion holds (1 otherwise, 2 on
# bad input such as a missing baseline). That status becomes the job's state, so `sacct`/mail
# on FAILED is the nightly alarm; the PASS/FAIL lines are in the job's log.
printf -v validate '%q validate %q --baseline %q' "$csweep" "$store" "$baseline"
validate_id=$(sbatch --parsable --job-name="nightly-validate" --dependency="afterok:$reduce_id" --kill-on-invalid-dep=yes \
  --output="$store/slurm/logs/%x-%j.out" --wrap "$validate")
echo "nightly: validation job $validate_id"
