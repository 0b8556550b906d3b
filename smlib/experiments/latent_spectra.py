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
:mod:`smlib.metrics.posterior_noise` (the spectrum audit uses them too); this module is the chapter's config.
"""
from __future__ import annotations

from dataclasses import dataclass

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


__all__ = ["LatentSpectraConfig", "ideal_latent", "noisy_posterior", "whitening_curve", "fit_noise_ratio",
           "fit_scale_and_noise", "delta_targets",
           "scale_sensitivity", "high_band_mass"]
