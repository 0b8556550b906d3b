"""A small noise-conditioned pixel denoiser for the Prop. 3.1 experiment.

Dilated convolutions (dilations 1, 2, 4, 8, ..., back to 1) give a receptive field larger than a 32 x 32 image at
the cost of a plain CNN: at high noise the optimal denoiser averages over large areas to recover low frequencies,
so a small receptive field would bias the very comparison we want to make. The output uses EDM's preconditioning
(Karras et al. 2022) for the VP channel x_t = alpha x_0 + sigma eps with data variance v:

    x0_hat = c_skip x_t + c_out F(c_in x_t, sigma),   c_skip = alpha v / (alpha^2 v + sigma^2),
    c_out = sigma sqrt(v) / sqrt(alpha^2 v + sigma^2),  c_in = 1 / sqrt(alpha^2 v + sigma^2),

so that c_skip x_t alone is the best *scalar* guess and the network only learns the correction.
"""
from __future__ import annotations

import math

import torch
from torch import nn


class DilatedDenoiser(nn.Module):
    """x0-predicting denoiser. forward(x_t (B, C, H, W), alpha (B,), sigma (B,)) -> x0_hat (B, C, H, W)."""

    def __init__(self, channels: int = 1, width: int = 48, depth: int = 7, data_var: float = 0.25):
        super().__init__()
        dilations = [2 ** min(i, depth - 1 - i) for i in range(depth)]  # 1, 2, 4, ..., 4, 2, 1
        layers: list[nn.Module] = [nn.Conv2d(channels + 1, width, 3, padding=1)]
        for d in dilations[1:-1]:
            layers += [nn.SiLU(), nn.Conv2d(width, width, 3, padding=d, dilation=d)]
        layers += [nn.SiLU(), nn.Conv2d(width, channels, 3, padding=1)]
        self.net = nn.Sequential(*layers)
        self.data_var = data_var
        self.receptive_field = 1 + 2 * (1 + sum(dilations[1:-1]) + 1)

    def forward(self, x_t: torch.Tensor, alpha: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        v = self.data_var
        a, s = alpha.view(-1, 1, 1, 1), sigma.view(-1, 1, 1, 1)
        total = a**2 * v + s**2
        c_skip, c_out, c_in = a * v / total, s * math.sqrt(v) / total.sqrt(), 1.0 / total.sqrt()
        noise_map = torch.log(s).expand(-1, 1, *x_t.shape[-2:])
        return c_skip * x_t + c_out * self.net(torch.cat([c_in * x_t, noise_map], dim=1))
