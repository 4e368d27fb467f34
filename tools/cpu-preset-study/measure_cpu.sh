#!/usr/bin/env bash
# Training-step time of each candidate CPU preset on this machine's CPU adapter (lavapipe):
# one `ddpm bench --json` line per candidate and batch, ROUNDS rounds interleaved so that load
# on a shared machine affects all candidates alike (analyse.py takes each one's fastest round).
# Usage: tools/cpu-preset-study/measure_cpu.sh [ROUNDS] > cpu-bench.jsonl
set -eu
BIN=${DDPM_BIN:-target/release/ddpm}
DIR=$(dirname "$0")/configs
for _ in $(seq "${1:-1}"); do
  for spec in c32:64 c32:32 c24:64 c24:32 c16:64 c32-noattn:64; do
    "$BIN" bench --config "$DIR/${spec%:*}.json" --batch-size "${spec#*:}" --repeats 3 --json
  done
done
