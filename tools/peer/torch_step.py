#!/usr/bin/env python3
"""Times one DDPM training step (and optionally one sampling forward pass) of a
diffusers UNet2DModel in PyTorch, as a peer to compare our engine against.

The step is DDPM Algorithm 1, the same as our engine's:
  x0 fixed in [-1, 1], t ~ U{0..999}, eps ~ N(0, 1), linear betas 1e-4..0.02,
  x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, loss = mse(model(x_t, t), eps),
  backward, clip_grad_norm_(1.0), Adam(lr 2e-4) step, EMA (0.9999) update.

Example:
  python3 tools/peer/torch_step.py --preset mnist --batch-size 8 --device cpu --json
"""

import argparse
import json
import os
import platform
import statistics
import time

import torch
import torch.nn.functional as F
from diffusers import UNet2DModel

# Mirrors of src/model/config.rs (UNetConfig::cifar10/mnist/tiny/mnist_small). Fields that
# are not listed take diffusers' defaults, which are the values our engine uses
# (act_fn silu, positional time embedding, resnet_time_scale_shift "default").
CIFAR10 = dict(
    sample_size=32,
    in_channels=3,
    out_channels=3,
    center_input_sample=False,
    flip_sin_to_cos=False,
    freq_shift=1,
    down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
    block_out_channels=(128, 256, 256, 256),
    layers_per_block=2,
    downsample_padding=0,
    dropout=0.1,
    attention_head_dim=None,  # one head per attention block, head_dim = channels
    norm_num_groups=32,
    norm_eps=1e-6,
    add_attention=True,
    act_fn="silu",
    time_embedding_type="positional",
    resnet_time_scale_shift="default",
    mid_block_scale_factor=1,
)

MNIST = dict(
    CIFAR10,
    in_channels=1,
    out_channels=1,
    down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
    block_out_channels=(64, 128, 128),
    dropout=0.0,
)

