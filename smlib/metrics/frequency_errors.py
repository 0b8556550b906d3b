"""Proposition 3.1 on a trained latent diffusion model: its per-frequency denoising error against the Gaussian theory.

For a stationary Gaussian signal with PSD S(f), the MSE-optimal denoiser at noise level t leaves the error
S(f) / (1 + alpha_t^2 S(f) / sigma_t^2) at frequency f: a band is recovered once its SNR passes 1, so power-law
signals are learned coarse to fine. :func:`frequency_errors` measures what a trained model actually leaves, per
radial FFT ring, on held-out latents, next to that prediction and to the Wiener filter (the Gaussian-optimal
linear denoiser, which checks the closed form on the same draws).
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
    the Wiener filter (the Gaussian-optimal linear denoiser, a check of the closed form) and the prediction
    S(f) / (1 + SNR_t(f)) from the training latents' per-channel PSD."""

    freqs: np.ndarray
    ts: np.ndarray
    signal: np.ndarray
    trained: np.ndarray
    wiener: np.ndarray
    predicted: np.ndarray
    counts: np.ndarray

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
        return {"unrecovered_trained": float(self.unrecovered_share("trained").mean()),
                "unrecovered_predicted": float(self.unrecovered_share("predicted").mean()),
                "unrecovered_wiener": float(self.unrecovered_share("wiener").mean()),
                "high_band_share": self.high_band_share(),
                "top_ring_error_ratio": float(np.mean(top))}

    def to_dict(self) -> dict:
        return {k: np.asarray(getattr(self, k)).tolist() for k in
                ("freqs", "ts", "signal", "trained", "wiener", "predicted", "counts")}

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
    (channels treated as independent, then averaged, like the errors). The same noise (``seed``) is used for the
    model and the Wiener filter. Everything is reduced in float64 on the CPU."""
    device = next(model.parameters()).device
    was = model.training
    model.eval()
    power2d = channel_power(train_u.double())                          # (d, h, w)
    mean = train_u.double().mean(dim=(0, 2, 3)).reshape(1, -1, 1, 1)    # the stationary model's per-channel mean
    freqs, signal = spectral.radial_average(channel_power(test_u.double()).mean(0))
    g = torch.Generator().manual_seed(int(seed))
    trained, wiener, predicted = [], [], []
    try:
        for t in ts:
            tt = torch.tensor([float(t)], dtype=torch.float64)
            a, s = float(formulation.alpha(tt)[0]), float(formulation.sigma(tt)[0])
            err_t = torch.zeros_like(power2d)
            err_w = torch.zeros_like(power2d)
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
            n = test_u.shape[0]
            trained.append(spectral.radial_average((err_t / n).mean(0))[1])
            wiener.append(spectral.radial_average((err_w / n).mean(0))[1])
            predicted.append(spectral.radial_average(theory.residual_power(power2d, a, s).mean(0))[1])
    finally:
        model.train(was)
    stack = lambda rows: torch.stack(rows).numpy()  # noqa: E731
    return FrequencyErrors(freqs.numpy(), np.asarray(ts, dtype=float), signal.numpy(), stack(trained), stack(wiener),
                           stack(predicted), ring_counts(*test_u.shape[-2:]))


__all__ = ["FrequencyErrors", "channel_power", "ring_counts", "frequency_errors"]
