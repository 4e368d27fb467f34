#!/usr/bin/env python3
"""Runs diffusers' DDIM sampler from the exact initial noise of `ddpm sample --seed S` (batch 0)
and compares its images with ours, pixel by pixel: the whole sampler (noise, network, DDIM
update, clipping, 8-bit conversion) against an independent implementation.

Our noise (src/reference/rng.rs): Philox 4x32-10 with key (seed lo, seed hi); element i takes
word i % 4 of block i / 4, whose counter is (i / 4, stream lo, stream hi, 0); pairs of words
become normals by Box-Muller, r = sqrt(-2 ln u(a)), theta = pi (2 u(b) - 1), u(w) =
(floor(w / 2^9) + 1/2) / 2^23. The stream of batch 0's initial noise is 4 << 56
(src/streams.rs, `sampling`).

Example:
  ddpm sample --n 125 --batch-size 125 --sampling-steps 50 --seed 1 --each /tmp/ours
  python tools/peer/same_noise_check.py assets/mnist-cpu /tmp/ours --seed 1
"""

import argparse
import sys

import numpy as np
import torch
from diffusers import DDIMScheduler, UNet2DModel
from PIL import Image

M0, M1, W0, W1 = 0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85
MASK = np.uint64(0xFFFFFFFF)


def philox(blocks, key, stream):
    c = [blocks, np.full_like(blocks, stream[0]), np.full_like(blocks, stream[1]),
         np.zeros_like(blocks)]
    k = [np.uint64(key[0]), np.uint64(key[1])]
    for _ in range(10):
        p0, p1 = np.uint64(M0) * c[0], np.uint64(M1) * c[2]
        c = [(p1 >> np.uint64(32)) ^ c[1] ^ k[0], p1 & MASK, (p0 >> np.uint64(32)) ^ c[3] ^ k[1],
             p0 & MASK]
        k = [(k[0] + np.uint64(W0)) & MASK, (k[1] + np.uint64(W1)) & MASK]
    return c


def normal(n, seed, stream):
    w = philox(np.arange((n + 3) // 4, dtype=np.uint64), (seed & 0xFFFFFFFF, seed >> 32),
               (stream & 0xFFFFFFFF, stream >> 32))
    unit = lambda v: ((v >> np.uint64(9)).astype(np.float64) + 0.5) / 8388608.0  # noqa: E731

    def box_muller(a, b):
        r, th = np.sqrt(-2 * np.log(unit(a))), np.pi * (2 * unit(b) - 1)
        return r * np.cos(th), r * np.sin(th)

    z = np.stack([*box_muller(w[0], w[1]), *box_muller(w[2], w[3])], 1).reshape(-1)
    return z[:n].astype(np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="diffusers model folder (e.g. assets/mnist-cpu)")
    ap.add_argument("ours", help="the --each folder of `ddpm sample` (sample_0000.png, ...)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--n", type=int, default=125, help="images of batch 0 to compare")
    ap.add_argument("--steps", type=int, default=50)
    a = ap.parse_args()
    model = UNet2DModel.from_pretrained(a.model).eval()
    size, ch = model.config.sample_size, model.config.in_channels
    x = torch.from_numpy(normal(a.n * ch * size * size, a.seed, 4 << 56)).reshape(a.n, ch, size, size)
    sched = DDIMScheduler(num_train_timesteps=1000, beta_start=1e-4, beta_end=0.02,
                          beta_schedule="linear", clip_sample=True)
    sched.set_timesteps(a.steps)
    with torch.no_grad():
        for t in sched.timesteps:
            x = sched.step(model(x, t).sample, t, x, eta=0.0).prev_sample
    theirs = ((x.clamp(-1, 1) + 1) * 127.5).round().numpy().astype(np.int32)
    mode = "L" if ch == 1 else "RGB"
    ours = np.stack([np.asarray(Image.open(f"{a.ours}/sample_{i:04d}.png").convert(mode))
                     for i in range(a.n)]).astype(np.int32)
    ours = ours.reshape(theirs.shape) if ch == 1 else ours.transpose(0, 3, 1, 2)
    d = np.abs(ours - theirs)
    print(f"{a.n} images: {(d > 0).mean():.2e} of pixels differ, by at most {d.max()} of 255; "
          f"{(d > 8).mean():.2e} by more than 8")
    sys.exit(0 if d.max() <= 8 else 1)


if __name__ == "__main__":
    main()
