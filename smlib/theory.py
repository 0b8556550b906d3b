"""Closed forms behind the two propositions.

**Prop. 3.1 (spectral bias of MSE diffusion), Gaussian form.** The forward process x_t = alpha_t x_0 + sigma_t eps
with white eps is, in any orthonormal Fourier/DCT basis, an independent scalar channel per frequency f:
X_t(f) = alpha_t X_0(f) + sigma_t E(f), E(f) ~ N(0, 1). If X_0(f) has variance S(f) (the PSD) and is treated as
Gaussian (the "local Gaussian approximation"), the MMSE estimate of X_0(f) is the Wiener gain times X_t(f) and

    SNR_t(f)            = alpha_t^2 S(f) / sigma_t^2
    residual error      = E|X_0 - X0_hat|^2 = S(f) / (1 + SNR_t(f))
    learnable power     = E|X0_hat|^2      = S(f) SNR_t(f) / (1 + SNR_t(f))    (the MSE reduction available)

Because the pixel MSE is a sum of these per-frequency terms (Parseval), training distributes its effort by the
learnable power: where S(f) ~ K f^-alpha, high frequencies have SNR << 1 at all but the smallest noise levels and
offer almost nothing to learn.

**Prop. 3.2 (RMSC identity)** lives in :mod:`smlib.spectral.contrast`; :func:`rmsc_identity_terms` returns its
three sides for a check.
"""
from __future__ import annotations

import numpy as np
import torch

from smlib.spectral.contrast import directional_energy, rmsc, unit_tokens


def snr(power, alpha, sigma):
    """Per-frequency SNR alpha^2 S / sigma^2. Broadcasts numpy arrays or tensors (e.g. S (F,), alpha (T, 1))."""
    return alpha**2 * power / sigma**2


def wiener_gain(power, alpha, sigma):
    """MMSE gain for X_0 given X_t at one frequency: alpha S / (alpha^2 S + sigma^2)."""
    return alpha * power / (alpha**2 * power + sigma**2)


# The three forms below are written as alpha^2 S / (alpha^2 S + sigma^2) rather than SNR / (1 + SNR): identical
# algebra, but finite at sigma = 0 (t = 0), where the SNR is infinite.
def learnable_fraction(power, alpha, sigma):
    """Share of a frequency's power the denoiser can recover: SNR / (1 + SNR) in [0, 1]."""
    signal = alpha**2 * power
    return signal / (signal + sigma**2)


def residual_power(power, alpha, sigma):
    """MMSE error per frequency under the Gaussian approximation: S / (1 + SNR)."""
    return power * (1.0 - learnable_fraction(power, alpha, sigma))


def learnable_power(power, alpha, sigma):
    """Recoverable signal power per frequency: S SNR / (1 + SNR) = S - residual."""
    return power * learnable_fraction(power, alpha, sigma)


def resolving_logsnr(power):
    """Log-SNR of the noise level (log alpha^2/sigma^2) at which a frequency of power S reaches SNR = 1: -log S.

    Along the reverse process the log-SNR rises monotonically, so frequencies are resolved in order of decreasing
    power; for a power law that is coarse to fine ("spectral autoregression").
    """
    return -np.log(np.asarray(power, dtype=float))


def wiener_denoise(x_t: torch.Tensor, power2d: torch.Tensor, alpha: float, sigma: float) -> torch.Tensor:
    """The Gaussian-optimal (Wiener) x_0 estimate, applied per FFT frequency and channel.

    x_t: (B, C, H, W); power2d: (C, H, W) or (H, W) per-frequency variance of x_0 in the same unnormalised-FFT
    convention as :func:`smlib.spectral.fft_power` (|FFT|^2 / (H W)); the noise then has power 1 per bin.
    The per-channel mean of x_0 is not part of the stationary model: pass centred data (or add the mean back).
    """
    spec = torch.fft.fft2(x_t)
    gain = wiener_gain(power2d.to(spec.real.dtype), alpha, sigma)
    return torch.fft.ifft2(spec * gain).real


def cross_power(x: torch.Tensor) -> torch.Tensor:
    """Cross-channel periodogram of each image's centred channels, averaged over the batch.

    x: (B, C, H, W) -> (H, W, C, C) complex, Hermitian at each frequency: S_cd(f) = E[X_c(f) conj(X_d(f))] / (H W),
    the convention of :func:`smlib.spectral.fft_power`, so the diagonal is each channel's periodogram."""
    b, _, h, w = x.shape
    spec = torch.fft.fft2(x - x.mean(dim=(-2, -1), keepdim=True))
    return torch.einsum("bchw,bdhw->hwcd", spec, spec.conj()) / (b * h * w)


def _joint_solve(cross: torch.Tensor, alpha: float, sigma: float) -> torch.Tensor:
    """(alpha^2 S + sigma^2 I)^-1 S at each frequency, (H, W, C, C); the two factors commute (both are functions
    of the same Hermitian S), so this is also S (alpha^2 S + sigma^2 I)^-1. Needs sigma > 0 where S is singular."""
    eye = torch.eye(cross.shape[-1], dtype=cross.dtype, device=cross.device)
    return torch.linalg.solve(alpha**2 * cross + sigma**2 * eye, cross)


def wiener_denoise_multichannel(x_t: torch.Tensor, cross: torch.Tensor, alpha: float, sigma: float) -> torch.Tensor:
    """The Gaussian-optimal linear x_0 estimate with the channels taken jointly at each FFT frequency.

    x_t: (B, C, H, W) centred; cross: (H, W, C, C) from :func:`cross_power`. At frequency f,
    X0_hat(f) = alpha S(f) (alpha^2 S(f) + sigma^2 I)^-1 X_t(f): the MMSE estimate when the latent is a stationary
    Gaussian field whose channels may correlate. With a diagonal S it is :func:`wiener_denoise`."""
    gain = alpha * _joint_solve(cross, alpha, sigma)
    out = torch.einsum("hwcd,bdhw->bchw", gain, torch.fft.fft2(x_t).to(gain.dtype))
    return torch.fft.ifft2(out).real


def residual_power_multichannel(cross: torch.Tensor, alpha: float, sigma: float) -> torch.Tensor:
    """Per-channel MMSE error of :func:`wiener_denoise_multichannel`, (C, H, W): the diagonal of the error
    covariance S - alpha^2 S (alpha^2 S + sigma^2 I)^-1 S = sigma^2 S (alpha^2 S + sigma^2 I)^-1. Never above
    :func:`residual_power` of the diagonal, since the joint estimate also reads the other channels."""
    err = sigma**2 * _joint_solve(cross, alpha, sigma)
    return torch.diagonal(err, dim1=-2, dim2=-1).real.permute(2, 0, 1)


def rmsc_identity_terms(x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The three sides of Prop. 3.2 for a token field x: (B, C, H, W) -> dict of (B,) tensors.

    ``rmsc_sq`` = RMSC^2, ``dct_energy`` = DC-free DCT energy of the direction field / T,
    ``one_minus_mean_sq`` = 1 - ||mean unit token||^2.
    """
    mean = unit_tokens(x).mean(dim=(-2, -1))
    return {
        "rmsc_sq": rmsc(x) ** 2,
        "dct_energy": directional_energy(x),
        "one_minus_mean_sq": 1.0 - mean.square().sum(dim=1),
    }
