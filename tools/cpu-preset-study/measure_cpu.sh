#!/usr/bin/env bash
# Training-step time of each candidate CPU preset on this machine's CPU adapter (lavapipe),
# one `ddpm bench --json` line per candidate and batch, interleaved so that load on a shared
# machine affects them alike. Usage: tools/cpu-preset-study/measure_cpu.sh > cpu-bench.jsonl
set -eu
BIN=${DDPM_BIN:-target/release/ddpm}
DIR=$(dirname "$0")/configs
for spec in c32:64 c16:64 c24:64 c32:32 c32-noattn:64; do
  "$BIN" bench --config "$DIR/${spec%:*}.json" --batch-size "${spec#*:}" --repeats 3 --json
done
