"""Chapter 1's recipe (Prop. 3.1, notebook ``01_spectral_bias``): measure image spectra, fit a pixel denoiser with MSE, compare with the Gaussian theory.

The comparison is made on luminance (one channel): the proposition is stated for a scalar PSD, and colour channels
are strongly correlated, which a per-channel Gaussian model would not capture.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from smlib import spectral, theory
from smlib.config import PresetConfig, register_presets
from smlib.models.denoiser import DilatedDenoiser

LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601


@dataclass(frozen=True)
class SpectralBiasConfig(PresetConfig):
    """Chapter 1's knobs. ``ci``: minutes on 2 CPU cores; ``small``: the book's figures; ``paper``: 64 px, GPUs."""

    resolution: int = 32                    # image side in pixels
    n_psd_images: int = 512                 # images averaged into each measured spectrum
    n_train: int = 2048                     # training images of the denoiser (random 16-px crops are drawn)
    n_test: int = 256                       # held-out images its per-frequency error is measured on
    denoiser_width: int = 32                # channels of the dilated-conv denoiser
    denoiser_depth: int = 7                 # its layers (receptive field grows with dilation)
    train_steps: int = 400                  # optimiser steps, one sigma per sample drawn from ``sigmas``
    batch_size: int = 64
    lr: float = 2e-3                        # Adam learning rate
    sigmas: tuple[float, ...] = (0.1, 0.3, 0.6, 0.9)   # VP noise levels sigma (alpha = sqrt(1 - sigma^2))


register_presets(
    SpectralBiasConfig,
    ci=SpectralBiasConfig(),
    small=SpectralBiasConfig(n_psd_images=5000, n_train=20000, n_test=1000, denoiser_width=64, train_steps=4000,
                             batch_size=128, sigmas=(0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 0.95)),
    paper=SpectralBiasConfig(resolution=64, n_psd_images=50000, n_train=50000, n_test=5000, denoiser_width=128,
                             denoiser_depth=9, train_steps=50000, batch_size=256, lr=1e-3,
                             sigmas=(0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 0.95)),
)


def to_luma(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) in [-1, 1] -> (B, 1, H, W) luminance; single-channel input is returned unchanged."""
    if images.shape[1] == 1:
        return images
    w = torch.tensor(LUMA, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    return (images * w).sum(dim=1, keepdim=True)


def vp_alpha(sigma) -> float:
    """Variance-preserving channel: alpha = sqrt(1 - sigma^2)."""
    return math.sqrt(1.0 - float(sigma) ** 2)


@dataclass
class SpectrumMeasurement:
    freqs: np.ndarray    # (K,) cycles/pixel, ring centres
    psd: np.ndarray      # (K,) radially averaged PSD
    fit: spectral.PowerLawFit


def measure_spectrum(images: torch.Tensor, window: str | None = "hann", fmin: float | None = None,
                     fmax: float | None = None) -> SpectrumMeasurement:
    """Radially averaged PSD of (B, C, H, W) images and its power-law fit (see :func:`spectral.fit_power_law`).

    The Hann window suppresses the border discontinuity of non-periodic photos, which otherwise adds an
    axis-aligned f^-2 leak that pulls every exponent towards 2.
    """
    freqs, psd = spectral.radial_psd(images.double(), window=window)
    fit = spectral.fit_power_law(freqs, psd, fmin=fmin, fmax=fmax)
    return SpectrumMeasurement(freqs.numpy(), psd.numpy(), fit)


def train_denoiser(images: torch.Tensor, sigmas, steps: int, batch_size: int, lr: float, width: int, depth: int,
                   crop: int | None = None, seed: int = 0, device: str | torch.device = "cpu",
                   log_every: int = 50) -> tuple[DilatedDenoiser, list]:
    """Fit one noise-conditioned x0-denoiser with the plain pixel MSE at the given noise levels.

    images: (N, 1, H, W) training set. Each example gets a noise level drawn uniformly from ``sigmas``
    (VP: alpha = sqrt(1 - sigma^2)). ``crop`` trains on random crops (the network is convolutional, so it is still
    evaluated on whole images; a 16 px crop makes a step 4x cheaper). A few hundred Adam steps on a few thousand
    images; no checkpointing, because the whole fit takes well under a minute (chapter 3's autoencoders use the
    resumable trainer in :mod:`smlib.train`). Returns the model and the loss curve [(step, loss)].
    """
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    device = torch.device(device)
    model = DilatedDenoiser(images.shape[1], width, depth, data_var=float(images.var())).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    sig = torch.tensor(list(sigmas), dtype=torch.float32)
    curve = []
    for step in range(steps):
        idx = torch.randint(0, images.shape[0], (batch_size,), generator=g)
        x0 = images[idx]
        if crop is not None and crop < x0.shape[-1]:
            i, j = torch.randint(0, x0.shape[-1] - crop + 1, (2,), generator=g).tolist()
            x0 = x0[..., i:i + crop, j:j + crop]
        x0 = x0.to(device)
        s = sig[torch.randint(0, len(sig), (batch_size,), generator=g)].to(device)
        a = (1 - s**2).sqrt()
        eps = torch.randn(x0.shape, generator=g).to(device)
        x_t = a.view(-1, 1, 1, 1) * x0 + s.view(-1, 1, 1, 1) * eps
        loss = (model(x_t, a, s) - x0).square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % log_every == 0 or step == steps - 1:
            curve.append((step, loss.item()))
    return model.eval(), curve


#: chapter 1's bar: at least ``share`` of the (noise, band) cells have an error within a factor ``factor`` of the
#: Gaussian prediction. It was not fixed in advance: git shows it entering in commit fffae86 (2026-12-04), the commit
#: that also first reported the crop diagnosis and the full-image run that meets it. What justifies it is what it
#: rejects (tested): an error 2.5x the prediction everywhere, and the heuristic min(S, sigma^2 / alpha^2), which is
#: off by up to 2x near each crossing. A log-error correlation passes both (it is 1 for any constant factor).
BAR = {"factor": 1.5, "share": 0.9}

#: the bar the chapter stated before that commit (from commit 2370616, 2026-12-01): 90% of the cells within a factor
#: of 2. It stood before any full-image run; the 16-px crop run missed it. It is the looser of the two: a model off
#: by less than 2x everywhere passes it.
EARLIER_BAR = {"factor": 2.0, "share": 0.9}


def within_share(errors: np.ndarray, predicted: np.ndarray, factor: float) -> float:
    """Share of cells with errors / predicted strictly inside (1 / factor, factor)."""
    ratio = np.asarray(errors) / np.asarray(predicted)
    return float(np.mean((ratio > 1 / factor) & (ratio < factor)))


def meets_bar(errors: np.ndarray, predicted: np.ndarray, bar: dict = BAR) -> bool:
    """Whether per-cell errors (L, K) meet chapter 1's bar against the prediction (L, K)."""
    return within_share(errors, predicted, bar["factor"]) >= bar["share"]


@dataclass
class BandErrors:
    freqs: np.ndarray       # (K,) ring centres, cycles/pixel
    sigmas: np.ndarray      # (L,)
    signal: np.ndarray      # (K,) radially averaged PSD S(f) of the test images
    trained: np.ndarray     # (L, K) measured error power of the trained denoiser
    wiener: np.ndarray      # (L, K) measured error power of the Wiener filter (Gaussian-optimal, linear)
    predicted: np.ndarray   # (L, K) Gaussian prediction S / (1 + SNR), from the training-set PSD
    heuristic: np.ndarray | None = None   # (L, K) the wrong model min(S, sigma^2 / alpha^2), same PSD

    def wrong_models(self) -> dict[str, np.ndarray]:
        """The two plausible wrong error models the bar must reject, as (L, K) arrays."""
        out = {"2.5 x the prediction": 2.5 * self.predicted}
        if self.heuristic is not None:
            out["min(S, sigma^2 / alpha^2)"] = self.heuristic
        return out

    def learned_fraction(self, which: str = "trained") -> np.ndarray:
        """1 - error / S per band: the share of each frequency's power recovered, (L, K)."""
        return 1.0 - getattr(self, which) / self.signal[None, :]

    def agreement(self, factor: float = 2.0) -> dict[str, float]:
        """How close the trained denoiser's per-band error is to the Gaussian prediction.

        ``within_factor``: share of (sigma, band) cells with error ratio in [1/factor, factor];
        ``log_corr``: Pearson correlation of log errors over all cells; ``median_ratio``: median trained/predicted.
        """
        ratio = self.trained / self.predicted
        lt, lp = np.log(self.trained).ravel(), np.log(self.predicted).ravel()
        return {"within_factor": within_share(self.trained, self.predicted, factor),
                "within_bar": within_share(self.trained, self.predicted, BAR["factor"]),
                "meets_bar": meets_bar(self.trained, self.predicted),
                "log_corr": float(np.corrcoef(lt, lp)[0, 1]),
                "median_ratio": float(np.median(ratio))}


@torch.no_grad()
def band_errors(model: DilatedDenoiser, train_images: torch.Tensor, test_images: torch.Tensor, sigmas,
                seed: int = 1, batch: int = 256) -> BandErrors:
    """Per-frequency error of the trained denoiser, of the Wiener filter, and the Gaussian prediction, per sigma.

    train_images, test_images: (N, 1, H, W). The prediction uses the per-frequency power of the *training* images
    (what the model could have learned); both denoisers are scored on the *test* images with the same noise.
    """
    device = next(model.parameters()).device
    power2d = spectral.fft_power(train_images.double()).mean(0)         # (H, W), noise has power 1 per bin
    freqs, signal = spectral.radial_average(spectral.fft_power(test_images.double()).mean(0))
    mean = train_images.mean()
    g = torch.Generator().manual_seed(seed)
    trained, wiener, predicted, heuristic = [], [], [], []
    for s in sigmas:
        a = vp_alpha(s)
        err_t = torch.zeros_like(power2d)
        err_w = torch.zeros_like(power2d)
        for i in range(0, test_images.shape[0], batch):
            x0 = test_images[i:i + batch]
            x_t = a * x0 + s * torch.randn(x0.shape, generator=g)
            n = x0.shape[0]
            pred = model(x_t.to(device), torch.full((n,), a, device=device), torch.full((n,), float(s), device=device))
            err_t += spectral.fft_power((pred.cpu() - x0).double()).sum(0)
            # Wiener on the centred signal; the mean is known exactly under the stationary model
            w = theory.wiener_denoise((x_t - a * mean).double(), power2d, a, s) + mean
            err_w += spectral.fft_power(w - x0.double()).sum(0)
        n_test = test_images.shape[0]
        trained.append(spectral.radial_average(err_t / n_test)[1])
        wiener.append(spectral.radial_average(err_w / n_test)[1])
        predicted.append(spectral.radial_average(theory.residual_power(power2d, a, s))[1])
        heuristic.append(spectral.radial_average(power2d.clamp(max=s ** 2 / a ** 2))[1])
    stack = lambda rows: torch.stack(rows).numpy()  # noqa: E731
    return BandErrors(freqs.numpy(), np.asarray(sigmas, dtype=float), signal.numpy(), stack(trained), stack(wiener),
                      stack(predicted), stack(heuristic))


def train_seeds(train_images: torch.Tensor, test_images: torch.Tensor, sigmas, seeds: Sequence[int],
                **fit_kw) -> dict[int, BandErrors]:
    """One denoiser per training seed (:func:`train_denoiser` with ``seed=s`` and ``fit_kw``), each scored by
    :func:`band_errors` on the same test images and the same evaluation noise: {seed: BandErrors}. The seed sets
    the initial weights, the batches, the crops and the training noise; the data and the evaluation stay fixed, so
    the seeds differ only in what training draws. train_images, test_images: (N, 1, H, W)."""
    if not seeds:
        raise ValueError("no seeds given: pass at least one training seed, e.g. seeds=(0, 1, 2).")
    if "seed" in fit_kw:
        raise ValueError("pass the training seeds as `seeds`, not `seed` in the training keywords.")
    return {int(s): band_errors(train_denoiser(train_images, sigmas, seed=int(s), **fit_kw)[0], train_images,
                                test_images, sigmas) for s in seeds}


def bar_by_seed(runs: Mapping[int, BandErrors], bar: dict = BAR) -> dict[int, tuple[bool, float]]:
    """{seed: (meets ``bar``, share of cells within its factor)} of the trained errors of :func:`train_seeds`."""
    return {s: (meets_bar(e.trained, e.predicted, bar), within_share(e.trained, e.predicted, bar["factor"]))
            for s, e in runs.items()}


def white_control(like: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Gaussian white-noise images with the same shape and total variance as ``like``: a flat-spectrum control."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(like.shape, generator=g) * like.std()


def learnable_map(psd: np.ndarray, path, ts: np.ndarray) -> np.ndarray:
    """Learnable fraction SNR/(1+SNR) over (time, frequency) for a noise path with ``alpha(t)``, ``sigma(t)``.

    psd: (K,) per-frequency power (same convention as :func:`smlib.spectral.fft_power`: white noise has power 1);
    ts: (T,) diffusion times in [0, 1]. Returns (T, K).
    """
    t = torch.as_tensor(ts, dtype=torch.float64)
    a = path.alpha(t).double().numpy()[:, None]
    s = path.sigma(t).double().numpy()[:, None]
    return theory.learnable_fraction(np.asarray(psd)[None, :], a, s)


def resolving_times(psd: np.ndarray, path, n_grid: int = 2001) -> np.ndarray:
    """Diffusion time t*(f) at which each frequency reaches SNR = 1 (resolved before t*, noise-dominated after).

    Read backwards, this is the order in which the reverse process resolves frequencies. psd: (K,) -> (K,).
    """
    ts = np.linspace(0.0, 1.0, n_grid)
    frac = learnable_map(psd, path, ts)                   # decreasing in t for every frequency
    return np.array([ts[np.argmax(frac[:, k] < 0.5)] if (frac[:, k] < 0.5).any() else 1.0
                     for k in range(frac.shape[1])])
