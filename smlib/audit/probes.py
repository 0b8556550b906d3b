"""Every spectral probe of one autoencoder, measured on a batch of images: what the audit reports and what a sweep
can record in each run's result (:func:`autoencoder_probes`).

Definitions (x: images (B, C, H, W) in [-1, 1]; mu, logvar: the posterior moments (B, d, h, w); z = mu +
exp(logvar / 2) * eps, one seeded draw, the latent a diffusion model trains on, at scale 1):

* **Spectra** (chapter 3's descriptor, :mod:`smlib.metrics.latent` via ``spectrum_summary``): 16-bin radial DCT
  log-power distributions p_z of z, p_x^delta of the image resampled to the latent grid as ESM does, and p_x^0.
* **ESM distance** ``esm_kl``: mean over images of KL(p_x^delta || p_z) (DC removed), the ESM training term, at
  the paper's delta = :data:`ESM_DELTA` (1.0: the released ESM-AE recipe, forever208/SpectrumMatching@115c70be,
  README of branch SDVAE_and_ESM, ``esm_weight=0.01, delta=1.0``; smlib's ``ESMLoss`` default, read from its
  signature here). ``esm_l1``: L1 between the batch-mean distributions; ``esm_kl_unitstd``: the same KL with z
  rescaled to unit std (the descriptor is not scale-invariant; this is the scale the diffusion model sees).
* **Fitted scale and posterior noise** (chapter 3's model, `smlib.metrics.posterior_noise.
  fit_scale_and_noise`): the (s, r) whose s * (mu_ideal + sqrt(r Var mu_ideal) eps) has the batch-mean
  distribution (DC included, as the authors' analysis script) closest in L1 to z's, with mu_ideal the images
  resampled to the latent grid, channels standardised; on chapter 3's grid (:data:`FIT_SCALES`, :data:`FIT_RATIOS`).
  Beside it, the **measured** noise-to-signal ratio E[sigma^2] / Var(mu) (:func:`smlib.metrics.latent.
  noise_to_signal`), which the fit can only approximate.
* **High-frequency share**, two numbers. ``high_band_mass``: the share of the log-power descriptor p_z in bins
  9-16 (`smlib.metrics.posterior_noise.high_band_mass`, chapter 3). ``hf_energy_share`` (ours, see
  :func:`hf_energy_share`): the share of raw DCT power at normalised radius >= 0.5 after standardising each latent
  channel. The Kling study (arXiv 2606.03578, "Diffusing in the Right Space") correlates a "share of
  high-frequency DCT energy" with gFID, and its released code normalises each latent channel before every metric
  (klingairesearch/diffusing-right-space, README: ``per_channel_norm``), but we could read neither its cutoff nor its
  pooling, so this number is ours and is not theirs.
* **Decoding correspondence for DSM** (:func:`band_correspondence`): for each latent DCT band, the fraction of
  each image band's energy that changes when that latent band is removed; the scalar is the mean share of that
  relative change on the matching image band (1/K: no correspondence; 1: perfect).
"""
from __future__ import annotations

import inspect
import math
from contextlib import contextmanager

import numpy as np
import torch
from tqdm.auto import tqdm

from smlib.audit.load import AuditedAutoencoder, wrap
from smlib.metrics.latent import (high_band_mass, image_target_distribution, latent_distribution, noise_to_signal,
                                  spectrum_distance, spectrum_summary)
from smlib.metrics.posterior_noise import fit_scale_and_noise, ideal_latent
from smlib.regularizers.esm import ESMLoss
from smlib.spectral import dct2, dct_radial_bins, esm_image_target, idct2

#: the paper's delta: ESMLoss's default, the released ESM-AE recipe (module docstring)
ESM_DELTA: float = float(inspect.signature(ESMLoss).parameters["delta"].default)
#: chapter 3's joint (scale, noise ratio) grid (notebooks/03_latent_spectra.py, section 3.2)
FIT_SCALES = tuple(float(s) for s in np.geomspace(0.25, 256, 21))
FIT_RATIOS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
#: the smallest latent grid the 16-bin descriptor and a PSD slope make sense on
MIN_LATENT = 4

