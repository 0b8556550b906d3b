"""Gaussian blur, Difference-of-Gaussians, anti-aliased resizing, their frequency responses, and their matrices.

Frequencies are in cycles per sample (pixel or token). For a Gaussian of standard deviation sigma samples the
continuous transfer function is H(f) = exp(-2 pi^2 sigma^2 f^2); a DoG G_s1 - G_s2 (s1 < s2) is then a band-pass
H(f) = exp(-2 pi^2 s1^2 f^2) - exp(-2 pi^2 s2^2 f^2) with H(0) = 0 and a single peak at
f* = sqrt( ln(s2^2 / s1^2) / (2 pi^2 (s2^2 - s1^2)) ).

Blur and resize are linear and separable (one 1-D map per axis), so each is also a pair of matrices:
``gaussian_blur(x) = G_H x G_W^T`` and ``resize(x) = R_h x R_w^T`` for x (..., H, W). :func:`blur_matrix` and
:func:`resize_matrix` build G and R by pushing unit impulses through the very same torch ops.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from smlib.spectral.dct import dct_matrix

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


# ----------------------------------------------------------------------------------------------- as matrices
def blur_matrix(n: int, sigma: float, radius: int | None = None, mode: str = "reflect",
                dtype=torch.float64) -> torch.Tensor:
    """(n, n) matrix G of :func:`gaussian_blur` along one axis of length n: blur(x) = G_H x G_W^T.

    Column j is the blurred unit impulse at j, computed with the same kernel and border rule (``zeros``: a banded
    Toeplitz matrix whose border rows lose the taps that fall outside).
    """
    if mode not in _PAD_MODES:
        raise ValueError(f"unknown border mode {mode!r}; use one of {sorted(_PAD_MODES)}.")
    k = gaussian_kernel1d(sigma, radius, dtype=torch.float64)
    r = (k.numel() - 1) // 2
    if mode == "reflect" and r >= n:
        raise ValueError(f"blur radius {r} does not fit a grid of {n} with mode='reflect'; "
                         f"use a smaller sigma or mode='replicate'.")
    impulses = torch.eye(n, dtype=torch.float64)[:, None, :]  # (n, 1, n): n signals, one unit impulse each
    blurred = F.conv1d(F.pad(impulses, (r, r), mode=_PAD_MODES[mode]), k.view(1, 1, -1))[:, 0, :]
    return blurred.T.to(dtype)  # row j of ``blurred`` is G e_j, column j of G


def resize_matrix(n_in: int, n_out: int, method: str = "antialias", dtype=torch.float64) -> torch.Tensor:
    """(n_out, n_in) matrix R of :func:`resize` along one axis: resize(x, (h, w)) = R_h x R_w^T.

    Built by resizing the n_in x n_in identity along its rows only; along the other axis n_in -> n_in is the exact
    identity for all three methods (every weight is the kernel at an integer offset: 1 at 0, 0 elsewhere).
    """
    eye = torch.eye(n_in, dtype=torch.float64)[None, None]
    return resize(eye, (n_out, n_in), method=method)[0, 0].to(dtype)


def esm_target_matrix(n_in: int, n_out: int, *, blur: bool, resize_method: str = "bicubic",
                      blur_sigma: float = 1.2, blur_radius: int = 3, blur_padding: str = "zeros",
                      dtype=torch.float32, device=None) -> torch.Tensor:
    """M = D_{n_out} R G (n_out, n_in): one axis of blur, then resize, then the orthonormal DCT-II; G = I if not blur.

    Composed in float64 and rounded once. ``dct2(esm_image_target(x, (h, w))) = M_h x M_w^T``.
    """
    a = _resample_matrix(int(n_in), int(n_out), bool(blur), resize_method, float(blur_sigma), int(blur_radius),
                         blur_padding)
    return (dct_matrix(int(n_out), torch.float64) @ a).to(dtype=dtype, device=device)


def block_kernel(a: torch.Tensor, tol: float = 1e-12) -> torch.Tensor | None:
    """The kernel k (f,) if ``a`` (n, n f) is I_n kron k^T (row j = k on columns f j .. f j + f - 1), else None.

    Plain bicubic at an integer factor f >= 4 (f8 at 256^2), or after a zero-padded blur of radius r when
    f >= 4 + 2 r (f16 with the 7-tap blur), is of this form: every output reads only its own block of f inputs,
    with the same weights, so ``a @ x = x.view(n, f) @ k``.
    """
    n_out, n_in = a.shape
    if n_in % n_out or n_in == n_out:
        return None
    f = n_in // n_out
    blocks = a.reshape(n_out, n_out, f)  # [j, b, t] = a[j, f b + t]
    j = torch.arange(n_out)
    diag = blocks[j, j]
    off = blocks.clone()
    off[j, j] = 0.0
    scale = tol * float(diag.abs().max())
    if float(off.abs().max()) > scale or float((diag - diag[0]).abs().max()) > scale:
        return None
    return diag[0].clone()


@lru_cache(maxsize=64)
def _resample_matrix(n_in, n_out, blur, resize_method, blur_sigma, blur_radius, blur_padding):
    # R G in float64: one axis of the ESM image target before the DCT
    with torch.inference_mode(False), torch.no_grad():
        m = resize_matrix(n_in, n_out, resize_method)
        return m @ blur_matrix(n_in, blur_sigma, blur_radius, blur_padding) if blur else m


@lru_cache(maxsize=32)
def _esm_target_plan(hw_in, hw_out, blur, resize_method, blur_sigma, blur_radius, blur_padding, dtype, device):
    """(M_h, taps, D_w^T) when the rows reduce block by block, else (M_h, None, M_w^T); cached on the device.

    ``taps`` = (f, lo, k[lo:hi]): the block size and the kernel's non-zero span (f8: 4 of 8 taps, f16: 10 of 16).
    """
    (hh, ww), (h, w) = hw_in, hw_out
    opts = (blur, resize_method, blur_sigma, blur_radius, blur_padding)
    with torch.inference_mode(False), torch.no_grad():  # cached tensors autograd may save for backward
        m_h = esm_target_matrix(hh, h, blur=blur, resize_method=resize_method, blur_sigma=blur_sigma,
                                blur_radius=blur_radius, blur_padding=blur_padding, dtype=dtype, device=device)
        k_w = block_kernel(_resample_matrix(ww, w, *opts))
        if k_w is not None:
            nz = torch.nonzero(k_w).flatten()
            lo, hi = int(nz[0]), int(nz[-1]) + 1
            taps = (k_w.numel(), lo, k_w[lo:hi].to(dtype=dtype, device=device))
            return m_h, taps, dct_matrix(w, dtype, device).T
        m_w = esm_target_matrix(ww, w, blur=blur, resize_method=resize_method, blur_sigma=blur_sigma,
                                blur_radius=blur_radius, blur_padding=blur_padding, dtype=dtype, device=device)
        return m_h, None, m_w.T


def esm_image_target_dct(x: torch.Tensor, size: tuple[int, int], *, resize_method: str = "bicubic",
                         blur: str = "authors", blur_sigma: float = 1.2, blur_radius: int = 3,
                         blur_padding: str = "zeros") -> torch.Tensor:
    """DCT coefficients of the ESM image target, ``dct2(esm_image_target(x, size, ...))``, as M_h x M_w^T.

    x: (B, C, H, W) -> (B, C, h, w); differentiable in x. Why this is fast: blur, resize and DCT are linear and act
    on each axis separately, so their composition is one (h, H) matrix for the columns and one (w, W) for the rows
    (:func:`esm_target_matrix`), cached per shape and settings. At 256^2 -> 16^2 that is a few small matrix
    products per step against a 7x7 convolution of the full image, a bicubic resampling and a DCT. When the row
    map is block-diagonal (:func:`block_kernel`: f8 without blur, f16 with it) the rows are reduced first by a
    matrix-vector product over blocks of f pixels, which reads the image once, and the DCT follows.
    """
    if blur not in ESM_BLUR_RULES:
        raise ValueError(f"unknown ESM blur rule {blur!r}; use one of {ESM_BLUR_RULES}.")
    if x.ndim != 4:
        raise ValueError(f"the ESM image target expects (B, C, H, W), got shape {tuple(x.shape)}.")
    b, c, hh, ww = x.shape
    h, w = size
    m_h, taps, right = _esm_target_plan((hh, ww), (h, w), blur == "always" or (blur == "authors" and h != 32),
                                       resize_method, float(blur_sigma), int(blur_radius), blur_padding, x.dtype,
                                       x.device)
    if taps is None:
        return m_h @ (x @ right)
    f, lo, k = taps  # blur + resize of every row, block by block; a strided view, so only the taps are read
    rows = torch.mv(x.reshape(-1, f)[:, lo:lo + k.numel()], k).view(b, c, hh, w)
    return m_h @ rows @ right
