"""RMS spatial contrast (RMSC) of a token field and its directional DCT spectrum (Prop. 3.2).

A feature map x in R^{C x H x W} is a field of T = H W tokens x_t in R^C. Its *direction field* keeps only the
direction of each token, u_t = x_t / ||x_t||. iREPA's RMSC is the RMS distance of directions from their mean,

    RMSC^2 = (1/T) sum_t ||u_t - mean(u)||^2,

and Prop. 3.2 says this equals the DC-free DCT energy of the direction field divided by T, which is also
1 - ||mean(u)||^2 because every u_t has unit norm.
"""
from __future__ import annotations

import torch

from smlib.spectral.dct import dct2, idct2


def unit_tokens(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Direction field: each token divided by its channel norm. x: (B, C, H, W) -> (B, C, H, W)."""
    return x / x.norm(dim=1, keepdim=True).clamp(min=eps)


def rmsc(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """RMS spatial contrast of each feature map, as in iREPA. x: (B, C, H, W) -> (B,)."""
    u = unit_tokens(x, eps)
    mean = u.mean(dim=(-2, -1), keepdim=True)
    return (u - mean).square().sum(dim=1).mean(dim=(-2, -1)).sqrt()


def directional_spectrum(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """DCT energy of the direction field at every spatial frequency, summed over channels.

    x: (B, C, H, W) -> (B, H, W); entry [:, 0, 0] is the DC energy T * ||mean(u)||^2, and the whole map sums to T.
    """
    return dct2(unit_tokens(x, eps)).square().sum(dim=1)


def directional_energy(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """DC-free directional spectral energy per token, the right-hand side of Prop. 3.2. x: (B, C, H, W) -> (B,)."""
    spec = directional_spectrum(x, eps)
    t = spec.shape[-2] * spec.shape[-1]
    return (spec.sum(dim=(-2, -1)) - spec[:, 0, 0]) / t


def spatial_normalize(x: torch.Tensor, gamma: float = 1.0, eps: float = 1e-6, correction: int = 1) -> torch.Tensor:
    """iREPA's spatial normalisation of a target: per channel over tokens, (x - gamma * mean) / (std + eps).

    x: (B, C, H, W) -> (B, C, H, W). With gamma = 1 this removes each channel's DC exactly; iREPA uses gamma 0.6
    (LDM code) or 0.8 (JiT code). ``std`` over the H W tokens is unbiased (``correction=1``, torch's default, as in
    ``End2End-Diffusion/iREPA@99ad4ac2:ldm/utils.py::spatial_zscore``); ``correction=0`` gives the population std.
    The two differ by the same factor in every channel, so token directions (and RMSC) barely move.
    """
    mean = x.mean(dim=(-2, -1), keepdim=True)
    std = x.std(dim=(-2, -1), keepdim=True, correction=correction)
    return (x - gamma * mean) / (std + eps)


def gaussian_dct_gain(n: int, sigma: float, truncate: float = 4.0, dtype=torch.float64, device=None) -> torch.Tensor:
    """Gain of a Gaussian blur on each orthonormal DCT-II coefficient of an n-point signal, (n,).

    A blur with half-sample symmetric extension (``d c b a | a b c d``, scipy.ndimage's ``mode="reflect"``) is the
    circular blur of the 2n-periodic even extension, which the DCT-II diagonalises: coefficient u is multiplied by
    g(u) = sum_k w_k cos(pi u k / n) over the kernel's taps w_k (radius ``int(truncate sigma + 0.5)``, as scipy
    truncates), exactly. g(0) = 1: the blur keeps the mean.
    """
    radius = int(truncate * sigma + 0.5)
    k = torch.arange(-radius, radius + 1, dtype=torch.float64)
    w = torch.exp(-0.5 * (k / sigma) ** 2)
    w = w / w.sum()
    u = torch.arange(n, dtype=torch.float64)
    gain = (w[None, :] * torch.cos(torch.pi * u[:, None] * k[None, :] / n)).sum(dim=1)
    gain[0] = 1.0
    return gain.to(dtype=dtype, device=device)


def dog_dct_gain(h: int, w: int, sigma1: float, sigma2: float, truncate: float = 4.0, dtype=torch.float64,
                 device=None) -> torch.Tensor:
    """The DoG G_s1 - G_s2 on an h x w grid as a gain on its DCT-II coefficients: g1(u) g1(v) - g2(u) g2(v),
    (h, w), exactly 0 at DC (our derivation; ``tests/test_spectral.py`` checks it against scipy's reflect-mode DoG)."""
    g1 = [gaussian_dct_gain(n, sigma1, truncate, dtype, device) for n in (h, w)]
    g2 = [gaussian_dct_gain(n, sigma2, truncate, dtype, device) for n in (h, w)]
    gain = g1[0][:, None] * g1[1][None, :] - g2[0][:, None] * g2[1][None, :]
    gain[0, 0] = 0.0
    return gain


def dog_filter(x: torch.Tensor, sigma1: float, sigma2: float, truncate: float = 4.0) -> torch.Tensor:
    """The DoG band-pass of every channel on the token grid, computed exactly in the DCT domain:
    (..., H, W) -> (..., H, W). Equals a spatial DoG with half-sample symmetric padding; the mean is removed."""
    gain = dog_dct_gain(*x.shape[-2:], sigma1, sigma2, truncate, x.dtype, x.device)
    return idct2(dct2(x) * gain)


def dog_normalize(x: torch.Tensor, sigma1: float, sigma2: float, eps: float = 1e-6, std: bool = True) -> torch.Tensor:
    """DoG-REPA target (our instantiation): :func:`dog_filter` over the token grid, then each channel divided by
    its std over tokens (``std=False``: the band-pass alone). x: (B, C, H, W) -> (B, C, H, W); sigmas in tokens."""
    y = dog_filter(x, sigma1, sigma2)
    return y / (y.std(dim=(-2, -1), keepdim=True, correction=0) + eps) if std else y