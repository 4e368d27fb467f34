#!/usr/bin/env bash
# Training work that needs a GPU, in one run of under 10 minutes on an H200:
#   1. the paper-scale mnist preset trained to digits within a time budget, exported as a
#      diffusers folder (the second shipped model), with a 1000-step DDPM grid and 1,000 DDIM-50
#      samples at each kept checkpoint for the quality checker (tools/quality/digit_fd.py);
#   2. the CPU-preset study (tools/cpu-preset-study/README.md): each candidate CPU-sized model
#      trained with the CPU recipe, 1,000 DDIM-50 samples at several steps of its run. Quality per
#      step is the same on any adapter (the same maths), so joined with each candidate's lavapipe
#      step time it gives quality per CPU-minute without spending CPU hours;
#   3. ddpm selftest (alongside the training), then, on a quiet GPU, ddpm bench of the mnist
#      preset and ddpm profile of the cifar10 step at batch 128.
#
# Usage: scripts/gpu-study.sh OUT_DIR [--quick]
#   --quick: tiny step counts and batches, so the whole script can be checked on lavapipe.
# Environment: DDPM_BIN (default target/release/ddpm), PYTHON (default python3), BUDGET (seconds,
# default 540).
# Results: OUT_DIR/summary.txt, OUT_DIR/results.tgz.part-* (logs, metrics, loss plots, samples),
# OUT_DIR/mnist-model.tgz.part-* (the mnist EMA weights as a diffusers folder: `cat` the parts,
# then untar).
set -u
OUT=${1:?usage: scripts/gpu-study.sh OUT_DIR [--quick]}
QUICK=${2:-}
BIN=${DDPM_BIN:-target/release/ddpm}
PY=${PYTHON:-python3}
CONFIGS=tools/cpu-preset-study/configs
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d)
mkdir -p "$WORK/logs" "$WORK/study"
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/xdg-runtime}
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
BUDGET=${BUDGET:-540}

if [ "$QUICK" = --quick ]; then
  BIG_PRESET=tiny; BIG_BATCH=4; BIG_TIME=30s; BIG_STEPS=6; BIG_CK=3; BIG_KEEP="3 6"
  GRID_N=4; N_EACH=16; SAMPLING_STEPS=5; SELFTEST_TIME=60
  STUDY_TIME=60s
  BENCH="--preset tiny --batch-size 2"; PROFILE="--preset tiny --batch-size 2"
else
  BIG_PRESET=mnist; BIG_BATCH=128; BIG_TIME=320s; BIG_STEPS=30000; BIG_CK=500; BIG_KEEP="500 1000 1500 2000"
  GRID_N=64; N_EACH=1000; SAMPLING_STEPS=50; SELFTEST_TIME=150
  STUDY_TIME=130s
  BENCH="--preset mnist --batch-size 128"; PROFILE="--preset cifar10 --batch-size 128"
fi

source "$(dirname "$0")/lib/stage.sh"
summary "== gpu-study $(date -u +%FT%TZ) $QUICK"
find_nvidia "$BIN"
stage info 30 "$BIN" info
command -v nvidia-smi >/dev/null && nvidia-smi >"$WORK/logs/nvidia-smi.log" 2>&1

# samples NAME CHECKPOINT: 1,000 DDIM samples (fixed seed) as PNGs for the quality checker.
samples() {
  stage "each-$1" 60 "$BIN" sample --model "$2" --n "$N_EACH" --sampling-steps "$SAMPLING_STEPS" \
    --seed 0 --out "$WORK/grid-$1.png" --each "$WORK/each/$1"
}

# The paper-scale model: train, export, grid, samples at kept checkpoints.
paper_model() {
  local run=$WORK/$BIG_PRESET
  stage train-big 400 "$BIN" train --preset "$BIG_PRESET" --batch-size "$BIG_BATCH" \
    --steps "$BIG_STEPS" --max-time "$BIG_TIME" --lr 5e-4 --warmup 200 --ema-decay 0.999 \
    --out "$run" --sample-every 0 --checkpoint-every "$BIG_CK" --keep-checkpoints
  tail -n 1 "$WORK/logs/train-big.log" >>"$OUT/summary.txt"
  [ -f "$run/checkpoint.safetensors" ] || return
  stage export-big 30 "$BIN" export --model "$run/checkpoint.safetensors" --out "$WORK/model-$BIG_PRESET"
  stage grid-big 90 "$BIN" sample --model "$run/checkpoint.safetensors" --n "$GRID_N" --sampler ddpm \
    --seed 0 --out "$WORK/grid-ddpm-$BIG_PRESET.png"
  samples "$BIG_PRESET-final" "$run/checkpoint.safetensors"
  for s in $BIG_KEEP; do
    local ck=$run/checkpoints/step_$(printf %07d "$s").safetensors
    [ -f "$ck" ] && samples "$BIG_PRESET-$s" "$ck"
  done
}

