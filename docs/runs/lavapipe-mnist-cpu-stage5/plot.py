"""Draws loss-all-stages.png: the training loss of assets/mnist-cpu over its five stages.

Run from the repository root: python docs/runs/lavapipe-mnist-cpu-stage5/plot.py (numpy, matplotlib).
"""
import csv

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def load(path, offset):
    rows = list(csv.DictReader(open(path)))
    steps = np.array([int(r["step"]) + offset for r in rows])
    return steps, np.array([float(r["loss"]) for r in rows])


stages = [
    ("docs/runs/lavapipe-mnist-cpu/metrics.csv", 0, "tab:blue", "2,000 steps from scratch (seed 0)"),
    ("docs/runs/lavapipe-mnist-cpu-more/metrics.csv", 2000, "tab:orange",
     "1,142 more from its EMA weights (seed 1)"),
    ("docs/runs/lavapipe-mnist-cpu-stage3/metrics.csv", 3142, "tab:green",
     "723 more at lr 5e-4 (seed 2)"),
    ("docs/runs/lavapipe-mnist-cpu-stage4/metrics.csv", 3865, "tab:red",
     "1,033 more at lr 3e-4 (seed 3)"),
    ("docs/runs/lavapipe-mnist-cpu-stage5/metrics.csv", 4898, "tab:purple",
     "1,225 more at lr 2e-4 (seed 4)"),
]
fig, ax = plt.subplots(figsize=(7, 3.2), dpi=110)
for path, offset, colour, label in stages:
    steps, loss = load(path, offset)
    ax.plot(steps, loss, c=colour, alpha=0.25, lw=0.6)
    k = 50
    mean = np.convolve(loss, np.ones(k) / k, mode="valid")
    ax.plot(steps[k - 1:], mean, c=colour, lw=1.5, label=label)
ax.set_yscale("log")
ax.set_ylim(0.012, 0.2)
ax.set_xlabel("step")
ax.set_ylabel("training loss (50-step mean)")
ax.axvline(2000, c="gray", ls=":")
ax.axvline(3142, c="gray", ls=":")
ax.axvline(3865, c="gray", ls=":")
ax.axvline(4898, c="gray", ls=":")
ax.legend(fontsize=8)
ax.set_title("assets/mnist-cpu on lavapipe, 2 CPU cores")
fig.tight_layout()
fig.savefig("docs/runs/lavapipe-mnist-cpu-stage5/loss-all-stages.png")