PROBES = ("esm_kl", "esm_l1", "esm_kl_unitstd", "high_band_mass", "hf_energy_share", "noise_to_signal",
          "fitted_scale", "fitted_noise_ratio", "dsm_correspondence", "psd_slope_latent", "rmsc", "latent_std")


# ----------------------------------------------------------------------------------------------- checks
def check_inputs(ae: AuditedAutoencoder, images: torch.Tensor) -> tuple[int, int]:
    """One-line errors for images that do not fit the autoencoder; returns the latent grid (h, w)."""
    if images.ndim != 4:
        raise ValueError(f"expected images (B, C, H, W), got shape {tuple(images.shape)}.")
    n, c, H, W = images.shape
    if n < 2:
        raise ValueError(f"the audit needs at least 2 images, got {n}; raise --n-images.")
    if c != ae.image_channels:
        raise ValueError(f"the autoencoder takes {ae.image_channels}-channel images but the data has {c} channels; "
                         f"use a dataset with {ae.image_channels}-channel images.")
    f = ae.factor
    if H % f or W % f:
        raise ValueError(f"resolution {H}x{W} is not a multiple of the autoencoder's factor f={f}; use "
                         f"--resolution {max(f, H // f * f)} (a multiple of {f}).")
    h, w = H // f, W // f
    if min(h, w) < MIN_LATENT:
        raise ValueError(f"a {h}x{w} latent is too small for a spectrum; use --resolution {MIN_LATENT * f} or more.")
    return h, w


# ----------------------------------------------------------------------------------------------- pieces
def hf_energy_share(z: torch.Tensor, cutoff: float = 0.5) -> float:
    """Share of DCT power at normalised radius >= ``cutoff`` (ours; see the module docstring for its relation to
    the Kling study's metric).

    z: (B, d, h, w). Each channel is standardised over (B, h, w) first (so every channel weighs the same and the
    number is scale-free); power P(u, v) = sum over images and channels of DCT2(z)[u, v]^2 (orthonormal DCT of the
    whole grid), DC excluded; radius rho = ||(u, v)|| / ||(h-1, w-1)||, ESM's radial coordinate, so cutoff 0.5 is
    ESM's bins 9-16. A spatially white latent scores :func:`white_share` (about 0.6 on square grids).
    """
    z = z.double()
    z = (z - z.mean(dim=(0, 2, 3), keepdim=True)) / z.std(dim=(0, 2, 3), keepdim=True).clamp(min=1e-12)
    power = dct2(z).square().sum(dim=(0, 1))
    power[0, 0] = 0.0
    high = _radius(*z.shape[-2:], z.device) >= cutoff
    return float(power[high].sum() / power.sum().clamp(min=1e-300))


def white_share(h: int, w: int, cutoff: float = 0.5) -> float:
    """What :func:`hf_energy_share` gives for white noise: the share of non-DC coefficients at radius >= cutoff."""
    high = _radius(h, w, "cpu") >= cutoff
    high[0, 0] = False
    return float(high.sum()) / (h * w - 1)


def _radius(h: int, w: int, device) -> torch.Tensor:
    u = torch.arange(h, dtype=torch.float64, device=device)[:, None]
    v = torch.arange(w, dtype=torch.float64, device=device)[None, :]
    return torch.sqrt(u**2 + v**2) / (math.hypot(h - 1, w - 1) or 1.0)


def remove_band(z: torch.Tensor, bins: torch.Tensor, band: int) -> torch.Tensor:
    """z (B, d, h, w) with every DCT coefficient whose radial band (``bins``: (h, w) ints) is ``band`` set to 0."""
    keep = (bins != band).to(z.dtype)
    return idct2(dct2(z) * keep)


