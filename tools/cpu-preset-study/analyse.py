#!/usr/bin/env python3
"""Quality per CPU-minute of the candidate CPU presets (see README.md beside this file).

Joins two measurements:
  * sample quality at several steps of each candidate's run (digit FD of 1,000 DDIM-50 samples,
    tools/quality/digit_fd.py), from the runs of scripts/gpu-study.sh: the same training maths
    runs on any adapter, so the quality after N steps does not depend on where they ran;
  * each candidate's training-step time on the CPU (lavapipe), from `ddpm bench --json` lines
    (measure_cpu.sh).

  python analyse.py RESULTS_DIR CPU_BENCH.jsonl [--out DIR]

RESULTS_DIR is the unpacked results.tgz of scripts/gpu-study.sh (it holds each/<name>-<step>/
folders of PNGs). Writes DIR/study.csv and DIR/fd-vs-cpu-minutes.png.
"""
import argparse
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "quality"))
import digit_fd  # noqa: E402

# name -> (config file, batch size): what each run of scripts/gpu-study.sh trained.
CANDIDATES = {
    "c32": ("c32", 64),
    "c16": ("c16", 64),
    "c24": ("c24", 64),
    "c32-b32": ("c32", 32),
    "c32-noattn": ("c32-noattn", 64),
}


def cpu_step_seconds(bench_jsonl):
    """(config name, batch) -> seconds per training step on the CPU: the median of a round, the
    fastest round (load from other work on a shared machine only ever adds time)."""
    times = {}
    for line in Path(bench_jsonl).read_text().splitlines():
        if not line.startswith("{"):
            continue
        r = json.loads(line)
        key = (Path(r["model"]).stem, r["batch"])
        t = r["train_step_ms"]["median"] / 1000.0
        times[key] = min(t, times.get(key, t))
    return times


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", type=Path)
    ap.add_argument("cpu_bench", type=Path)
    ap.add_argument("--out", type=Path, default=HERE / "results")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    times = cpu_step_seconds(a.cpu_bench)
    ref = digit_fd.Reference()
    rows = []
    for d in sorted((a.results / "each").iterdir()):
        m = re.fullmatch(r"(.+)-(\d+)", d.name)
        if not m or m.group(1) not in CANDIDATES:
            continue
        name, step = m.group(1), int(m.group(2))
        config, batch = CANDIDATES[name]
        images = digit_fd.load_pngs(sorted(d.glob("*.png")))
        feat, prob = digit_fd.features(ref.p, images)
        fd = digit_fd.frechet(feat, ref.heldout_feat)
        classes = int((digit_fd.np.bincount(prob.argmax(1), minlength=10) > 0).sum())
        sec = times.get((config, batch))
        minutes = step * sec / 60 if sec else float("nan")
        rows.append((name, step, batch, step * batch, sec, minutes, fd, classes))
        print(f"{name:11s} step {step:5d}  {minutes:7.1f} CPU-min  FD {fd:7.2f}  classes {classes}")
    with open(a.out / "study.csv", "w") as f:
        f.write("candidate,step,batch,images,cpu_s_per_step,cpu_minutes,fd,classes\n")
        for r in rows:
            f.write(",".join(str(round(v, 3) if isinstance(v, float) else v) for v in r) + "\n")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no plot")
        return
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name in CANDIDATES:
        pts = sorted((r[5], r[6]) for r in rows if r[0] == name)
        if pts:
            ax.plot(*zip(*pts), marker="o", label=f"{name} (batch {CANDIDATES[name][1]})")
    ax.set_xlabel("training time on 2 CPU cores (lavapipe), minutes")
    ax.set_ylabel("digit FD, 1,000 DDIM-50 samples (lower is better)")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    ax.set_title("Sample quality per CPU-minute of the candidate CPU presets")
    fig.tight_layout()
    fig.savefig(a.out / "fd-vs-cpu-minutes.png", dpi=110)
    print(f"wrote {a.out / 'study.csv'} and {a.out / 'fd-vs-cpu-minutes.png'}")


if __name__ == "__main__":
    main()
