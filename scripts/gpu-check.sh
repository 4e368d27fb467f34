#!/usr/bin/env bash
# Everything a GPU session must show, in one run of under 10 minutes on an H200:
#   ddpm info and selftest; training the CPU-sized mnist-small preset and the paper-scale mnist
#   preset to digits (with a time budget each), sample grids and 1,000 samples each for the
#   quality checker; ddpm bench of the mnist and cifar10 presets at batch 128 (kernel tuning off,
#   then measured from scratch, then from its cache); ddpm profile of
#   the cifar10 step; and, where PyTorch is present, the same training step in PyTorch +
#   diffusers (strict fp32 and TF32) for the ratio.
#
# Usage: scripts/gpu-check.sh OUT_DIR [--quick]
#   --quick: reduced shapes and budgets (tiny models, small batches), so the script can be
#            checked end to end on lavapipe (software Vulkan) in a few minutes.
# Environment: DDPM_BIN (default target/release/ddpm), PYTHON (default python3), BUDGET (seconds
# for all stages, default 530: the stages run most important first, each limited to what is left).
# Every stage has its own time limit and log; a failing stage does not stop the others.
# Results: OUT_DIR/summary.txt (the table of what ran), OUT_DIR/results.tgz (logs, metrics,
# grids, the small model, samples), OUT_DIR/mnist-model.tgz.part-* (the paper-scale model's EMA
# weights as a diffusers folder, split to fit transfer limits: `cat` the parts, then untar).
set -u
OUT=${1:?usage: scripts/gpu-check.sh OUT_DIR [--quick]}
QUICK=${2:-}
BIN=${DDPM_BIN:-target/release/ddpm}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
# Scratch outside OUT: only the packed results below go back from a device machine.
WORK=$(mktemp -d)
mkdir -p "$WORK/logs"
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/xdg-runtime}
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"

if [ "$QUICK" = --quick ]; then
  SMALL_BATCH=8; SMALL_TIME=40s; SMALL_STEPS=30
  BIG_PRESET=tiny; BIG_BATCH=8; BIG_TIME=40s; BIG_STEPS=20
  BENCH_BATCH=2; BENCH_PRESETS="tiny"; PROFILE_PRESET=tiny; PROFILE_BATCH=2
  N_EACH=16; GRID_STEPS=10; GRID_N=4; SELFTEST_TIME=300
else
  SMALL_BATCH=64; SMALL_TIME=60s; SMALL_STEPS=4000
  BIG_PRESET=mnist; BIG_BATCH=128; BIG_TIME=150s; BIG_STEPS=30000
  BENCH_BATCH=128; BENCH_PRESETS="cifar10 mnist"; PROFILE_PRESET=cifar10; PROFILE_BATCH=128
  N_EACH=1000; GRID_STEPS=50; GRID_N=64; SELFTEST_TIME=100
fi

source "$(dirname "$0")/lib/stage.sh"

summary "== gpu-check $(date -u +%FT%TZ) $QUICK"
find_nvidia "$BIN"
stage info 30 "$BIN" info
cat "$WORK/logs/info.log"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv >"$WORK/logs/nvidia-smi.log" 2>&1

# Kernel checks first: if the GPU variants fail, the runs below use the CPU-tuned variants
# (DDPM_KERNELS=cpu), which passed on lavapipe, so the training still means something.
if ! stage selftest "$SELFTEST_TIME" "$BIN" selftest; then
  grep -E "FAIL|error" "$WORK/logs/selftest.log" | head -20 | tee -a "$OUT/summary.txt"
  if grep -q FAIL "$WORK/logs/selftest.log"; then
    export DDPM_KERNELS=cpu
    summary "selftest failed: the stages below run with DDPM_KERNELS=cpu"
  fi
fi
tail -n 1 "$WORK/logs/selftest.log" | tee -a "$OUT/summary.txt"

