"""Latent diagnostics: how an autoencoder's latent spectrum compares with the image's, and whether the decoder
honours the DSM frequency correspondence.

Measured on a batch of images x (B, 3, H, W) in [-1, 1] and their latents z (B, d, h, w):

* **16-bin spectrum distribution** p_z (:func:`smlib.spectral.spectrum_distribution`: channel-averaged DCT power,
  radial bins over the DCT index, ``log1p``, normalised to sum 1) against the ESM target p_x^delta, the image
  resampled to the latent grid exactly as the ESM loss does (:func:`smlib.spectral.esm_image_target`) with its
  band power tilted by (bin + 1)^delta. :func:`spectrum_distance` reports two numbers:
  ``kl`` = mean over images of KL(p_x^delta || p_z) (the ESM training term itself, unweighted; per image, then
  averaged) and ``l1`` = sum_b |mean p_x^delta(b) - mean p_z(b)| (between the batch-mean distributions; in [0, 2]).
* **PSD slope**: the DCT power averaged over channels and images, pooled over integer rings r = round(|(u, v)|)
  (r = 1 .. n-1, i.e. f = r / 2n cycles/sample below Nyquist) and fitted by a power law S ~ f^-alpha
  (:func:`smlib.spectral.fit_power_law`). The DCT is the spectrum of the mirror-extended signal, so it has no
  border discontinuity and needs no window, which matters on an 8 x 8 latent where a Hann window would eat half
  the grid.
* **Latent RMSC** (:func:`smlib.spectral.rmsc`, iREPA's spatial contrast of the token directions).
* **Low-pass reconstruction**: low-pass z and x with the same block-DCT mask (DSM's shared mask, k highest
  anti-diagonals removed), decode z_M and compare with x_M (PSNR here; the recipe adds an FID on Inception
  features). A decoder with DSM's frequency correspondence maps low-passed latents to low-passed images.

``AUTHORS_SPECTRA`` holds the 16-bin reference curves hard-coded in the authors' analysis script (notes §1.9).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from smlib import spectral
from smlib.metrics.image import psnr
from smlib.spectral import esm_image_target

# ---------------------------------------------------------------------------------------- reference curves
# forever208/SpectrumMatching, branch SDVAE_and_ESM, latent_analysis.py::visualize_PSD. Produced by the script's
# spectrum_distribution(): ESM's descriptor with remove_dc=False (DC INCLUDED) and center="none", on posterior
# *samples* at scale factor 1.0, images at 256 px (CelebA-HQ or ImageNet) resampled to the latent grid.
AUTHORS_SPECTRA_SOURCE = ("forever208/SpectrumMatching@SDVAE_and_ESM: latent_analysis.py::visualize_PSD "
                          "(16-bin log1p distributions, DC included, 256 px images)")
AUTHORS_SPECTRA: dict[str, tuple[float, ...]] = {
    "px_RGB_celeba256": (0.4057, 0.2333, 0.119, 0.0835, 0.0424, 0.0317, 0.0194, 0.0142, 0.0108, 0.0091, 0.0076,
                         0.006, 0.0053, 0.0044, 0.004, 0.0035),
    "px_delta_0_6": (0.2747, 0.1931, 0.121, 0.0989, 0.061, 0.0517, 0.0361, 0.0291, 0.0242, 0.022, 0.0194, 0.0164,
                     0.0153, 0.0132, 0.0124, 0.0114),
    "px_delta_1_0": (0.1961, 0.156, 0.1099, 0.0977, 0.0677, 0.0617, 0.0472, 0.0404, 0.0358, 0.034, 0.0313, 0.0278,
                     0.0266, 0.0238, 0.0229, 0.0212),
    "px_delta_1_2": (0.1627, 0.1374, 0.1021, 0.0941, 0.0687, 0.0646, 0.0515, 0.0455, 0.0414, 0.0401, 0.0377,
                     0.0342, 0.0333, 0.0302, 0.0294, 0.0272),
    "pz_SDVAE": (0.1671, 0.1312, 0.0833, 0.071, 0.0587, 0.0538, 0.0513, 0.0476, 0.046, 0.0455, 0.0438, 0.0419,
                 0.0408, 0.0398, 0.0393, 0.0389),
    "pz_downsam": (0.1666, 0.1385, 0.1134, 0.0955, 0.0789, 0.0685, 0.062, 0.0493, 0.0438, 0.0393, 0.0283, 0.0494,
                   0.0175, 0.0163, 0.0159, 0.017),
    "pz_DSM": (0.1638, 0.1471, 0.1202, 0.1037, 0.0774, 0.0677, 0.0529, 0.0415, 0.0377, 0.0337, 0.029, 0.0306,
               0.0258, 0.0242, 0.023, 0.0216),
    "pz_delta10": (0.1658, 0.1483, 0.113, 0.0985, 0.0754, 0.0652, 0.0531, 0.0446, 0.0387, 0.0363, 0.0329, 0.0295,
                   0.026, 0.0249, 0.0246, 0.0233),
    "px_RGB_imgnet256": (0.4657, 0.1913, 0.0997, 0.0666, 0.0388, 0.0265, 0.0217, 0.0162, 0.0131, 0.0123, 0.0103,
                         0.0097, 0.0076, 0.0069, 0.0067, 0.0069),
    "px_delta_1_0_imgnet": (0.2178, 0.1268, 0.0921, 0.0797, 0.0602, 0.0505, 0.0484, 0.042, 0.0389, 0.0401, 0.0372,
                            0.0379, 0.0325, 0.0314, 0.032, 0.0326),
    "pz_dinov2": (0.2288, 0.1442, 0.1042, 0.0824, 0.0629, 0.0515, 0.0458, 0.0395, 0.0353, 0.0339, 0.0335, 0.03,
                  0.0281, 0.0273, 0.0268, 0.0258),
    "pz_vavae": (0.1893, 0.1489, 0.1356, 0.1029, 0.0707, 0.0551, 0.0508, 0.0414, 0.0336, 0.0325, 0.0331, 0.0257,
                 0.0219, 0.0205, 0.0198, 0.0181),
}
AUTHORS_SPECTRA_LABELS = {
    "px_RGB_celeba256": "CelebA image (delta 0)", "px_delta_0_6": "CelebA target delta 0.6",
    "px_delta_1_0": "CelebA target delta 1.0", "px_delta_1_2": "CelebA target delta 1.2",
    "pz_SDVAE": "SD-VAE latent", "pz_downsam": "Scale Equivariance latent", "pz_DSM": "DSM-AE latent (blk 8)",
    "pz_delta10": "ESM latent (fine-tuned VAE, delta 1.0)", "px_RGB_imgnet256": "ImageNet image (delta 0)",
    "px_delta_1_0_imgnet": "ImageNet target delta 1.0", "pz_dinov2": "DINOv2 features (REPA target)",
    "pz_vavae": "VA-VAE latent",
}


# ---------------------------------------------------------------------------------------- distributions
def image_target_distribution(x: torch.Tensor, size: tuple[int, int], delta: float = 1.0, remove_dc: bool = True,
                              n_bins: int = 16, **resample) -> torch.Tensor:
    """ESM's target p_x^delta: the image resampled to the latent grid, 16-bin distribution with tilt delta.

    x: (B, C, H, W) -> (B, n_bins). ``resample`` goes to :func:`smlib.spectral.esm_image_target`
    (``resize_method``, ``blur``, ...; the authors' bicubic + 7x7 blur rule by default).
    """
    x_ds = esm_image_target(x.float(), tuple(size), **resample)
    return spectral.spectrum_distribution(x_ds, n_bins=n_bins, delta=delta, remove_dc=remove_dc)


def latent_distribution(z: torch.Tensor, remove_dc: bool = True, n_bins: int = 16) -> torch.Tensor:
    """p_z, the 16-bin distribution of latents. z: (B, d, h, w) -> (B, n_bins), rows sum to 1."""
    return spectral.spectrum_distribution(z.float(), n_bins=n_bins, delta=0.0, remove_dc=remove_dc)


def spectrum_distance(p_target: torch.Tensor, p_latent: torch.Tensor, eps: float = 1e-8) -> dict[str, float]:
    """Distance of latent distributions from a target. p_target, p_latent: (B, n) (or (n,), broadcast).

    Returns ``kl``: mean_B KL(p_target || p_latent) (per image, the ESM term) and ``l1``: L1 between the batch
    means, sum_b |mean p_target - mean p_latent| in [0, 2].
    """
    p_t, p_l = torch.as_tensor(p_target).double(), torch.as_tensor(p_latent).double()
    p_t, p_l = torch.broadcast_tensors(p_t.reshape(-1, p_t.shape[-1]), p_l.reshape(-1, p_l.shape[-1]))
    kl = (p_t * (torch.log(p_t + eps) - torch.log(p_l + eps))).sum(dim=-1).mean()
    l1 = (p_t.mean(dim=0) - p_l.mean(dim=0)).abs().sum()
    return {"kl": float(kl), "l1": float(l1)}


# ---------------------------------------------------------------------------------------- PSD slope
def dct_ring_psd(x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """DCT power spectrum on integer rings. x: (B, C, n, n) -> (freqs (n-1,), psd (n-1,)) float64 numpy.

    Ring r = round(sqrt(u^2 + v^2)) for r = 1 .. n-1 (DC and the corners beyond the Nyquist quarter circle are
    left out); its frequency is r / (2n) cycles per sample (DCT index u is u / 2n cycles/sample).
    """
    if x.ndim != 4 or x.shape[-1] != x.shape[-2]:
        raise ValueError(f"dct_ring_psd expects square grids (B, C, n, n), got {tuple(x.shape)}.")
    n = x.shape[-1]
    if n < 4:
        raise ValueError(f"a {n}x{n} grid has fewer than 3 frequency rings; a PSD slope needs n >= 4.")
    power = spectral.dct_power(x.double(), remove_dc=True).mean(dim=0)          # (n, n)
    u = torch.arange(n, dtype=torch.float64)
    ring = torch.round(torch.sqrt(u[:, None] ** 2 + u[None, :] ** 2)).long()
    keep = (ring >= 1) & (ring <= n - 1)
    idx = ring[keep] - 1
    sums = torch.zeros(n - 1, dtype=torch.float64).index_add(0, idx, power[keep])
    counts = torch.bincount(idx, minlength=n - 1).double()
    freqs = torch.arange(1, n, dtype=torch.float64) / (2 * n)
    return freqs.numpy(), (sums / counts).numpy()


def psd_slope(x: torch.Tensor, fmin: float | None = None, fmax: float | None = None) -> spectral.PowerLawFit:
    """Power-law fit S ~ f^-alpha of the DCT ring PSD of (B, C, n, n) images or latents.

    Default range: every ring below Nyquist except the first (fmin = 2/2n: ring 1 holds only 2-3 coefficients,
    the most biased by the finite window), fmax = 0.5. ``.exponent`` is alpha (0 for white noise). On crops of a
    stationary f^-alpha field (alpha = 1, 2, 3) this estimator reads about 0.1 low on 32 x 32 grids and 0.2 low on
    8 x 8 grids, so compare slopes measured on grids of the same size.
    """
    freqs, psd = dct_ring_psd(x)
    return spectral.fit_power_law(freqs, psd, fmin=freqs[1] if fmin is None else fmin,
                                  fmax=0.5 if fmax is None else fmax)


def latent_rmsc(z: torch.Tensor) -> float:
    """Mean RMS spatial contrast of the latent token directions. z: (B, d, h, w) -> float in [0, 1]."""
    return float(spectral.rmsc(z.double()).mean())


def noise_to_signal(mean: torch.Tensor, logvar: torch.Tensor) -> float:
    """Posterior noise power over signal power, E[sigma^2] / Var(mu) (over all entries).

    mean, logvar: (B, d, h, w). The sampled latent z = mu + sigma eps adds white noise of power E[sigma^2] to the
    spectrum of mu; this ratio says how much of z's high-frequency floor is that noise.
    """
    return float(logvar.double().exp().mean() / mean.double().var().clamp(min=1e-30))


# ---------------------------------------------------------------------------------------- low-pass decoding
def lowpass_pair(x: torch.Tensor, z: torch.Tensor, k: int, block: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """DSM's shared low-pass of an image batch (B, 3, H, W) and its latents (B, d, h, w) with cut k."""
    return spectral.block_lowpass(x, block, k), spectral.block_lowpass(z, block, k)


@torch.no_grad()
def lowpass_reconstructions(model, x: torch.Tensor, ks, block: int = 8, z: torch.Tensor | None = None,
                            batch_size: int = 128) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
    """Decode low-passed latents: {k: (x_M, x_hat_M)} with x_M = LP_k(x), x_hat_M = D(LP_k(z)) clamped to [-1, 1].

    x: (B, 3, H, W) on the model's device; z: (B, d, h, w) latents to use (default: the posterior mean). The block
    must divide both the image and the latent grid.
    """
    if z is None:
        z = torch.cat([model.encode(c).mode() for c in x.split(batch_size)])
    out = {}
    for k in ks:
        x_m, z_m = lowpass_pair(x, z, int(k), block)
        x_hat = torch.cat([model.decode(c) for c in z_m.split(batch_size)]).clamp(-1, 1)
        out[int(k)] = (x_m, x_hat)
    return out


def lowpass_psnr(model, x: torch.Tensor, ks, block: int = 8, z: torch.Tensor | None = None) -> dict[int, float]:
    """Mean PSNR (dB) of D(LP_k(z)) against LP_k(x) for each k. x: (B, 3, H, W). -> {k: dB}."""
    return {k: float(psnr(x_hat, x_m).mean()) for k, (x_m, x_hat) in
            lowpass_reconstructions(model, x, ks, block, z).items()}


# ---------------------------------------------------------------------------------------- all at once
def spectrum_summary(x: torch.Tensor, z: torch.Tensor, delta: float = 1.0, **resample) -> dict:
    """Every spectral number of one (images, latents) batch, as plain floats and lists.

    x: (B, 3, H, W), z: (B, d, h, w). Keys: ``p_z``/``p_target``/``p_image`` (16-bin batch means, DC removed: the
    ESM view), ``p_z_dc``/``p_image_dc``/``p_target_dc`` (DC included: the authors' analysis view), ``kl_to_target``
    and ``l1_to_target`` (:func:`spectrum_distance` against p_x^delta, DC removed), the same for the latent
    rescaled to unit std (``kl_to_target_unitstd``: the scale-free view, as the diffusion model sees it),
    ``psd_slope_latent``, ``psd_slope_image_at_latent`` and ``psd_slope_image`` (alpha), ``rmsc``.
    """
    size = tuple(z.shape[-2:])
    p_z = latent_distribution(z)
    p_t = image_target_distribution(x, size, delta, **resample)
    p_z_unit = latent_distribution(z / z.float().std().clamp(min=1e-12))
    x_ds = esm_image_target(x.float(), size, **resample)
    out = {
        "delta": float(delta),
        "p_z": p_z.mean(0).tolist(), "p_target": p_t.mean(0).tolist(),
        "p_image": image_target_distribution(x, size, 0.0, **resample).mean(0).tolist(),
        "p_z_dc": latent_distribution(z, remove_dc=False).mean(0).tolist(),
        "p_target_dc": image_target_distribution(x, size, delta, remove_dc=False, **resample).mean(0).tolist(),
        "p_image_dc": image_target_distribution(x, size, 0.0, remove_dc=False, **resample).mean(0).tolist(),
        "rmsc": latent_rmsc(z),
        "latent_std": float(z.float().std()),
    }
    d = spectrum_distance(p_t, p_z)
    out["kl_to_target"], out["l1_to_target"] = d["kl"], d["l1"]
    d = spectrum_distance(p_t, p_z_unit)
    out["kl_to_target_unitstd"], out["l1_to_target_unitstd"] = d["kl"], d["l1"]
    for key, t in (("latent", z), ("image_at_latent", x_ds), ("image", x)):
        try:
            fit = psd_slope(t)
            out[f"psd_slope_{key}"], out[f"psd_r2_{key}"] = fit.exponent, fit.r2
        except ValueError:  # grids too small for three rings
            out[f"psd_slope_{key}"], out[f"psd_r2_{key}"] = math.nan, math.nan
    return out


def high_band_mass(p, first_bin: int = 8) -> float:
    """Share of a 16-bin distribution in bins ``first_bin``.. (0-based): the upper half by default."""
    return float(np.asarray(p)[..., first_bin:].sum(axis=-1).mean())


__all__ = ["high_band_mass", "AUTHORS_SPECTRA", "AUTHORS_SPECTRA_LABELS", "AUTHORS_SPECTRA_SOURCE", "image_target_distribution",
           "latent_distribution", "spectrum_distance", "dct_ring_psd", "psd_slope", "latent_rmsc",
           "noise_to_signal", "lowpass_pair", "lowpass_reconstructions", "lowpass_psnr", "spectrum_summary"]
