#!/usr/bin/env bash
# The scaling run of issue 12 on a device machine (16 cores): the bench against
# warrens it starts with --workers 1, 2, 4 and 8, warren's pipelined driver
# (so that the generator is not the limit), medians of REPS. Unpacks what
# tools/device/pack.sh put in .device/; writes machine.txt, scaling.log and one
# JSON per worker count (full histograms) to $OUT. About 5 minutes as set.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/scaling-out}
SCENARIOS=${SCENARIOS:-single,fanout,topic,many-queues}
SECONDS_EACH=${SECONDS_EACH:-4}
REPS=${REPS:-2}
THREADS=${THREADS:-6}
WORKERS=${WORKERS:-1 2 4 8}
mkdir -p "$OUT" /tmp/device-node
tar -C /tmp/device-node -xJf .device/node.tar.xz
tar -xJf .device/node_modules.tar.xz
tar -xJf .device/dist.tar.xz
export PATH=/tmp/device-node:$PATH
{ nproc; node --version; uname -a; grep -m1 'model name' /proc/cpuinfo; } > "$OUT/machine.txt" 2>&1
for workers in $WORKERS; do
  echo "== --workers $workers" | tee -a "$OUT/scaling.log"
  node dist/bench/main.js --workers "$workers" --client pipelined --threads "$THREADS" \
    --scenario "$SCENARIOS" --seconds "$SECONDS_EACH" --warmup 1 --reps "$REPS" \
    --json "$OUT/workers-$workers.json" >/tmp/scaling-run.txt 2>&1
  cat /tmp/scaling-run.txt >>"$OUT/scaling.log"
  sed -n '/^scenario/,/^$/p' /tmp/scaling-run.txt
done