# The CPU-sized model (what `ddpm sample` ships by default), then the paper-scale model.
stage train-small 150 "$BIN" train --preset mnist-small --batch-size "$SMALL_BATCH" \
  --steps "$SMALL_STEPS" --max-time "$SMALL_TIME" --out "$WORK/mnist-small" \
  --sample-every 0 --checkpoint-every 1000
tail -n 2 "$WORK/logs/train-small.log" | tee -a "$OUT/summary.txt"
stage train-big 240 "$BIN" train --preset "$BIG_PRESET" --batch-size "$BIG_BATCH" \
  --steps "$BIG_STEPS" --max-time "$BIG_TIME" --lr 5e-4 --warmup 300 --ema-decay 0.999 \
  --out "$WORK/$BIG_PRESET" --sample-every 0 --checkpoint-every 2000
tail -n 2 "$WORK/logs/train-big.log" | tee -a "$OUT/summary.txt"

# Diffusers folders of the EMA weights; a 1000-step DDPM grid and DDIM samples for the checker.
samples() {
  local run=$1 ck=$WORK/$1/checkpoint.safetensors
  [ -f "$ck" ] || return
  stage "grid-$run" 60 "$BIN" sample --model "$ck" --n "$GRID_N" --out "$WORK/grid-$run.png"
  stage "each-$run" 90 "$BIN" sample --model "$ck" --n "$N_EACH" \
    --sampling-steps "$GRID_STEPS" --out "$WORK/each-grid-$run.png" --each "$WORK/each-$run"
}
for run in mnist-small "$BIG_PRESET"; do
  ck=$WORK/$run/checkpoint.safetensors
  [ -f "$ck" ] && stage "export-$run" 30 "$BIN" export --model "$ck" --out "$WORK/model-$run"
done
samples "$BIG_PRESET"

# Speed: ours, then the PyTorch peer (diffusers may come as carried wheels: tools/peer/README.md).
torch_dev=""
if "$PY" -c "import torch, diffusers" 2>/dev/null; then
  torch_dev=cpu
  "$PY" -c "import torch; assert torch.cuda.is_available()" 2>/dev/null && torch_dev=cuda
else
  summary "torch or diffusers missing: no PyTorch peer"
fi
for p in $BENCH_PRESETS; do
  # Untuned (the built-in rules), then tuned (measures every shape once, into a fresh cache:
  # its cost is in the JSON line's "tuning" field), then tuned again from that cache.
  export DDPM_CACHE_DIR=$WORK/tuning-cache
  for tune in off retune cache; do
    stage "bench-$p-$tune" 120 "$BIN" bench --preset "$p" --batch-size "$BENCH_BATCH" --repeats 5 \
      --json --tune "$tune"
    tail -n 1 "$WORK/logs/bench-$p-$tune.log" >>"$OUT/summary.txt"
  done
  if [ "$p" = "$PROFILE_PRESET" ]; then
    stage profile 60 "$BIN" profile --preset "$PROFILE_PRESET" --batch-size "$PROFILE_BATCH"
  fi
  [ -n "$torch_dev" ] || continue
  for prec in fp32 tf32; do
    stage "torch-$p-$prec" 60 "$PY" tools/peer/torch_step.py --preset "$p" \
      --batch-size "$BENCH_BATCH" --device "$torch_dev" --precision "$prec" --steps 5 --json
    tail -n 1 "$WORK/logs/torch-$p-$prec.log" >>"$OUT/summary.txt"
  done
done
samples mnist-small

# Pack: the paper-scale model separately (it is the largest file), everything else in one.
if [ -d "$WORK/model-$BIG_PRESET" ]; then
  tar czf - -C "$WORK" "model-$BIG_PRESET" | split -b 15m - "$OUT/mnist-model.tgz.part-"
fi
tar czf "$OUT/results.tgz" -C "$WORK" --exclude "model-$BIG_PRESET" \
  --exclude checkpoint.safetensors .
cp "$OUT/summary.txt" "$WORK/logs/" 2>/dev/null
summary "== done in ${SECONDS}s (scratch: $WORK)"
