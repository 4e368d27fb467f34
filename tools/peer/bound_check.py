"""Independent check of `ddpm eval`: recomputes the variational bound's terms in float64 from the
paper's code (diffusion_utils_2.py of hojonathanho/diffusion: normal_kl,
approx_standard_normal_cdf, discretized_gaussian_log_likelihood, GaussianDiffusion2's tables,
_vb_terms_bpd, _prior_bpd) with diffusers' UNet2DModel loading the same model folder, for the
images, timesteps and noise that `ddpm eval --dump` wrote.

Usage:
  target/release/ddpm eval --n 4 --timesteps 0,1,2,5,10,50,100,300,600,999 --dump /tmp/d.safetensors
  /work/venv/bin/python tools/peer/bound_check.py /tmp/d.safetensors [--model assets/mnist-small]

Two comparisons per (term, image):
  maths: our eps predictions (from the dump) through the float64 formulas here: checks our
         fused kernel, coefficient tables and reductions alone;
  model: diffusers' eps (float64 network on the float64 x_t) through the same formulas: the
         whole pipeline, network included.
Exits 1 if the maths differ by more than 1e-4 relative (f32 kernel vs float64) or the full
pipeline by more than 1e-3 relative (the network in f32 vs float64), relative to the term's
magnitude over the images, with an absolute floor of 1e-7 bits/dim for the vanishing KL terms
at large t.
"""
import argparse
import json
import sys

import numpy as np
import torch
from diffusers import UNet2DModel
from safetensors import safe_open


def normal_kl(mean1, logvar1, mean2, logvar2):
    return 0.5 * (-1.0 + logvar2 - logvar1 + np.exp(logvar1 - logvar2)
                  + (mean1 - mean2) ** 2 * np.exp(-logvar2))


def approx_standard_normal_cdf(x):
    return 0.5 * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))


def discretized_gaussian_log_likelihood(x, means, log_scales):
    centered_x = x - means
    inv_stdv = np.exp(-log_scales)
    cdf_plus = approx_standard_normal_cdf(inv_stdv * (centered_x + 1.0 / 255.0))
    cdf_min = approx_standard_normal_cdf(inv_stdv * (centered_x - 1.0 / 255.0))
    log_cdf_plus = np.log(np.maximum(cdf_plus, 1e-12))
    log_one_minus_cdf_min = np.log(np.maximum(1.0 - cdf_min, 1e-12))
    cdf_delta = cdf_plus - cdf_min
    return np.where(x < -0.999, log_cdf_plus,
                    np.where(x > 0.999, log_one_minus_cdf_min, np.log(np.maximum(cdf_delta, 1e-12))))


class Diffusion:
    """GaussianDiffusion2's tables (linear betas 1e-4..0.02, T = 1000, float64)."""

    def __init__(self, variance, T=1000):
        self.betas = betas = np.linspace(1e-4, 0.02, T, dtype=np.float64)
        alphas = 1.0 - betas
        self.abar = abar = np.cumprod(alphas)
        abar_prev = np.append(1.0, abar[:-1])
        self.sqrt_recip = np.sqrt(1.0 / abar)
        self.sqrt_recipm1 = np.sqrt(1.0 / abar - 1.0)
        post_var = betas * (1.0 - abar_prev) / (1.0 - abar)
        self.post_logvar_clipped = np.log(np.append(post_var[1], post_var[1:]))
        self.coef1 = betas * np.sqrt(abar_prev) / (1.0 - abar)
        self.coef2 = (1.0 - abar_prev) * np.sqrt(alphas) / (1.0 - abar)
        self.model_logvar = {
            "fixed-large": np.log(np.append(post_var[1], betas[1:])),
            "fixed-small": self.post_logvar_clipped,
        }[variance]

    def vb_terms_bpd(self, x0, x_t, eps, t):
        """_vb_terms_bpd with clip_denoised=True: (term in bits/dim, MSE) per image."""
        pred = np.clip(self.sqrt_recip[t] * x_t - self.sqrt_recipm1[t] * eps, -1.0, 1.0)
        true_mean = self.coef1[t] * x0 + self.coef2[t] * x_t
        model_mean = self.coef1[t] * pred + self.coef2[t] * x_t
        axes = tuple(range(1, x0.ndim))
        if t == 0:
            nll = -discretized_gaussian_log_likelihood(x0, model_mean, 0.5 * self.model_logvar[t])
            term = nll.mean(axis=axes) / np.log(2.0)
        else:
            kl = normal_kl(true_mean, self.post_logvar_clipped[t], model_mean, self.model_logvar[t])
            term = kl.mean(axis=axes) / np.log(2.0)
        return term, ((pred - x0) ** 2).mean(axis=axes)

    def prior_bpd(self, x0):
        T = len(self.betas)
        mean = np.sqrt(self.abar[T - 1]) * x0
        logvar = np.log(1.0 - self.abar[T - 1])
        kl = normal_kl(mean, logvar, 0.0, 0.0)
        return kl.mean(axis=tuple(range(1, x0.ndim))) / np.log(2.0)


