#!/usr/bin/env python3
"""Sample-quality checker for generated MNIST digits (an FID-like "digit FD").

A small CNN classifier is trained on the engine's training split of the bundled
digits; the Frechet distance between Gaussians fitted to its 128-d penultimate
features on generated samples and on the 1,000 held-out real digits is the score.

Pure numpy + pillow (no torch): the network is small enough to train on one core.

  python tools/quality/digit_fd.py train                    # -> classifier.npz
  python tools/quality/digit_fd.py score DIR [--crop-center 28]
  python tools/quality/digit_fd.py calibrate [--n 1000]

Split (same as the engine): the FIRST 9,000 bundled digits are training data,
the LAST 1,000 are held out and never trained on (by the diffusion model or here).
"""
import os

# One BLAS thread: the machine is shared, and single-threaded OpenBLAS is deterministic.
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import gzip
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ASSETS = HERE.parent.parent / "assets"
WEIGHTS = HERE / "classifier.npz"
N_TRAIN = 9000


# ----------------------------------------------------------------------------- data

def load_mnist():
    """(images uint8 [10000,28,28], labels uint8 [10000]) from the bundled IDX files."""
    with gzip.open(ASSETS / "mnist10k-images-idx3-ubyte.gz") as f:
        raw = f.read()
    n, rows, cols = (int.from_bytes(raw[i:i + 4], "big") for i in (4, 8, 12))
    images = np.frombuffer(raw, np.uint8, offset=16).reshape(n, rows, cols)
    with gzip.open(ASSETS / "mnist10k-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    return images, labels


def to_input(images_u8):
    """Classifier input convention: float32 in [0,1], white digit on black, NHWC."""
    return (np.asarray(images_u8, np.float32) / 255.0)[..., None]


def load_pngs(paths, crop_center=None):
    """Grayscale PNGs -> uint8 [N,28,28]. Default: resize whole image to 28x28 (bilinear,
    which pillow antialiases when shrinking). --crop-center K: take the central KxK first
    (then resize if K != 28) - right for the mnist preset's 32x32 = 28x28 digit + 2px pad."""
    from PIL import Image
    out = []
    for p in paths:
        im = Image.open(p).convert("L")
        if crop_center:
            w, h = im.size
            if w < crop_center or h < crop_center:
                sys.exit(f"{p}: {w}x{h} is smaller than --crop-center {crop_center}")
            l, t = (w - crop_center) // 2, (h - crop_center) // 2
            im = im.crop((l, t, l + crop_center, t + crop_center))
        if im.size != (28, 28):
            im = im.resize((28, 28), Image.BILINEAR)
        out.append(np.asarray(im, np.uint8))
    return np.stack(out)


# ----------------------------------------------------------------------------- network
# conv3x3(1->16) relu pool2 | conv3x3(16->32) relu pool2 | fc(1568->128) relu = features
# | fc(128->10). NHWC layout; convolutions as im2col matmuls.

def im2col(x):
    """[N,H,W,C] -> [N*H*W, 9*C] patches of a 3x3 'same' convolution."""
    n, h, w, c = x.shape
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    cols = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(1, 2))  # N,H,W,C,3,3
    return cols.reshape(n * h * w, c * 9)


def col2im(dcols, shape):
    """Adjoint of im2col: scatter-add patch gradients back to [N,H,W,C]."""
    n, h, w, c = shape
    d = dcols.reshape(n, h, w, c, 3, 3)
    dxp = np.zeros((n, h + 2, w + 2, c), np.float32)
    for i in range(3):
        for j in range(3):
            dxp[:, i:i + h, j:j + w, :] += d[..., i, j]
    return dxp[:, 1:-1, 1:-1, :]


