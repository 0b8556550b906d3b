"""Gaussian blur, Difference-of-Gaussians, anti-aliased resizing, and their frequency responses.

Frequencies are in cycles per sample (pixel or token). For a Gaussian of standard deviation sigma samples the
continuous transfer function is H(f) = exp(-2 pi^2 sigma^2 f^2); a DoG G_s1 - G_s2 (s1 < s2) is then a band-pass
H(f) = exp(-2 pi^2 s1^2 f^2) - exp(-2 pi^2 s2^2 f^2) with H(0) = 0 and a single peak at
f* = sqrt( ln(s2^2 / s1^2) / (2 pi^2 (s2^2 - s1^2)) ).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

_PAD_MODES = {"reflect": "reflect", "replicate": "replicate", "circular": "circular", "zeros": "constant"}


def gaussian_kernel1d(sigma: float, radius: int | None = None, truncate: float = 4.0,
                      dtype=torch.float32, device=None) -> torch.Tensor:
    """Sampled, normalised Gaussian (2 * radius + 1,); radius defaults to round(truncate * sigma) as in scipy."""
    if sigma <= 0:
        raise ValueError(f"Gaussian sigma must be positive, got {sigma}.")
    radius = int(truncate * sigma + 0.5) if radius is None else int(radius)
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return (k / k.sum()).to(dtype=dtype, device=device)


def gaussian_blur(x: torch.Tensor, sigma: float, radius: int | None = None, mode: str = "reflect") -> torch.Tensor:
    """Separable Gaussian blur of the last two dims. x: (..., H, W) -> (..., H, W).

    ``mode`` is the border rule: ``reflect`` mirrors without repeating the edge sample (scipy's ``mirror``),
    ``replicate`` repeats it (scipy ``nearest``), ``circular`` wraps, ``zeros`` pads with 0.
    """
    if mode not in _PAD_MODES:
        raise ValueError(f"unknown border mode {mode!r}; use one of {sorted(_PAD_MODES)}.")
    k = gaussian_kernel1d(sigma, radius, dtype=x.dtype, device=x.device)
    r = (k.numel() - 1) // 2
    h, w = x.shape[-2:]
    if mode == "reflect" and (r >= h or r >= w):
        raise ValueError(f"blur radius {r} does not fit a {h}x{w} grid with mode='reflect'; "
                         f"use a smaller sigma or mode='replicate'.")
    lead = x.shape[:-2]
    y = x.reshape(-1, 1, h, w)
    y = F.pad(y, (r, r, r, r), mode=_PAD_MODES[mode])
    y = F.conv2d(y, k.view(1, 1, 1, -1))
    y = F.conv2d(y, k.view(1, 1, -1, 1))
    return y.reshape(*lead, h, w)


def difference_of_gaussians(x: torch.Tensor, sigma1: float, sigma2: float, mode: str = "reflect") -> torch.Tensor:
    """Band-pass ``G_sigma1 * x - G_sigma2 * x`` (sigma1 < sigma2). x: (..., H, W) -> (..., H, W)."""
    if not 0 < sigma1 < sigma2:
        raise ValueError(f"DoG needs 0 < sigma1 < sigma2, got sigma1={sigma1}, sigma2={sigma2}.")
    return gaussian_blur(x, sigma1, mode=mode) - gaussian_blur(x, sigma2, mode=mode)


def gaussian_response(f, sigma: float):
    """Continuous transfer function of a Gaussian blur at frequency f (cycles/sample)."""
    f = np.asarray(f, dtype=float)
    return np.exp(-2.0 * math.pi**2 * sigma**2 * f**2)


def dog_response(f, sigma1: float, sigma2: float):
    """Transfer function of G_sigma1 - G_sigma2: zero at DC, band-pass."""
    return gaussian_response(f, sigma1) - gaussian_response(f, sigma2)


def dog_peak_frequency(sigma1: float, sigma2: float) -> float:
    """Frequency (cycles/sample) where :func:`dog_response` peaks."""
    return math.sqrt(math.log(sigma2**2 / sigma1**2) / (2.0 * math.pi**2 * (sigma2**2 - sigma1**2)))


def resize(x: torch.Tensor, size: int | tuple[int, int], method: str = "antialias") -> torch.Tensor:
    """Resize (B, C, H, W) -> (B, C, h, w).

    ``antialias``: bicubic with the low-pass prefilter of PIL/torch (``antialias=True``), which removes content
    above the new Nyquist frequency before sampling. ``area``: box-filter averaging (exact for integer factors).
    ``bicubic``: plain bicubic interpolation without prefilter, as in the authors' ESM code; downsampling this way
    folds high frequencies back onto low ones (aliasing).
    """
    size = (size, size) if isinstance(size, int) else tuple(size)
    if method == "antialias":
        return F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=True)
    if method == "area":
        return F.interpolate(x, size=size, mode="area")
    if method == "bicubic":
        return F.interpolate(x, size=size, mode="bicubic", align_corners=False)
    raise ValueError(f"unknown resize method {method!r}; use 'antialias', 'area' or 'bicubic'.")


def downsampling_response(n: int, factor: int, method: str = "antialias") -> dict[str, np.ndarray]:
    """Measure what a downsampler does to each frequency, with pure cosines.

    For every integer frequency k = 1..n/2 (f = k/n cycles/input-pixel) a 1-D cosine pattern of size n x n is
    downsampled by ``factor``. Returns ``freqs`` (cycles/input-pixel), ``passed`` (amplitude kept at the same
    physical frequency; 0 above the new Nyquist 0.5/factor, where the frequency cannot exist) and ``aliased``
    (relative RMS energy that lands at any *other* frequency). An ideal anti-aliasing downsampler passes ~1
    below the new Nyquist and aliases ~0 everywhere.
    """
    m = n // factor
    freqs, passed, aliased = [], [], []
    xs = torch.arange(n, dtype=torch.float64)
    for k in range(1, n // 2 + 1):
        row = torch.cos(2 * math.pi * k * (xs + 0.5) / n)
        img = row.expand(n, n)[None, None].float()
        out = resize(img, m, method)[0, 0, 0].double()
        spec = torch.fft.rfft(out) / m
        # a cosine of amplitude A at output bin k shows up as |spec[k]| = A / 2; above the new Nyquist it cannot
        # exist at its own frequency, so everything that survives is alias
        kept = 2 * spec[k].abs().item() if k < m / 2 else 0.0
        energy = out.square().mean().item()
        kept_energy = kept**2 / 2
        freqs.append(k / n)
        passed.append(kept)
        aliased.append(math.sqrt(max(energy - kept_energy, 0.0) / 0.5))
    return {"freqs": np.array(freqs), "passed": np.array(passed), "aliased": np.array(aliased)}


#: when the ESM image target is blurred before resizing (the authors blur unless the latent is 32 x 32)
ESM_BLUR_RULES = ("authors", "always", "never")


def esm_image_target(x: torch.Tensor, size: tuple[int, int], *, resize_method: str = "bicubic",
                     blur: str = "authors", blur_sigma: float = 1.2, blur_radius: int = 3,
                     blur_padding: str = "zeros") -> torch.Tensor:
    """The image resampled to the latent grid, as the ESM target sees it
    (:mod:`smlib.regularizers.esm`; also the image side of the latent diagnostics). x: (B, C, H, W) -> (B, C, h, w).

    blur: ``authors`` blurs unless h == 32 (the code's special case for f8 at 256^2), ``always`` or ``never``.
    """
    if blur not in ESM_BLUR_RULES:
        raise ValueError(f"unknown ESM blur rule {blur!r}; use one of {ESM_BLUR_RULES}.")
    h, w = size
    if blur == "always" or (blur == "authors" and h != 32):
        x = gaussian_blur(x, blur_sigma, radius=blur_radius, mode=blur_padding)
    return resize(x, (h, w), method=resize_method)
