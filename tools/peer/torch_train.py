#!/usr/bin/env python3
"""Trains a preset's network in PyTorch + diffusers on the bundled digits and writes 1,000 DDIM
samples of its EMA weights at chosen steps: the peer run that calibrates our digit checker
(`tools/quality/digit_fd.py`) against "what PyTorch reaches in 20-40 minutes" (issue 7).

The recipe is our engine's for the digit presets (src/cli/train.rs defaults): DDPM Algorithm 1,
linear betas 1e-4..0.02 over 1000 steps, the first 9,000 bundled digits (the last 1,000 stay
held out, as in our loader and the checker), scaled to [-1, 1], batch 64, Adam at lr 1e-3 with
a 100-step linear warm-up (then constant, or with --lr-schedule cosine a cosine decay to 0
at the last sampling step), gradients clipped to norm 1, EMA 0.999 with
our warm-up. Samples: diffusers'
DDIMScheduler, 50 steps ("leading" spacing, as `ddpm sample`), eta 0, x_0 clipped, seed 1.

Example (score each folder with `python tools/quality/digit_fd.py score DIR`):
  python tools/peer/torch_train.py --preset mnist-small --sample-at 1900,3900 --out /tmp/peer
"""

import argparse
import copy
import gzip
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, UNet2DModel
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from torch_step import PRESETS  # noqa: E402  (one mirror of our presets)

ASSETS = Path(__file__).resolve().parents[2] / "assets"
N_TRAIN = 9000


def load_digits():
    with gzip.open(ASSETS / "mnist10k-images-idx3-ubyte.gz") as f:
        raw = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 28, 28)
    x = torch.from_numpy(raw[:N_TRAIN].astype(np.float32) / 127.5 - 1.0)
    return x.unsqueeze(1)


def sample(model, n, batch, out_dir, seed):
    sched = DDIMScheduler(num_train_timesteps=1000, beta_start=1e-4, beta_end=0.02,
                          beta_schedule="linear", clip_sample=True)
    sched.set_timesteps(50)
    gen = torch.Generator().manual_seed(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    k = 0
    model.eval()
    with torch.no_grad():
        while k < n:
            b = min(batch, n - k)
            x = torch.randn(b, 1, 28, 28, generator=gen)
            for t in sched.timesteps:
                eps = model(x, t).sample
                x = sched.step(eps, t, x, eta=0.0).prev_sample
            img = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
            for i in range(b):
                Image.fromarray(img[i, 0]).save(out_dir / f"{k + i:05d}.png")
            k += b
    model.train()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="mnist-small", choices=["mnist-small", "mnist-cpu"])
    ap.add_argument("--sample-at", default="1900,3900", help="steps at which to sample")
    ap.add_argument("--n", type=int, default=1000, help="samples per checkpoint")
    ap.add_argument("--out", required=True, help="folder: step_<k>/ sample folders, log.csv")
    ap.add_argument("--lr-schedule", default="constant", choices=["constant", "cosine"],
                    help="after the warm-up: constant, or cosine decay to 0 at the last step")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    at = sorted(int(s) for s in args.sample_at.split(","))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    data = load_digits()
    model = UNet2DModel(**PRESETS[args.preset])
    ema = copy.deepcopy(model).requires_grad_(False)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
    abar = torch.cumprod(1 - betas, 0).float()
    gen = torch.Generator().manual_seed(args.seed)
    log = open(out / "log.csv", "w")
    log.write("step,loss,seconds\n")
    t0 = time.time()
    for step in range(1, at[-1] + 1):
        idx = torch.randint(0, N_TRAIN, (64,), generator=gen)
        x0 = data[idx]
        t = torch.randint(0, 1000, (64,), generator=gen)
        eps = torch.randn(x0.shape, generator=gen)
        a = abar[t].view(-1, 1, 1, 1)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * eps
        loss = F.mse_loss(model(xt, t).sample, eps)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        lr = 1e-3 * min(1.0, step / 100)
        if args.lr_schedule == "cosine" and step > 100:  # step k = step - 1 of `ddpm train`
            lr = 0.5e-3 * (1 + math.cos(math.pi * (step - 1 - 100) / (at[-1] - 100)))
        for g in opt.param_groups:
            g["lr"] = lr
        opt.step()
        # EMA with our warm-up min(0.999, (1 + k) / (10 + k)), k = step - 1: without it, 0.999^k
        # of the random initial weights stays in the average (15% at 1,900 steps).
        decay = min(0.999, step / (9 + step))
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.mul_(decay).add_(pm, alpha=1 - decay)
        log.write(f"{step},{loss.item():.6f},{time.time() - t0:.1f}\n")
        if step % 100 == 0:
            log.flush()
            print(f"step {step}: loss {loss.item():.4f}, {time.time() - t0:.0f} s", flush=True)
        if step in at:
            ts = time.time()
            sample(ema, args.n, 125, out / f"step_{step}", seed=1)
            print(f"step {step}: wrote {args.n} samples to {out / f'step_{step}'} "
                  f"({time.time() - ts:.0f} s)", flush=True)
            t0 += time.time() - ts  # training time excludes sampling


if __name__ == "__main__":
    main()
