"""RMS spatial contrast (RMSC) of a token field and its directional DCT spectrum (Prop. 3.2).

A feature map x in R^{C x H x W} is a field of T = H W tokens x_t in R^C. Its *direction field* keeps only the
direction of each token, u_t = x_t / ||x_t||. iREPA's RMSC is the RMS distance of directions from their mean,

    RMSC^2 = (1/T) sum_t ||u_t - mean(u)||^2,

and Prop. 3.2 says this equals the DC-free DCT energy of the direction field divided by T, which is also
1 - ||mean(u)||^2 because every u_t has unit norm.
"""
from __future__ import annotations

import torch

from smlib.spectral.dct import dct2
from smlib.spectral.filters import difference_of_gaussians


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


def spatial_normalize(x: torch.Tensor, gamma: float = 1.0, eps: float = 1e-6) -> torch.Tensor:
    """iREPA's spatial normalisation of a target: per channel over tokens, (x - gamma * mean) / (std + eps).

    x: (B, C, H, W) -> (B, C, H, W). With gamma = 1 this removes each channel's DC exactly; iREPA uses gamma 0.6
    (LDM code) or 0.8 (JiT code). ``std`` is the population standard deviation over the H W tokens.
    """
    mean = x.mean(dim=(-2, -1), keepdim=True)
    std = x.std(dim=(-2, -1), keepdim=True, correction=0)
    return (x - gamma * mean) / (std + eps)


def dog_normalize(x: torch.Tensor, sigma1: float, sigma2: float, eps: float = 1e-6, mode: str = "replicate") -> torch.Tensor:
    """DoG-REPA target: band-pass each channel with G_s1 - G_s2 over the token grid, then divide by its std.

    x: (B, C, H, W) -> (B, C, H, W). Sigmas are in tokens. ``replicate`` borders because token grids are small.
    """
    y = difference_of_gaussians(x, sigma1, sigma2, mode=mode)
    return y / (y.std(dim=(-2, -1), keepdim=True, correction=0) + eps)