class _Correspondence:
    """Accumulates :func:`band_correspondence` over batches."""

    def __init__(self, n_bands: int):
        self.k = int(n_bands)
        self.change = torch.zeros(self.k, self.k, dtype=torch.float64)   # [latent band, image band]
        self.recon = torch.zeros(self.k, dtype=torch.float64)
        self.n = 0

    def update(self, decode, z: torch.Tensor, bar=None) -> None:
        h, w = z.shape[-2:]
        lat_bins = dct_radial_bins(h, w, self.k, "authors", device=z.device)
        x0 = decode(z).float()
        img_bins = dct_radial_bins(*x0.shape[-2:], self.k, "authors", device=z.device)
        self.recon += self._pool(dct2(x0).square(), img_bins)
        for band in range(self.k):
            dx = x0 - decode(remove_band(z, lat_bins, band)).float()
            self.change[band] += self._pool(dct2(dx).square(), img_bins)
            if bar is not None:
                bar.update()
        self.n += z.shape[0]

    def _pool(self, power: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
        # (B, C, H, W) power -> (K,) energy summed over images, channels and the coefficients of each band
        flat = power.double().sum(dim=(0, 1)).reshape(-1)
        return torch.zeros(self.k, dtype=torch.float64, device=flat.device).index_add(
            0, bins.reshape(-1), flat).cpu()

    def result(self, image_size: tuple[int, int]) -> dict:
        relative = self.change / self.recon.clamp(min=1e-300)[None, :]
        relative[:, self.recon <= 1e-10 * self.recon.sum()] = 0.0  # an image band D never fills: round-off only
        share = relative / relative.sum(dim=1, keepdim=True).clamp(min=1e-300)
        absolute = self.change / self.change.sum(dim=1, keepdim=True).clamp(min=1e-300)
        counts = torch.bincount(dct_radial_bins(*image_size, self.k, "authors").reshape(-1), minlength=self.k)
        return {
            "n_bands": self.k,
            "relative_change": relative.tolist(),
            "relative_share": share.tolist(),
            "diagonal": torch.diagonal(share).tolist(),
            "score": float(torch.diagonal(share).mean()),
            "score_null": 1.0 / self.k,
            "absolute_share": absolute.tolist(),
            "absolute_share_white": (counts.double() / counts.sum()).tolist(),
            "change_energy_per_image": (self.change / max(self.n, 1)).tolist(),
            "recon_energy_per_image": (self.recon / max(self.n, 1)).tolist(),
        }


def band_correspondence(ae, z: torch.Tensor, n_bands: int = 4, batch_size: int = 32) -> dict:
    """How much of each image band changes when one latent DCT band is removed (the DSM decoding correspondence).

    ae: an :class:`~smlib.audit.load.AuditedAutoencoder` (or a model :func:`~smlib.audit.load.wrap` accepts);
    z: (B, d, h, w) latents (the audit uses the posterior mean). Bands: K = ``n_bands`` radial bands of the
    orthonormal DCT of the whole grid, band(u, v) = min(floor(K ||(u, v)|| / ||(h-1, w-1)||), K-1) on the latent
    grid and the same on the image grid, each relative to its own grid: the matching is in *normalised*
    frequency, which is DSM's (its shared mask keeps the same DCT indices of an 8x8 latent block and of an 8x8
    image block, i.e. the same fraction of each grid's Nyquist band). With x0 = D(z) and x_k = D(z with latent
    band k zeroed), E[k, j] = energy of DCT(x0 - x_k) in image band j, summed over images and channels, and
    e[j] = energy of x0 in image band j:

    * ``relative_change`` R[k, j] = E[k, j] / e[j], how much of image band j's energy changes (can exceed 1; 0
      for an image band holding under 1e-10 of D(z)'s energy, where the ratio would be round-off over round-off);
    * ``relative_share`` S[k, j] = R[k, j] / sum_j R[k, j], and the scalar ``score`` = mean_k S[k, k] in [0, 1]:
      1 when removing a latent band changes only the matching image band; ``score_null`` = 1/K when the change has
      the reconstruction's own band shape (every image band loses the same fraction), the "no correspondence"
      reference. Dividing by e[j] first matters: natural images hold most energy in band 0, so the raw change
      lands there whatever the decoder does;
    * ``absolute_share`` E[k, j] / sum_j E[k, j] (where the change energy lands; ``absolute_share_white``: the share
      of each band's coefficients, where a spatially white change would land).

    Raises ValueError when a latent band holds no coefficient (too many bands for the grid).
    """
    ae = wrap(ae)
    h, w = z.shape[-2:]
    empty = torch.bincount(dct_radial_bins(h, w, n_bands, "authors").reshape(-1), minlength=n_bands) == 0
    if bool(empty.any()):
        raise ValueError(f"{n_bands} bands leave some empty on a {h}x{w} latent; use fewer --bands.")
    acc = _Correspondence(n_bands)
    dev = ae.device
    for zb in z.split(batch_size):
        acc.update(ae.decode, zb.to(dev).float())
    f = ae.factor
    return acc.result((h * f, w * f))


# ----------------------------------------------------------------------------------------------- all probes
@torch.no_grad()
def measure(ae, images: torch.Tensor, *, delta: float | None = None, n_bands: int = 4, hf_cutoff: float = 0.5,
            batch_size: int = 32, seed: int = 0, progress: bool = False, scales=FIT_SCALES,
            ratios=FIT_RATIOS) -> dict:
    """Every number of the audit for one autoencoder on ``images`` (B, C, H, W) in [-1, 1] (module docstring).

    ae: an :class:`~smlib.audit.load.AuditedAutoencoder` or an smlib ``AutoEncoder`` / diffusers
    ``AutoencoderKL``; delta: ESM's tilt (default :data:`ESM_DELTA`). The model runs on its own device in batches
    of ``batch_size``; 1 encode and 1 + n_bands decodes per batch (a tqdm bar with ``progress``). Returns a
    JSON-able dict (spectra, esm, noise, high_frequency, psd, correspondence, latent_shape, ...);
    :func:`probe_values` flattens it to the scalar probes.
    """
    ae = wrap(ae)
    delta = ESM_DELTA if delta is None else float(delta)
    images = images.float().cpu()
    h, w = check_inputs(ae, images)
    if bool((torch.bincount(dct_radial_bins(h, w, n_bands, "authors").reshape(-1), minlength=n_bands) == 0).any()):
        raise ValueError(f"{n_bands} bands leave some empty on a {h}x{w} latent; use fewer --bands.")
    with _eval_mode(ae.model):
        return _measure(ae, images, h, w, delta, n_bands, hf_cutoff, batch_size, seed, progress, scales, ratios)


@contextmanager
def _eval_mode(model: torch.nn.Module):
    # measure in eval mode (dropout off) and give the caller's model back in the mode it had
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _measure(ae, images, h, w, delta, n_bands, hf_cutoff, batch_size, seed, progress, scales, ratios) -> dict:
    dev = ae.device
    batches = images.split(batch_size)
    corr = _Correspondence(n_bands)
    means, logvars = [], []
    with tqdm(total=len(batches) * (2 + n_bands), desc="audit: encode + band-removed decodes", unit="pass",
              disable=not progress, leave=False) as bar:
        for xb in batches:
            mean, logvar = ae.moments(xb.to(dev))
            bar.update()
            means.append(mean.float().cpu())
            logvars.append(logvar.float().cpu())
            corr.update(ae.decode, mean.float(), bar)
            bar.update()
    mean, logvar = torch.cat(means), torch.cat(logvars)
    gen = torch.Generator().manual_seed(int(seed))
    z = mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=gen)

    summary = spectrum_summary(images, z, delta)
    p_t = image_target_distribution(images, (h, w), delta)
    at_mean = spectrum_distance(p_t, latent_distribution(mean))
    fit = fit_scale_and_noise(ideal_latent(images, (h, w)), summary["p_z_dc"], scales, ratios, remove_dc=False,
                              seed=seed)
    x_lat = esm_image_target(images, (h, w))
    return {
        "n_images": int(images.shape[0]), "image_shape": list(images.shape[1:]),
        "latent_shape": [int(mean.shape[1]), h, w],
        "factor": ae.factor, "delta": delta, "seed": int(seed),
        "spectra": {k: summary[k] for k in ("p_z", "p_target", "p_image", "p_z_dc", "p_target_dc", "p_image_dc")}
        | {"p_z_posterior_mean": latent_distribution(mean).mean(0).tolist()},
        "esm": {"kl": summary["kl_to_target"], "l1": summary["l1_to_target"],
                "kl_unitstd": summary["kl_to_target_unitstd"], "l1_unitstd": summary["l1_to_target_unitstd"],
                "kl_posterior_mean": at_mean["kl"], "l1_posterior_mean": at_mean["l1"]},
        "noise": {"noise_to_signal_measured": noise_to_signal(mean, logvar), "latent_std": summary["latent_std"],
                  "posterior_mean_std": float(mean.std()),
                  "fitted_scale": fit["scale"], "fitted_noise_ratio": fit["ratio"], "fit_l1": fit["l1"],
                  "near_scales": list(fit["near_scales"]), "near_ratios": list(fit["near_ratios"]),
                  "scales": list(scales), "ratios": list(ratios), "l1_grid": np.asarray(fit["l1_grid"]).tolist()},
        "high_frequency": {"high_band_mass_latent": high_band_mass(summary["p_z"]),
                           "high_band_mass_target": high_band_mass(summary["p_target"]),
                           "high_band_mass_image": high_band_mass(summary["p_image"]),
                           "cutoff": float(hf_cutoff),
                           "energy_share_latent": hf_energy_share(z, hf_cutoff),
                           "energy_share_posterior_mean": hf_energy_share(mean, hf_cutoff),
                           "energy_share_image_at_latent": hf_energy_share(x_lat, hf_cutoff),
                           "energy_share_white": white_share(h, w, hf_cutoff)},
        "psd": {k: summary[k] for k in summary if k.startswith("psd_")},
        "rmsc": summary["rmsc"],
        "correspondence": corr.result(tuple(images.shape[-2:])),
    }


