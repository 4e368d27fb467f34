"""Draws the training loss of assets/mnist-cpu over its first N stages (one run folder each).

Run from the repository root (numpy, matplotlib):
  python docs/runs/plot_mnist_cpu_stages.py 5 docs/runs/lavapipe-mnist-cpu-stage5/loss-all-stages.png
"""
import csv
import sys

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# (run folder, colour, label); each stage's steps continue where the previous one ended.
STAGES = [
    ("lavapipe-mnist-cpu", "tab:blue", "2,000 steps from scratch (seed 0)"),
    ("lavapipe-mnist-cpu-more", "tab:orange", "1,142 more from its EMA weights (seed 1)"),
    ("lavapipe-mnist-cpu-stage3", "tab:green", "723 more at lr 5e-4 (seed 2)"),
    ("lavapipe-mnist-cpu-stage4", "tab:red", "1,033 more at lr 3e-4 (seed 3)"),
    ("lavapipe-mnist-cpu-stage5", "tab:purple", "1,225 more at lr 2e-4 (seed 4)"),
    ("lavapipe-mnist-cpu-stage6", "tab:brown", "1,849 more at lr 1.2e-4 (seed 5)"),
    ("lavapipe-mnist-cpu-stage7", "tab:pink", "2,108 more at lr 8e-5 (seed 6)"),
    ("lavapipe-mnist-cpu-stage8", "tab:olive", "1,675 more at lr 5e-5 (seed 7)"),
]


def load(folder):
    rows = list(csv.DictReader(open(f"docs/runs/{folder}/metrics.csv")))
    return np.array([int(r["step"]) for r in rows]), np.array([float(r["loss"]) for r in rows])


def main():
    n, out = int(sys.argv[1]), sys.argv[2]
    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=110)
    offset = 0
    for folder, colour, label in STAGES[:n]:
        steps, loss = load(folder)
        steps = steps + offset
        if offset:
            ax.axvline(offset, c="gray", ls=":")
        ax.plot(steps, loss, c=colour, alpha=0.25, lw=0.6)
        k = 50
        mean = np.convolve(loss, np.ones(k) / k, mode="valid")
        ax.plot(steps[k - 1:], mean, c=colour, lw=1.5, label=label)
        offset += len(steps)
    ax.set_yscale("log")
    ax.set_ylim(0.012, 0.2)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (50-step mean)")
    ax.legend(fontsize=8)
    ax.set_title("assets/mnist-cpu on lavapipe, 2 CPU cores")
    fig.tight_layout()
    fig.savefig(out)


if __name__ == "__main__":
    main()
