"""The latent spectrum as the image's plus white posterior noise: chapter 3's two models of a latent, measured with
the descriptor ESM trains on (:func:`smlib.spectral.spectrum_distribution`), and the fits of a measured latent to
them (used by chapter 3 and by the spectrum audit, :mod:`smlib.audit`).

* the **ideal latent**: the image itself resampled to the latent grid (the ESM image target with delta = 0), each
  channel standardised. It has exactly the image's spectrum, the "no flattening" end of the family;
* the **noisy posterior**: z = mu + sigma * eps, the sample a VAE decodes and a diffusion model trains on. The
  noise eps is white, so it adds a flat floor of power sigma^2 to every DCT coefficient. The ratio
  r = sigma^2 / Var(mu) (:func:`smlib.metrics.latent.noise_to_signal`) sets how much of the power-law shape
  survives. A KL term pays the encoder to raise sigma; this is the mechanism behind SD-VAE's flat spectrum.

The descriptor takes ``log(1 + band power)``, so it is **not scale-invariant**: the same latent multiplied by a
constant has another distribution. :func:`scale_sensitivity` measures that.
"""
from __future__ import annotations

import numpy as np
import torch

from smlib.metrics.latent import image_target_distribution, latent_distribution, spectrum_distance
from smlib.spectral import esm_image_target


def ideal_latent(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The image resampled to the latent grid as ESM does, each channel standardised over the batch.

    x: (B, C, H, W) in [-1, 1] -> (B, C, h, w) with zero mean and unit std per channel.
    """
    z = esm_image_target(x.float(), tuple(size))
    mean = z.mean(dim=(0, 2, 3), keepdim=True)
    std = z.std(dim=(0, 2, 3), keepdim=True).clamp(min=1e-12)
    return (z - mean) / std


def noisy_posterior(mu: torch.Tensor, ratio: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """z = mu + sqrt(ratio * Var(mu)) * eps with white eps: posterior noise at noise-to-signal ``ratio``.

    mu: (B, d, h, w) -> same shape. ``ratio`` = E[sigma^2] / Var(mu), the quantity the lab reports per AE.
    """
    eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype)
    return mu + (float(ratio) * mu.var()).sqrt() * eps


def whitening_curve(mu: torch.Tensor, ratios, remove_dc: bool = True, seed: int = 0) -> np.ndarray:
    """Batch-mean 16-bin distribution of :func:`noisy_posterior` for each ratio. mu: (B, d, h, w) -> (R, 16)."""
    out = []
    for r in ratios:
        z = noisy_posterior(mu, r, torch.Generator().manual_seed(seed))
        out.append(latent_distribution(z, remove_dc=remove_dc).mean(0).numpy())
    return np.stack(out)


def fit_noise_ratio(mu: torch.Tensor, reference, ratios, remove_dc: bool = False, seed: int = 0) -> dict:
    """The noise-to-signal ratio whose :func:`whitening_curve` is closest (L1) to a reference distribution.

    reference: (16,) batch-mean distribution (e.g. the authors' SD-VAE curve, which includes DC: keep
    ``remove_dc=False`` for it). Returns {"ratio", "l1", "ratios", "l1_all"} (grid search over ``ratios``).
    """
    ref = np.asarray(reference, dtype=np.float64)
    curves = whitening_curve(mu, ratios, remove_dc=remove_dc, seed=seed)
    l1 = np.abs(curves - ref[None]).sum(axis=1)
    i = int(np.argmin(l1))
    return {"ratio": float(ratios[i]), "l1": float(l1[i]), "ratios": np.asarray(ratios, float), "l1_all": l1}


def fit_scale_and_noise(mu: torch.Tensor, reference, scales, ratios, remove_dc: bool = False, seed: int = 0,
                        tol: float = 0.1) -> dict:
    """Scale s and noise-to-signal ratio r fitted together: the (s, r) whose ``s * noisy_posterior(mu, r)`` has
    the batch-mean distribution closest (L1) to ``reference``, on the grid ``scales`` x ``ratios``.

    The descriptor is not scale-invariant, so :func:`fit_noise_ratio` (s = 1, a unit-std latent) can trade a
    scale for noise. Returns {"scale", "ratio", "l1", "l1_grid" (S, R), "near_scales", "near_ratios"}: the last two
    are the (min, max) of s and r over every cell within ``tol`` (relative) of the best L1, the spread the data
    cannot tell apart. A ratio span much wider than the grid step means r is not identifiable from this curve."""
    ref = np.asarray(reference, dtype=np.float64)
    scales, ratios = np.asarray(scales, float), np.asarray(ratios, float)
    grid = np.empty((len(scales), len(ratios)))
    for j, r in enumerate(ratios):
        z = noisy_posterior(mu, r, torch.Generator().manual_seed(seed))
        for i, sc in enumerate(scales):
            grid[i, j] = np.abs(latent_distribution(sc * z, remove_dc=remove_dc).mean(0).numpy() - ref).sum()
    i, j = np.unravel_index(int(np.argmin(grid)), grid.shape)
    near = np.argwhere(grid <= grid[i, j] * (1 + tol))
    return {"scale": float(scales[i]), "ratio": float(ratios[j]), "l1": float(grid[i, j]), "l1_grid": grid,
            "near_scales": (float(scales[near[:, 0]].min()), float(scales[near[:, 0]].max())),
            "near_ratios": (float(ratios[near[:, 1]].min()), float(ratios[near[:, 1]].max()))}


def delta_targets(x: torch.Tensor, size: tuple[int, int], deltas, remove_dc: bool = True) -> np.ndarray:
    """ESM's image target p_x^delta (batch mean) for each delta. x: (B, C, H, W) -> (len(deltas), 16)."""
    return np.stack([image_target_distribution(x, size, d, remove_dc=remove_dc).mean(0).numpy() for d in deltas])


def scale_sensitivity(z: torch.Tensor, target: torch.Tensor, scales) -> np.ndarray:
    """KL(target || p_{s z}) for each scale s: how much the descriptor depends on the latent's absolute scale.

    z: (B, d, h, w); target: (B, 16) or (16,). -> (len(scales),) mean per-image KL.
    """
    return np.array([spectrum_distance(target, latent_distribution(s * z))["kl"] for s in scales])


__all__ = ["ideal_latent", "noisy_posterior", "whitening_curve", "fit_noise_ratio", "fit_scale_and_noise", "delta_targets",
           "scale_sensitivity"]
