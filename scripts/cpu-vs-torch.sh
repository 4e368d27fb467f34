#!/usr/bin/env bash
# Our training step against PyTorch + diffusers on the CPU, side by side in one run: the same
# network (preset), batch and machine. Ours runs on the Vulkan adapter (lavapipe on a machine
# without a GPU), PyTorch on the CPU with as many threads as cores. Each side: warm-up, then the
# median of timed steps. Run it on an otherwise idle machine: on 2 cores any other process
# distorts both sides.
#
# Usage: scripts/cpu-vs-torch.sh [PRESET:BATCH ...]   (default: mnist:8 mnist-cpu:64)
# Environment: DDPM_BIN (default target/release/ddpm), PYTHON (a python with torch and
# diffusers, e.g. a venv made with `pip install torch diffusers`).
set -euo pipefail
BIN=${DDPM_BIN:-target/release/ddpm}
PY=${PYTHON:-python3}
specs=("$@")
[ ${#specs[@]} -gt 0 ] || specs=(mnist:8 mnist-cpu:64)
# Also printed: PyTorch's rate in GFLOP/s (the training step's FLOPs as `ddpm bench` counts them
# over PyTorch's time), our arithmetic ceiling (`ops::peak`: multiply-adds on registers only,
# measured in the same run), and "floor", the ratio we would reach if every FLOP of our step ran
# at that ceiling and nothing else took time: no kernel work can bring the ratio below it.
printf '%-14s %6s %12s %12s %8s %10s %10s %7s\n' preset batch "ours ms" "PyTorch ms" ratio \
  "PT GFLOP/s" "ceiling" floor
for spec in "${specs[@]}"; do
  preset=${spec%%:*} batch=${spec##*:}
  ours=$("$BIN" bench --preset "$preset" --batch-size "$batch" --warmup 2 --repeats 3 --json)
  torch=$("$PY" tools/peer/torch_step.py --preset "$preset" --batch-size "$batch" --device cpu \
    --threads "$(nproc)" --warmup 2 --steps 3 --json | tail -n 1)
  "$PY" - "$ours" "$torch" "$preset" "$batch" <<'PYEOF'
import json, sys
ours, torch = json.loads(sys.argv[1]), json.loads(sys.argv[2])
o, t = ours["train_step_ms"]["median"], torch["step_ms_median"]
flop, ceiling = ours["train_step_gflop"], ours["ceiling_gflop_per_s"]
pt_rate = flop / (t / 1e3)
floor = (flop / ceiling * 1e3) / t
print(f"{sys.argv[3]:<14} {sys.argv[4]:>6} {o:12.0f} {t:12.0f} {o / t:8.2f} {pt_rate:10.1f}"
      f" {ceiling:10.1f} {floor:7.2f}")
PYEOF
done