def probe_values(measurement: dict) -> dict[str, float]:
    """The scalar probes (:data:`PROBES`) of a :func:`measure` result, as plain floats."""
    m = measurement
    return {
        "esm_kl": m["esm"]["kl"], "esm_l1": m["esm"]["l1"], "esm_kl_unitstd": m["esm"]["kl_unitstd"],
        "high_band_mass": m["high_frequency"]["high_band_mass_latent"],
        "hf_energy_share": m["high_frequency"]["energy_share_latent"],
        "noise_to_signal": m["noise"]["noise_to_signal_measured"],
        "fitted_scale": m["noise"]["fitted_scale"], "fitted_noise_ratio": m["noise"]["fitted_noise_ratio"],
        "dsm_correspondence": m["correspondence"]["score"],
        "psd_slope_latent": m["psd"].get("psd_slope_latent", math.nan), "rmsc": m["rmsc"],
        "latent_std": m["noise"]["latent_std"],
    }


def autoencoder_probes(autoencoder, images: torch.Tensor, device=None, **kw) -> dict[str, float]:
    """Every scalar probe of ONE autoencoder on ``images`` (B, C, H, W) in [-1, 1]: {name: float} over
    :data:`PROBES`, for a sweep to store in each run's result.

    autoencoder: an smlib ``AutoEncoder``, a diffusers ``AutoencoderKL``, or a folder :func:`~smlib.audit.load.
    load_audited` reads (onto ``device``, default cpu; a model stays where it is unless ``device`` is given).
    ``kw`` goes to :func:`measure` (delta, n_bands, batch_size, seed, ...).
    """
    from smlib.audit.load import load_audited

    return probe_values(measure(load_audited(autoencoder, device), images, **kw))


__all__ = ["ESM_DELTA", "FIT_SCALES", "FIT_RATIOS", "PROBES", "check_inputs", "hf_energy_share", "white_share",
           "remove_band", "band_correspondence", "measure", "probe_values", "autoencoder_probes"]
