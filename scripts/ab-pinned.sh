#!/usr/bin/env bash
# Two builds of `ddpm` compared on a noisy shared host: both run `ddpm bench` at the same time,
# each pinned to its own core with one lavapipe worker thread, so that both see the same phase
# of the host (on the 2-core development machine whole-step timings of one binary drift by up
# to 1.7x within an hour, far more than most changes move them); then again with the cores
# swapped. Report the ratios of the medians, round by round.
#
# Usage: scripts/ab-pinned.sh BIN_A BIN_B [bench options]   (default: --preset mnist-cpu
#        --batch-size 64 --repeats 5 --warmup 2). Needs taskset (util-linux) and 2+ cores.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 BIN_A BIN_B [bench options]" >&2; exit 2; }
a=$1 b=$2
shift 2
opts=("$@")
[ ${#opts[@]} -gt 0 ] || opts=(--preset mnist-cpu --batch-size 64 --repeats 5 --warmup 2)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export LP_NUM_THREADS=1
median() { grep -h "$1 step:" "$2" | sed 's/.*step: \([0-9.]*\) ms.*/\1/'; }
for round in 1 2; do
  ca=$((round - 1)) cb=$((2 - round))
  taskset -c "$ca" "$a" bench "${opts[@]}" > "$tmp/a" 2>&1 &
  taskset -c "$cb" "$b" bench "${opts[@]}" > "$tmp/b" 2>&1 &
  wait
  for kind in training sampling; do
    ta=$(median "$kind" "$tmp/a") tb=$(median "$kind" "$tmp/b")
    printf 'round %d (A on core %d, B on core %d) %-8s A %9.1f ms  B %9.1f ms  A/B %.3f\n' \
      "$round" "$ca" "$cb" "$kind" "$ta" "$tb" "$(awk -v a="$ta" -v b="$tb" 'BEGIN { print a / b }')"
  done
done
