"""Proposition 3.1 on a trained latent diffusion model: its per-frequency denoising error against the Gaussian theory.

For a stationary Gaussian signal with PSD S(f), the MSE-optimal denoiser at noise level t leaves the error
S(f) / (1 + alpha_t^2 S(f) / sigma_t^2) at frequency f: a band is recovered once its SNR passes 1, so power-law
signals are learned coarse to fine. :func:`frequency_errors` measures what a trained model actually leaves, per
radial FFT ring, on held-out latents, next to that prediction and to the Wiener filter (the Gaussian-optimal
linear denoiser, which checks the closed form on the same draws).

Two linear references. The per-channel one treats the latent channels as independent fields (a diagonal spectral
model); the multichannel one (``*_mc``) uses the cross-channel spectra, so at each frequency it reads every
channel to estimate each, and it is the best linear denoiser of a stationary Gaussian field. Latent channels of an
autoencoder correlate, so only the second is a lower bound for every linear denoiser.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from smlib import spectral, theory
from smlib.diffusion import Formulation

@dataclass
class FrequencyErrors:
    """Per-frequency denoising error of a trained model on normalised latents, against the Gaussian theory.

    freqs (K,) cycles per latent pixel; ts (T,) diffusion times; signal (K,) radial PSD S(f) of the held-out
    latents; trained / wiener / predicted (T, K): error power E|X0_hat - X0|^2 per ring of the trained model, of
    the per-channel Wiener filter (a check of the closed form) and the prediction S(f) / (1 + SNR_t(f)) from the
    training latents' per-channel PSD; wiener_mc / predicted_mc (T, K): the same for the multichannel Wiener
    filter (cross-channel spectra; None in records made before it existed)."""

    freqs: np.ndarray
    ts: np.ndarray
    signal: np.ndarray
    trained: np.ndarray
    wiener: np.ndarray
    predicted: np.ndarray
    counts: np.ndarray
    wiener_mc: np.ndarray | None = None
    predicted_mc: np.ndarray | None = None

    def learned_fraction(self, which: str = "trained") -> np.ndarray:
        """1 - error / S per ring, (T, K)."""
        return 1.0 - getattr(self, which) / self.signal[None, :]

    def unrecovered_share(self, which: str = "trained") -> np.ndarray:
        """Share of the latent variance (DC excluded) left unrecovered at each t: sum_f err / sum_f S, (T,)."""
        w = self.counts[None, :]
        return (getattr(self, which) * w).sum(1) / (self.signal[None, :] * w).sum(1)

    def high_band_share(self, cutoff: float = 0.25) -> float:
        """Share of the latent power (DC excluded) at |f| > cutoff cycles/latent-pixel (half of Nyquist)."""
        p = self.signal * self.counts
        return float(p[self.freqs > cutoff].sum() / p.sum())

    def summary(self) -> dict:
        """Scalars for tables: t-averaged unrecovered shares (trained, predicted, Wiener), their ratio, the
        high-band share of the latent power, and the trained/predicted error ratio in the top ring."""
        top = self.trained[:, -1] / self.predicted[:, -1]
        out = {"unrecovered_trained": float(self.unrecovered_share("trained").mean()),
               "unrecovered_predicted": float(self.unrecovered_share("predicted").mean()),
               "unrecovered_wiener": float(self.unrecovered_share("wiener").mean()),
               "high_band_share": self.high_band_share(),
               "top_ring_error_ratio": float(np.mean(top))}
        if self.predicted_mc is not None:
            out["unrecovered_predicted_mc"] = float(self.unrecovered_share("predicted_mc").mean())
            out["unrecovered_wiener_mc"] = float(self.unrecovered_share("wiener_mc").mean())
        return out

    def to_dict(self) -> dict:
        return {k: np.asarray(getattr(self, k)).tolist() for k in
                ("freqs", "ts", "signal", "trained", "wiener", "predicted", "counts", "wiener_mc", "predicted_mc")
                if getattr(self, k) is not None}

    @classmethod
    def from_dict(cls, d: dict) -> "FrequencyErrors":
        return cls(**{k: np.asarray(v, dtype=float) for k, v in d.items()})


def channel_power(x: torch.Tensor) -> torch.Tensor:
    """Per-channel periodogram |FFT|^2 / (h w) of each image's centred channels, averaged over the batch:
    x (B, d, h, w) -> (d, h, w) (the convention of :func:`smlib.spectral.fft_power`; white noise has power 1)."""
    b, d, h, w = x.shape
    return spectral.fft_power(x.reshape(b * d, 1, h, w)).reshape(b, d, h, w).mean(0)


def ring_counts(h: int, w: int) -> np.ndarray:
    """Number of FFT coefficients in each ring of :func:`smlib.spectral.radial_average` (rings 1..N/2), (K,)."""
    ring = torch.round(spectral.radial_frequency_grid(h, w) * max(h, w)).long()
    return np.array([int((ring == k).sum()) for k in range(1, max(h, w) // 2 + 1)], dtype=float)


@torch.no_grad()
def frequency_errors(model: nn.Module, formulation: Formulation, test_u: torch.Tensor, train_u: torch.Tensor,
                     ts=(0.1, 0.3, 0.5, 0.7, 0.9), seed: int = 0, batch_size: int = 256,
                     labels: torch.Tensor | None = None) -> FrequencyErrors:
    """Per-ring error power of the model's x0 estimate at several t, with the Gaussian prediction of Prop. 3.1.

    test_u: (N, d, h, w) held-out normalised latents the model is scored on; train_u: (M, d, h, w) normalised
    training latents whose per-channel PSD S_c(f) gives the prediction S_c(f) / (1 + alpha_t^2 S_c(f) / sigma_t^2)
    (channels treated as independent, then averaged, like the errors), and its multichannel counterpart from the
    cross-channel spectra (:func:`smlib.theory.residual_power_multichannel`). The same noise (``seed``) is used for
    the model and both Wiener filters. Everything is reduced in float64 on the CPU."""
    device = next(model.parameters()).device
    was = model.training
    model.eval()
    power2d = channel_power(train_u.double())                          # (d, h, w)
    cross2d = theory.cross_power(train_u.double())                     # (h, w, d, d)
    mean = train_u.double().mean(dim=(0, 2, 3)).reshape(1, -1, 1, 1)    # the stationary model's per-channel mean
    freqs, signal = spectral.radial_average(channel_power(test_u.double()).mean(0))
    g = torch.Generator().manual_seed(int(seed))
    trained, wiener, predicted, wiener_mc, predicted_mc = [], [], [], [], []
    try:
        for t in ts:
            tt = torch.tensor([float(t)], dtype=torch.float64)
            a, s = float(formulation.alpha(tt)[0]), float(formulation.sigma(tt)[0])
            err_t = torch.zeros_like(power2d)
            err_w = torch.zeros_like(power2d)
            err_mc = torch.zeros_like(power2d)
            for i in range(0, test_u.shape[0], batch_size):
                x0 = test_u[i:i + batch_size].double()
                eps = torch.randn(x0.shape, generator=g, dtype=torch.float64)
                x_t = a * x0 + s * eps
                tb = torch.full((x0.shape[0],), float(t), device=device)
                y = labels[i:i + batch_size].to(device) if labels is not None else None
                out = model(x_t.float().to(device), tb, y)
                x0_hat, _ = formulation.to_x0_eps(out[:, : x0.shape[1]].double().cpu(), x_t, tt.expand(x0.shape[0]))
                err_t += channel_power(x0_hat - x0) * x0.shape[0]
                w_hat = theory.wiener_denoise(x_t - a * mean, power2d, a, s) + mean
                err_w += channel_power(w_hat - x0) * x0.shape[0]
                mc_hat = theory.wiener_denoise_multichannel(x_t - a * mean, cross2d, a, s) + mean
                err_mc += channel_power(mc_hat - x0) * x0.shape[0]
            n = test_u.shape[0]
            ring = lambda p: spectral.radial_average(p.mean(0))[1]  # noqa: E731 - (d, h, w) -> (K,)
            trained.append(ring(err_t / n))
            wiener.append(ring(err_w / n))
            predicted.append(ring(theory.residual_power(power2d, a, s)))
            wiener_mc.append(ring(err_mc / n))
            predicted_mc.append(ring(theory.residual_power_multichannel(cross2d, a, s)))
    finally:
        model.train(was)
    stack = lambda rows: torch.stack(rows).numpy()  # noqa: E731
    return FrequencyErrors(freqs.numpy(), np.asarray(ts, dtype=float), signal.numpy(), stack(trained), stack(wiener),
                           stack(predicted), ring_counts(*test_u.shape[-2:]), stack(wiener_mc), stack(predicted_mc))


__all__ = ["FrequencyErrors", "channel_power", "ring_counts", "frequency_errors"]