def pool(x):
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def unpool(dy, x, y):
    """Gradient of 2x2 max-pool: routed to the arg-max position(s)."""
    n, h, w, c = x.shape
    mask = x.reshape(n, h // 2, 2, w // 2, 2, c) == y[:, :, None, :, None, :]
    return (mask * dy[:, :, None, :, None, :]).reshape(x.shape)


def init_params(rng):
    def he(fan_in, shape):
        return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
    return {
        "c1w": he(9, (9, 16)), "c1b": np.zeros(16, np.float32),
        "c2w": he(144, (144, 32)), "c2b": np.zeros(32, np.float32),
        "f1w": he(1568, (1568, 128)), "f1b": np.zeros(128, np.float32),
        "f2w": he(128, (128, 10)), "f2b": np.zeros(10, np.float32),
    }


def forward(p, x, keep=False):
    """x [N,28,28,1] -> (features [N,128], logits [N,10]) (+ activations for backprop)."""
    n = x.shape[0]
    col1 = im2col(x)
    a1 = np.maximum(col1 @ p["c1w"] + p["c1b"], 0).reshape(n, 28, 28, 16)
    p1 = pool(a1)
    col2 = im2col(p1)
    a2 = np.maximum(col2 @ p["c2w"] + p["c2b"], 0).reshape(n, 14, 14, 32)
    p2 = pool(a2).reshape(n, -1)
    feat = np.maximum(p2 @ p["f1w"] + p["f1b"], 0)
    logits = feat @ p["f2w"] + p["f2b"]
    if keep:
        return feat, logits, (col1, a1, p1, col2, a2, p2)
    return feat, logits


def backward(p, feat, logits, acts, y):
    """Gradients of mean softmax cross-entropy."""
    col1, a1, p1, col2, a2, p2 = acts
    n = y.shape[0]
    g = {}
    d = softmax(logits)
    d[np.arange(n), y] -= 1
    d /= n
    g["f2w"], g["f2b"] = feat.T @ d, d.sum(0)
    d = (d @ p["f2w"].T) * (feat > 0)
    g["f1w"], g["f1b"] = p2.T @ d, d.sum(0)
    d = d @ p["f1w"].T
    d = unpool(d.reshape(n, 7, 7, 32), a2, pool(a2)) * (a2 > 0)
    d = d.reshape(-1, 32)
    g["c2w"], g["c2b"] = col2.T @ d, d.sum(0)
    d = col2im(d @ p["c2w"].T, p1.shape)
    d = (unpool(d, a1, p1) * (a1 > 0)).reshape(-1, 16)
    g["c1w"], g["c1b"] = col1.T @ d, d.sum(0)
    return g


def softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def load_params():
    if not WEIGHTS.exists():
        sys.exit(f"{WEIGHTS} missing: run `python {Path(__file__).name} train` first")
    with np.load(WEIGHTS) as z:
        return {k: z[k] for k in z.files if not k.startswith("meta_")}


def features(p, images_u8, batch=500):
    """Penultimate features and softmax probabilities for uint8 [N,28,28] images."""
    fs, ps = [], []
    for i in range(0, len(images_u8), batch):
        f, l = forward(p, to_input(images_u8[i:i + batch]))
        fs.append(f)
        ps.append(softmax(l))
    return np.concatenate(fs).astype(np.float64), np.concatenate(ps)


# ----------------------------------------------------------------------------- train

def random_shift(rng, x, r=2):
    """Shift each [28,28] image by an independent integer offset in [-r, r] (zero fill)."""
    n = len(x)
    xp = np.pad(x, ((0, 0), (r, r), (r, r)))
    dy, dx = rng.integers(0, 2 * r + 1, (2, n))
    rows = dy[:, None] + np.arange(28)[None, :]          # [N,28]
    cols = dx[:, None] + np.arange(28)[None, :]
    return xp[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


def cmd_train(args):
    images, labels = load_mnist()
    xtr, ytr = images[:N_TRAIN], labels[:N_TRAIN].astype(np.int64)
    xte, yte = images[N_TRAIN:], labels[N_TRAIN:].astype(np.int64)
    rng = np.random.default_rng(args.seed)
    p = init_params(rng)
    # Adam
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(v) for k, v in p.items()}
    b1, b2, t, bs = 0.9, 0.999, 0, 64
    steps_per_epoch = N_TRAIN // bs
    t0 = time.time()
    for epoch in range(args.epochs):
        order = rng.permutation(N_TRAIN)
        loss_sum = 0.0
        for s in range(steps_per_epoch):
            idx = order[s * bs:(s + 1) * bs]
            x = to_input(random_shift(rng, xtr[idx]))
            feat, logits, acts = forward(p, x, keep=True)
            y = ytr[idx]
            loss_sum += -np.log(softmax(logits)[np.arange(len(y)), y] + 1e-12).mean()
            g = backward(p, feat, logits, acts, y)
            t += 1  # cosine learning-rate decay over the whole run
            lr = args.lr * 0.5 * (1 + np.cos(np.pi * t / (args.epochs * steps_per_epoch)))
            for k in p:
                m[k] = b1 * m[k] + (1 - b1) * g[k]
                v[k] = b2 * v[k] + (1 - b2) * g[k] ** 2
                p[k] -= (lr * (m[k] / (1 - b1 ** t)) / (np.sqrt(v[k] / (1 - b2 ** t)) + 1e-8)).astype(np.float32)
        _, prob = features(p, xte)
        acc = (prob.argmax(1) == yte).mean()
        print(f"epoch {epoch + 1}/{args.epochs}: train loss {loss_sum / steps_per_epoch:.4f}, "
              f"held-out accuracy {acc:.2%} ({time.time() - t0:.0f}s)")
    np.savez(WEIGHTS, **p, meta_heldout_acc=acc, meta_epochs=args.epochs, meta_seed=args.seed)
    print(f"saved {WEIGHTS} ({WEIGHTS.stat().st_size / 1e6:.2f} MB); held-out accuracy {acc:.2%}")


# ----------------------------------------------------------------------------- metrics

def sqrt_psd(a):
    w, u = np.linalg.eigh(a)
    return (u * np.sqrt(np.clip(w, 0, None))) @ u.T


def frechet(f1, f2):
    """||mu1-mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^1/2). tr((S1 S2)^1/2) equals the trace of the
    symmetric PSD root of S1^1/2 S2 S1^1/2 (same eigenvalues), so eigh suffices (no scipy)."""
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    r1 = sqrt_psd(s1)
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(r1 @ s2 @ r1), 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * cross)