# UNetConfig::tiny(1), as used by preset("tiny").
TINY = dict(
    CIFAR10,
    sample_size=16,
    in_channels=1,
    out_channels=1,
    down_block_types=("AttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "AttnUpBlock2D"),
    block_out_channels=(32, 64),
    layers_per_block=1,
    norm_num_groups=8,
    dropout=0.0,
)

# UNetConfig::mnist_small(): a small digit model, 28x28, attention at 14x14.
MNIST_SMALL = dict(
    CIFAR10,
    sample_size=28,
    in_channels=1,
    out_channels=1,
    down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
    block_out_channels=(32, 64, 64),
    layers_per_block=1,
    norm_num_groups=8,
    dropout=0.0,
)

# UNetConfig::mnist_cpu(): the CPU default, mnist-small with channels (24, 48, 48).
MNIST_CPU = dict(MNIST_SMALL, block_out_channels=(24, 48, 48))

PRESETS = {"mnist": MNIST, "cifar10": CIFAR10, "tiny": TINY, "mnist-small": MNIST_SMALL,
           "mnist-cpu": MNIST_CPU}

# Expected parameter counts (see docs/unet-spec.md and src/model/config.rs).
# mnist-small's count comes from the spec's per-block formulas, which give the other three.
EXPECTED_PARAMS = {"mnist": 6_469_889, "cifar10": 35_746_307, "tiny": 663_905, "mnist-small": 1_112_801,
                   "mnist-cpu": 627_433}

T_STEPS = 1000
LR = 2e-4
EMA_DECAY = 0.9999
GRAD_CLIP = 1.0


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--config", help="a diffusers UNet2DModel config.json")
    src.add_argument("--preset", choices=sorted(PRESETS))
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's choice)")
    p.add_argument("--precision", choices=["fp32", "tf32"], default="fp32",
                   help="fp32: TF32 off for matmul and cuDNN (strict); tf32: both on")
    p.add_argument("--cudnn-benchmark", action="store_true",
                   help="set torch.backends.cudnn.benchmark (off by default, as in eager PyTorch)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    p.add_argument("--steps", type=int, default=5, help="timed steps")
    p.add_argument("--sample-step", action="store_true",
                   help="also time one sampling forward pass (eval, no_grad)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON line instead of text")
    return p.parse_args()


def build_model(args):
    if args.preset:
        return UNet2DModel(**PRESETS[args.preset]), args.preset
    with open(args.config) as f:
        cfg = json.load(f)
    # Our engine writes these as floats (0.0); torch's conv padding needs an int.
    for key in ("downsample_padding", "freq_shift"):
        if isinstance(cfg.get(key), float) and cfg[key].is_integer():
            cfg[key] = int(cfg[key])
    return UNet2DModel.from_config(cfg), os.path.basename(args.config)


def device_name(device):
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_calls(fn, device, warmup, steps):
    """Runs fn warmup + steps times; returns the timed steps' durations in ms."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append((time.perf_counter() - start) * 1e3)
    return times


def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    strict = args.precision == "fp32"
    torch.backends.cuda.matmul.allow_tf32 = not strict
    torch.backends.cudnn.allow_tf32 = not strict
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    torch.manual_seed(args.seed)
    device = torch.device(args.device)

    model, name = build_model(args)
    model.to(device).train()
    params = [p for p in model.parameters() if p.requires_grad]
    n_params = sum(p.numel() for p in params)
    if args.preset and n_params != EXPECTED_PARAMS[args.preset]:
        raise SystemExit(f"parameter count {n_params:,} != expected {EXPECTED_PARAMS[args.preset]:,}")

    cfg = model.config
    B, C, S = args.batch_size, cfg.in_channels, cfg.sample_size
    betas = torch.linspace(1e-4, 0.02, T_STEPS, dtype=torch.float64)
    alphas_bar = torch.cumprod(1.0 - betas, dim=0).to(torch.float32).to(device)
    x0 = (torch.rand(B, C, S, S, device=device) * 2 - 1)  # fixed stand-in for a data batch

    opt = torch.optim.Adam(params, lr=LR)
    ema = [p.detach().clone() for p in params]

    def train_step():
        t = torch.randint(0, T_STEPS, (B,), device=device)
        eps = torch.randn_like(x0)
        ab = alphas_bar[t].view(B, 1, 1, 1)
        x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
        loss = F.mse_loss(model(x_t, t).sample, eps)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, GRAD_CLIP)
        opt.step()
        with torch.no_grad():
            torch._foreach_mul_(ema, EMA_DECAY)
            torch._foreach_add_(ema, params, alpha=1 - EMA_DECAY)

    times = time_calls(train_step, device, args.warmup, args.steps)
    med = statistics.median(times)
    result = {
        ("preset" if args.preset else "config"): name,
        "batch": B,
        "device": args.device,
        "precision": args.precision,
        "params": n_params,
        "step_ms_median": round(med, 3),
        "step_ms_min": round(min(times), 3),
        "step_ms_max": round(max(times), 3),
        "img_per_s": round(B / (med / 1e3), 2),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "device_name": device_name(device),
    }

    if args.sample_step:
        model.eval()
        x = torch.randn(B, C, S, S, device=device)
        t = torch.full((B,), T_STEPS - 1, device=device, dtype=torch.long)

        @torch.no_grad()
        def sample_step():
            model(x, t)

        s_times = time_calls(sample_step, device, args.warmup, args.steps)
        result["sample_step_ms_median"] = round(statistics.median(s_times), 3)

    if args.json:
        print(json.dumps(result))
    else:
        print(f"{name}: {n_params:,} parameters, batch {B}, {args.device} ({result['device_name']}), "
              f"{args.precision}, torch {torch.__version__}, {result['threads']} threads")
        print(f"train step: median {med:.1f} ms (min {min(times):.1f}, max {max(times):.1f}), "
              f"{result['img_per_s']} img/s")
        if args.sample_step:
            print(f"sample step: median {result['sample_step_ms_median']:.1f} ms")


if __name__ == "__main__":
    main()
