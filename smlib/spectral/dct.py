"""Orthonormal 2-D DCT-II and its inverse, as dense matrix products.

Why matrices and not an FFT trick: the images and latents in this book are small (at most a few hundred pixels
a side), a matrix product is exact, batched, differentiable and fast on every device, and the code reads like the
definition

    X[k] = s_k * sum_i x[i] * cos(pi * (2i + 1) * k / (2N)),   s_0 = sqrt(1/N),  s_k = sqrt(2/N) for k > 0,

which is ``scipy.fft.dct(x, type=2, norm="ortho")``. The basis is orthonormal, so energy is preserved (Parseval)
and the DC coefficient of an N-point signal is sqrt(N) times its mean.
"""
from __future__ import annotations

import math
from functools import lru_cache

import torch


@lru_cache(maxsize=64)
def _dct_matrix(n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    # Built in float64 and cast once, so float32 matrices are correctly rounded; cached per device (no copy to the
    # accelerator per call) and built outside inference mode, so that autograd may save it later.
    with torch.inference_mode(False):
        i = torch.arange(n, dtype=torch.float64)
        k = i[:, None]
        basis = torch.cos(math.pi * (2 * i[None, :] + 1) * k / (2 * n))
        scale = torch.full((n, 1), math.sqrt(2.0 / n), dtype=torch.float64)
        scale[0] = math.sqrt(1.0 / n)
        return (scale * basis).to(dtype=dtype, device=device)


def dct_matrix(n: int, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> torch.Tensor:
    """The (n, n) orthonormal DCT-II matrix D with ``X = D @ x``; rows are basis vectors, ``D @ D.T = I``."""
    if n < 1:
        raise ValueError(f"DCT size must be positive, got {n}.")
    return _dct_matrix(int(n), dtype, torch.device(device))


def _check_float(x: torch.Tensor) -> None:
    if not torch.is_floating_point(x):
        raise TypeError(f"DCT expects a floating-point tensor, got {x.dtype}; call .float() first.")


def dct2(x: torch.Tensor) -> torch.Tensor:
    """Orthonormal 2-D DCT-II over the last two dimensions.

    x: (..., H, W) float32/float64, any leading dims  ->  (..., H, W) coefficients, [..., 0, 0] is DC.
    """
    _check_float(x)
    h, w = x.shape[-2:]
    dh = dct_matrix(h, x.dtype, x.device)
    dw = dct_matrix(w, x.dtype, x.device)
    return dh @ x @ dw.T


def idct2(coeffs: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`dct2` (the orthonormal DCT-III). coeffs: (..., H, W) -> (..., H, W)."""
    _check_float(coeffs)
    h, w = coeffs.shape[-2:]
    dh = dct_matrix(h, coeffs.dtype, coeffs.device)
    dw = dct_matrix(w, coeffs.dtype, coeffs.device)
    return dh.T @ coeffs @ dw
