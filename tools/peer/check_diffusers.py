"""Loads a model folder written by `ddpm export` (or shipped in assets/) with diffusers'
UNet2DModel.from_pretrained, runs it on random inputs, and compares its output with
`ddpm predict` on the same inputs.

Usage: python tools/peer/check_diffusers.py MODEL_DIR [--ddpm target/release/ddpm]
Prints the max abs difference relative to max |eps|; exits 1 above 1e-4 (float32 on both sides,
different summation orders: differences of ~1e-6 of the output scale are expected).
"""
import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from diffusers import UNet2DModel
from safetensors.numpy import load_file, save_file


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--ddpm", default="target/release/ddpm")
    ap.add_argument("--batch", type=int, default=3)
    a = ap.parse_args()
    model = UNet2DModel.from_pretrained(a.model).eval()
    cfg = model.config
    rng = np.random.default_rng(0)
    x = rng.standard_normal((a.batch, cfg.in_channels, cfg.sample_size, cfg.sample_size)).astype(np.float32)
    t = np.array([1, 500, 999][: a.batch] + [250] * max(0, a.batch - 3), dtype=np.int64)
    with torch.no_grad():
        ref = model(torch.from_numpy(x), torch.from_numpy(t)).sample.numpy()
    with tempfile.TemporaryDirectory() as d:
        inp, out = Path(d) / "in.safetensors", Path(d) / "out.safetensors"
        save_file({"input.x": x, "input.t": t.astype(np.float32)}, str(inp))
        subprocess.run([a.ddpm, "predict", "--model", a.model, "--input", str(inp), "--out", str(out)], check=True)
        ours = load_file(str(out))["output.eps"]
    err = float(np.abs(ours - ref).max() / np.abs(ref).max())
    print(f"diffusers UNet2DModel.from_pretrained({a.model}) vs ddpm predict: max |diff| / max |eps| = {err:.2e}")
    sys.exit(0 if err < 1e-4 else 1)


if __name__ == "__main__":
    main()