def nn_dist(a_u8, b_u8, batch=1000):
    """For each image in a: pixel-space L2 distance (pixels in [0,1]) to its nearest in b."""
    a = a_u8.reshape(len(a_u8), -1).astype(np.float32) / 255
    b = b_u8.reshape(len(b_u8), -1).astype(np.float32) / 255
    bb = (b * b).sum(1)
    out = []
    for i in range(0, len(a), batch):
        x = a[i:i + batch]
        d2 = (x * x).sum(1)[:, None] + bb[None, :] - 2 * x @ b.T
        out.append(np.sqrt(np.clip(d2.min(1), 0, None)))
    return np.concatenate(out)


class Reference:
    """Everything computed from the bundled digits that scoring compares against."""

    def __init__(self):
        self.images, self.labels = load_mnist()
        self.train, self.heldout = self.images[:N_TRAIN], self.images[N_TRAIN:]
        self.p = load_params()
        self.heldout_feat, _ = features(self.p, self.heldout)
        # Held-out digits' distance to their nearest training digit: what "new but real" looks like.
        self.heldout_nn = nn_dist(self.heldout, self.train)
        self.copy_threshold = np.percentile(self.heldout_nn, 1)

    def fd(self, images_u8):
        f, _ = features(self.p, images_u8)
        return frechet(f, self.heldout_feat)


def report(ref, images_u8):
    feat, prob = features(ref.p, images_u8)
    n = len(images_u8)
    print(f"samples: {n}  (reference: {len(ref.heldout)} held-out real digits)")
    if n < 1000:
        print("  note: FD is biased upward at small N (real digits: ~7.2 at N=500, ~4.9 at N=1000)")
    if images_u8.mean() > 127:
        print("  warning: mean pixel > 127 - images look inverted (expected white digit on black)")
    print(f"FD vs held-out: {frechet(feat, ref.heldout_feat):.2f}")
    pred = prob.argmax(1)
    hist = np.bincount(pred, minlength=10)
    q = hist / n
    entropy = -(q[q > 0] * np.log2(q[q > 0])).sum()
    print("predicted classes: " + " ".join(f"{c}:{hist[c]}" for c in range(10)))
    print(f"  classes present: {(hist > 0).sum()}/10, entropy {entropy:.3f} bits (uniform = 3.322)")
    print(f"mean max-softmax confidence: {prob.max(1).mean():.4f}")
    d = nn_dist(images_u8, ref.train)
    copies = (d < ref.copy_threshold).mean()
    print(f"nearest-training-digit L2 (pixels in [0,1]): median {np.median(d):.3f} for samples, "
          f"{np.median(ref.heldout_nn):.3f} for held-out real digits")
    print(f"  likely copies (closer than the held-out 1st percentile, {ref.copy_threshold:.3f}): "
          f"{copies:.1%} of samples (~1% expected for genuinely new digits)")