def rel_err(ours, ref, floor):
    scale = max(np.abs(ref).max(), floor)
    return float(np.abs(ours - ref).max() / scale)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dump")
    ap.add_argument("--model", default="assets/mnist-small")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true", help="print the per-term table as JSON")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)

    with safe_open(a.dump, "np") as f:
        d = {k: f.get_tensor(k).astype(np.float64) for k in f.keys()}
        meta = f.metadata()
    diffusion = Diffusion(meta["variance"])
    model = UNet2DModel.from_pretrained(a.model).double().eval()
    x0 = d["x0"]
    ts = d["timesteps"].astype(np.int64)
    n = x0.shape[0]

    rows, worst_maths, worst_model = [], 0.0, 0.0
    prior = diffusion.prior_bpd(x0)
    prior_err = rel_err(d["prior_bpd"], prior, 1e-12)
    for j, t in enumerate(ts):
        noise = d["noise"][j]
        x_t = np.sqrt(diffusion.abar[t]) * x0 + np.sqrt(1.0 - diffusion.abar[t]) * noise
        with torch.no_grad():
            eps_ref = model(torch.from_numpy(x_t), torch.full((n,), int(t), dtype=torch.long)).sample.numpy()
        term_maths, mse_maths = diffusion.vb_terms_bpd(x0, x_t, d["eps"][j], t)
        term_model, mse_model = diffusion.vb_terms_bpd(x0, x_t, eps_ref, t)
        ours, ours_mse = d["terms_bpd"][j], d["mse"][j]
        row = {
            "t": int(t),
            "ours_bpd": float(ours.mean()),
            "ref_bpd": float(term_model.mean()),
            "maths_rel_err": rel_err(ours, term_maths, 1e-7),
            "model_rel_err": rel_err(ours, term_model, 1e-7),
            "mse_rel_err": rel_err(ours_mse, mse_model, 1e-12),
            "eps_rel_err": rel_err(d["eps"][j], eps_ref, 1e-12),
        }
        worst_maths = max(worst_maths, row["maths_rel_err"])
        worst_model = max(worst_model, row["model_rel_err"], row["mse_rel_err"])
        rows.append(row)

    if a.json:
        print(json.dumps({"prior_rel_err": prior_err, "terms": rows}, indent=1))
    else:
        print(f"{n} images, {len(ts)} terms, variance {meta['variance']}")
        print(f"prior: ours {d['prior_bpd'].mean():.6e}  float64 {prior.mean():.6e}  rel err {prior_err:.1e}")
        print(f"{'t':>5} {'ours bpd':>13} {'float64 bpd':>13} {'maths err':>10} {'model err':>10} {'mse err':>9} {'eps err':>9}")
        for r in rows:
            print(f"{r['t']:>5} {r['ours_bpd']:>13.6e} {r['ref_bpd']:>13.6e} {r['maths_rel_err']:>10.1e} "
                  f"{r['model_rel_err']:>10.1e} {r['mse_rel_err']:>9.1e} {r['eps_rel_err']:>9.1e}")
    ok = worst_maths <= 1e-4 and worst_model <= 1e-3 and prior_err <= 1e-5
    print(f"worst: maths {worst_maths:.1e} (tol 1e-4), model {worst_model:.1e} (tol 1e-3), "
          f"prior {prior_err:.1e} (tol 1e-5): {'OK' if ok else 'FAIL'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
