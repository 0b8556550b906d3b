"""Chapter 3's recipe (notebook ``03_latent_spectra``): what ESM's 16-bin descriptor sees, and why a KL-regularised latent comes out over-whitened.

Two small models of a latent, both measured with the descriptor ESM trains on
(:func:`smlib.spectral.spectrum_distribution`):

* the **ideal latent**: the image itself resampled to the latent grid (the ESM image target with delta = 0), each
  channel standardised. It has exactly the image's spectrum, the "no flattening" end of the family;
* the **noisy posterior**: z = mu + sigma * eps, the sample a VAE decodes and a diffusion model trains on. The
  noise eps is white, so it adds a flat floor of power sigma^2 to every DCT coefficient. The ratio
  r = sigma^2 / Var(mu) (:func:`smlib.metrics.latent.noise_to_signal`) sets how much of the power-law shape
  survives. A KL term pays the encoder to raise sigma; this is the mechanism behind SD-VAE's flat spectrum.

The descriptor takes ``log(1 + band power)``, so it is **not scale-invariant**: the same latent multiplied by a
constant has another distribution. :func:`scale_sensitivity` measures that. The models and their fits live in
:mod:`smlib.metrics.posterior_noise` (the spectrum audit uses them too); this module is the chapter's config and
:func:`excess_over_target`, how the chapter reads the lab's latents (chapter 4's committed runs, passed in as
``{seed: value}``: this package imports no other chapter's).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import scipy.stats

from smlib.config import PresetConfig, register_presets
from smlib.metrics.latent import high_band_mass
from smlib.metrics.posterior_noise import (delta_targets, fit_noise_ratio, fit_scale_and_noise, ideal_latent,
                                           noisy_posterior, scale_sensitivity, whitening_curve)


@dataclass(frozen=True)
class LatentSpectraConfig(PresetConfig):
    """Chapter 3's knobs. The chapter only measures; nothing is trained."""

    n_images: int = 64                      # images each spectrum averages over


register_presets(LatentSpectraConfig, ci=LatentSpectraConfig(), small=LatentSpectraConfig(n_images=512),
                 paper=LatentSpectraConfig(n_images=5000))


def excess_over_target(values: Mapping[int, float], target: float | Mapping[int, float], level: float = 0.95) -> dict:
    """How far a latent's score lies above its target, seed by seed, and what the seeds say about the mean excess.

    values: {seed: score} of one arm (say the latent descriptor's mass in bins 9-16); target: the target's score,
    one number or {seed: score} (the target of the seed's own run; seeds without one are left out). Returns
    ``seeds`` (sorted), ``excess`` (per seed, value - target), ``every_seed`` (every excess > 0), ``mean``,
    ``ci_low`` / ``ci_high`` (the ``level`` one-sample t interval over the seeds) and ``p`` (two-sided one-sample t
    against zero excess; scipy's ``ttest_1samp``). With fewer than two seeds the interval and p are nan.
    """
    targets = target if isinstance(target, Mapping) else {s: target for s in values}
    seeds = sorted(s for s in values if s in targets)
    if not seeds:
        raise ValueError("no seed has both a value and a target: pass {seed: value} and the target of those seeds.")
    d = np.array([float(values[s]) - float(targets[s]) for s in seeds])
    out = {"seeds": seeds, "excess": dict(zip(seeds, d.tolist())), "every_seed": bool((d > 0).all()),
           "mean": float(d.mean()), "ci_low": math.nan, "ci_high": math.nan, "p": math.nan}
    if len(d) >= 2:
        se = float(d.std(ddof=1) / math.sqrt(len(d)))
        half = float(scipy.stats.t.ppf(0.5 + level / 2, len(d) - 1)) * se
        t = out["mean"] / se if se > 0 else math.copysign(math.inf, out["mean"]) if out["mean"] else 0.0
        out.update(ci_low=out["mean"] - half, ci_high=out["mean"] + half,
                   p=float(2 * scipy.stats.t.sf(abs(t), len(d) - 1)))
    return out


__all__ = ["LatentSpectraConfig", "excess_over_target", "ideal_latent", "noisy_posterior", "whitening_curve", "fit_noise_ratio",
           "fit_scale_and_noise", "delta_targets",
           "scale_sensitivity", "high_band_mass"]