# candidate NAME CONFIG BATCH STEPS CHECKPOINT_EVERY "SNAPSHOT STEPS": one study run. The CPU
# recipe (lr 1e-3, warm-up 100, EMA 0.999) for every candidate; --quick: 4 steps of 4.
candidate() {
  local name=$1 config=$2 batch=$3 steps=$4 every=$5 snaps=$6
  [ "$QUICK" = --quick ] && { batch=4; steps=4; every=2; snaps="2 4"; }
  local run=$WORK/study/$name
  stage "study-$name" 180 "$BIN" train --config "$CONFIGS/$config.json" --batch-size "$batch" \
    --steps "$steps" --max-time "$STUDY_TIME" --lr 1e-3 --warmup 100 --ema-decay 0.999 \
    --out "$run" --sample-every 0 --checkpoint-every "$every" --keep-checkpoints
  tail -n 1 "$WORK/logs/study-$name.log" >>"$OUT/summary.txt"
  for s in $snaps; do
    local ck=$run/checkpoints/step_$(printf %07d "$s").safetensors
    [ -f "$ck" ] && samples "$name-$s" "$ck"
  done
  # A run cut short by its time limit: its last checkpoint too.
  local last
  last=$(ls "$run/checkpoints" 2>/dev/null | tail -n 1)
  last=${last#step_}; last=${last%.safetensors}
  if [ -n "$last" ] && ! [ -d "$WORK/each/$name-$((10#$last))" ]; then
    samples "$name-$((10#$last))" "$run/checkpoints/step_$last.safetensors"
  fi
}
SNAP64="200 400 700 1000 1500 2000"
SNAP32="400 800 1400 2000 3000 4000"
lane_a() {
  candidate c32 c32 64 2000 100 "$SNAP64"
  candidate c16 c16 64 2000 100 "$SNAP64"
  candidate c24 c24 64 2000 100 "$SNAP64"
}
lane_b() {
  candidate c32-b32 c32 32 4000 200 "$SNAP32"
  candidate c32-noattn c32-noattn 64 2000 100 "$SNAP64"
}

# Everything above runs at once: the study's quality does not depend on speed. But processes
# share the GPU by time slices: on 2026-12-01 the mnist run made 1.96 steps/s alongside the
# study and 5.33 alone, so give the paper-scale run its own time if it matters more.
( stage selftest "$SELFTEST_TIME" "$BIN" selftest; tail -n 1 "$WORK/logs/selftest.log" >>"$OUT/summary.txt" ) &
paper_model &
lane_a &
lane_b &
wait

# Timings last, on a quiet GPU.
stage bench 60 "$BIN" bench $BENCH --repeats 5 --json
tail -n 1 "$WORK/logs/bench.log" >>"$OUT/summary.txt"
stage profile 90 "$BIN" profile $PROFILE

# Pack: the mnist model separately (the largest file), everything else but weights in one.
if [ -d "$WORK/model-$BIG_PRESET" ]; then
  tar czf - -C "$WORK" "model-$BIG_PRESET" | split -b 15m - "$OUT/mnist-model.tgz.part-"
fi
# The 1,000-image grids are left out (the PNG folders hold the same images); parts of 15 MB fit
# the device tool's transfer limit (`cat results.tgz.part-* | tar xzf -`).
tar czf - -C "$WORK" --exclude "model-$BIG_PRESET" --exclude '*.safetensors' \
  --exclude 'grid-*-[0-9]*.png' --exclude 'grid-*-final.png' . | split -b 15m - "$OUT/results.tgz.part-"
summary "== done in ${SECONDS}s"
