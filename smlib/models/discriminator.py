"""PatchGAN discriminator (Isola et al. 2017) as used by SD-VAE and the Spectrum Matching code (notes §1.5).

    conv 4x4 s2 (3 -> 64), LeakyReLU 0.2
    n_layers times: conv 4x4 (no bias) doubling the width (stride 2, the last one stride 1), BatchNorm, LeakyReLU 0.2
    conv 4x4 s1 -> 1 logit per patch

With the defaults (start 64, 3 layers) the widths are 64, 128, 256, 512 and each logit sees a 70x70 patch; a 256^2
image gives a 30x30 logit map. Inputs must be at least 32 px a side. Weights are initialised N(0, 0.02) for convs and
N(1, 0.02) for BatchNorm scales (pix2pix/CompVis; the authors' ``init_weights`` uses std 0.2 for convs, passed as
``init_std=0.2`` if wanted). Under multi-GPU training convert BatchNorm to SyncBatchNorm as the authors do.
"""
from __future__ import annotations

import torch
from torch import nn


class PatchDiscriminator(nn.Module):
    """x: (B, C, H, W) in [-1, 1] -> logits (B, 1, H', W') (H' = 30 for H = 256 with the defaults)."""

    def __init__(self, in_channels: int = 3, start_dim: int = 64, n_layers: int = 3, kernel_size: int = 4,
                 leaky_slope: float = 0.2, init_std: float = 0.02):
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"PatchDiscriminator needs n_layers >= 1, got {n_layers}.")
        layers: list[nn.Module] = [nn.Conv2d(in_channels, start_dim, kernel_size, stride=2, padding=1),
                                   nn.LeakyReLU(leaky_slope)]
        width = start_dim
        for i in range(n_layers):
            stride = 2 if i < n_layers - 1 else 1
            layers += [nn.Conv2d(width, 2 * width, kernel_size, stride=stride, padding=1, bias=False),
                       nn.BatchNorm2d(2 * width), nn.LeakyReLU(leaky_slope)]
            width *= 2
        layers.append(nn.Conv2d(width, 1, kernel_size, stride=1, padding=1))
        self.model = nn.Sequential(*layers)
        self.init_std = float(init_std)
        self.apply(self._init)

    def _init(self, m: nn.Module) -> None:
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, 0.0, self.init_std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] < 32 or x.shape[-2] < 32:
            raise ValueError(f"PatchDiscriminator needs images of at least 32x32, got {x.shape[-2]}x{x.shape[-1]}.")
        return self.model(x)


__all__ = ["PatchDiscriminator"]