def cmd_score(args):
    paths = []
    for a in args.inputs:
        a = Path(a)
        paths += sorted(a.glob("*.png")) if a.is_dir() else [a]
    if len(paths) < 2:
        sys.exit("need at least 2 PNG images (1000 recommended)")
    from PIL import Image
    size = Image.open(paths[0]).size
    if size == (32, 32) and not args.crop_center:
        print("warning: 32x32 images are being RESIZED to 28x28; if the digit is 28x28 padded by "
              "2 px (the mnist preset) pass --crop-center 28 (resizing costs ~50 FD)")
    images = load_pngs(paths, args.crop_center)
    report(Reference(), images)


# ----------------------------------------------------------------------------- calibrate

def gaussian_blur(x_u8, sigma):
    r = int(np.ceil(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    x = x_u8.astype(np.float32)
    conv = lambda a, ax: np.apply_along_axis(lambda v: np.convolve(v, k, "same"), ax, a)
    return np.clip(conv(conv(x, 1), 2), 0, 255).round().astype(np.uint8)


def shift(x_u8, dy, dx):
    return np.roll(np.roll(x_u8, dy, 1), dx, 2)  # MNIST borders are empty: roll == shift


def pad32_resize28(x_u8):
    """The engine's 32x32 padded digit, resized (not cropped) back to 28: digit shrinks 12.5%."""
    from PIL import Image
    x = np.pad(x_u8, ((0, 0), (2, 2), (2, 2)))
    return np.stack([np.asarray(Image.fromarray(a).resize((28, 28), Image.BILINEAR)) for a in x])


def cmd_calibrate(args):
    ref = Reference()
    rng = np.random.default_rng(args.seed)
    n = args.n
    base = ref.train[rng.choice(N_TRAIN, n, replace=False)]  # real digits, not the reference
    noisy = lambda s: np.clip(base + rng.normal(0, s * 255, base.shape), 0, 255).astype(np.uint8)
    rows = [
        (f"real: {n} training digits", base),
        (f"real: 500 training digits", base[:500]),
        ("real: held-out itself (FD floor = 0)", ref.heldout),
        ("real, pad 32 then RESIZE to 28 (wrong preprocessing)", pad32_resize28(base)),
        ("shifted 1 px right+down", shift(base, 1, 1)),
        ("shifted 2 px right+down", shift(base, 2, 2)),
        ("gaussian blur sigma 1.0", gaussian_blur(base, 1.0)),
        ("gaussian blur sigma 1.5", gaussian_blur(base, 1.5)),
        ("held-out blurred sigma 1.5 (same digits as reference)", gaussian_blur(ref.heldout, 1.5)),
        ("gaussian blur sigma 2.0", gaussian_blur(base, 2.0)),
        ("additive gaussian noise std 0.1", noisy(0.1)),
        ("additive gaussian noise std 0.3", noisy(0.3)),
        ("binarised at 128", (base >= 128).astype(np.uint8) * 255),
        ("mode drop: only classes 0-4", ref.train[np.flatnonzero(ref.labels[:N_TRAIN] < 5)[:n]]),
        ("mode collapse: one digit repeated", np.repeat(base[:1], n, 0)),
        ("uniform noise", rng.integers(0, 256, (n, 28, 28)).astype(np.uint8)),
        ("black images + tiny noise", rng.integers(0, 3, (n, 28, 28)).astype(np.uint8)),
    ]
    print(f"digit FD vs the {len(ref.heldout)} held-out real digits (N = {n} unless stated):")
    for name, imgs in rows:
        print(f"  {ref.fd(imgs):10.2f}  {name}")
    # Memorisation check sanity: exact training digits must be flagged, real new ones not.
    for name, imgs in [("training digits (copies)", base), ("held-out digits", ref.heldout),
                       ("training digits + noise std 0.1", noisy(0.1))]:
        frac = (nn_dist(imgs, ref.train) < ref.copy_threshold).mean()
        print(f"  copy check, {name}: {frac:.1%} flagged")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train the feature classifier -> classifier.npz")
    t.add_argument("--epochs", type=int, default=10)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--seed", type=int, default=0)
    s = sub.add_parser("score", help="score a folder (or list) of PNG samples")
    s.add_argument("inputs", nargs="+", help="folders of *.png, or PNG files")
    s.add_argument("--crop-center", type=int, metavar="K",
                   help="take the central KxK before resizing (default: resize the whole image)")
    c = sub.add_parser("calibrate", help="FD of real/degraded digits, to read the scale")
    c.add_argument("--n", type=int, default=1000)
    c.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    {"train": cmd_train, "score": cmd_score, "calibrate": cmd_calibrate}[args.cmd](args)


if __name__ == "__main__":
    main()
