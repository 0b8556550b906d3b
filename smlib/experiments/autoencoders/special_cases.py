"""Chapter 4: the equivariance regularizers read as spectral masks.

Scale Equivariance trains ``D(down(z)) ~ down(x)``; DSM trains ``D(LP(z)) ~ LP(x)`` with a shared DCT low-pass.
The two meet at **DCT-domain resizing**: keeping the lowest ``h' x w'`` orthonormal DCT coefficients of an
``h x w`` array and inverting at the small size (times ``sqrt(h' w' / h w)``, which keeps the mean) is a
downsampling whose output holds *exactly* the low-passed content. So Scale Equivariance is DSM with one square
mask over the whole grid, read out on a coarser grid. :func:`resize_agreement` measures how close the bilinear
resize that Scale Equivariance actually uses is to that exact spectral downsampling.
"""
from __future__ import annotations

import math

import torch

from smlib.metrics.image import psnr
from smlib.spectral import dct2, idct2, resize


def dct_resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Downsample by truncating the orthonormal DCT. x: (..., H, W) -> (..., h, w), h <= H, w <= W.

    The result's DCT equals the input's lowest (h, w) coefficients times sqrt(h w / H W), so a constant image
    stays the same constant.
    """
    h, w = size
    H, W = x.shape[-2:]
    if h > H or w > W:
        raise ValueError(f"dct_resize only downsamples: {(H, W)} -> {(h, w)}.")
    coeffs = dct2(x)[..., :h, :w] * math.sqrt(h * w / (H * W))
    return idct2(coeffs)


def resize_agreement(x: torch.Tensor, factors=(2, 4), method: str = "bilinear") -> dict[int, float]:
    """Mean PSNR (dB, peak-to-peak 2 for [-1, 1] images) between ``method`` downsampling and :func:`dct_resize`.

    x: (B, C, H, W) in [-1, 1]. ``method``: ``bilinear`` (Scale Equivariance's choice, no antialiasing) or any
    :func:`smlib.spectral.resize` method. -> {factor: dB}.
    """
    out = {}
    for f in factors:
        size = (x.shape[-2] // f, x.shape[-1] // f)
        if method == "bilinear":
            small = torch.nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False)
        else:
            small = resize(x, size, method=method)
        out[int(f)] = float(psnr(small.clamp(-1, 1), dct_resize(x, size).clamp(-1, 1)).mean())
    return out


__all__ = ["dct_resize", "resize_agreement"]
