"""Power spectra of images and latents, radial pooling, and power-law fits.

Two views of "how much energy sits at each frequency" are used in this book:

* the **FFT periodogram**, radially averaged in *physical* frequency (cycles per pixel, Nyquist = 0.5); this is the
  textbook power spectral density (PSD) whose power law S(f) ~ K f^-alpha Prop. 3.1 builds on;
* the **DCT power**, channel-averaged, pooled into the authors' 16 radial bins over the DCT index
  (``bin = floor(16 r / r_max)`` with r measured from DC at (0, 0)); this is the descriptor ESM matches.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from smlib.spectral.dct import dct2


# ----------------------------------------------------------------------------------------------- DCT power
def dct_power(x: torch.Tensor, remove_dc: bool = True) -> torch.Tensor:
    """Channel-averaged orthonormal DCT power.

    x: (B, C, H, W)  ->  (B, H, W) with P[b, u, v] = mean_c DCT2(x[b, c])[u, v]^2.
    ``remove_dc`` zeroes P[:, 0, 0] (the mean only reaches DC under an orthonormal DCT, so this equals
    centring each channel first).
    """
    if x.ndim != 4:
        raise ValueError(f"dct_power expects (B, C, H, W), got shape {tuple(x.shape)}.")
    power = dct2(x).square().mean(dim=1)
    if remove_dc:
        power = power.clone()
        power[:, 0, 0] = 0.0
    return power


def dct_radial_bins(h: int, w: int, n_bins: int = 16, scheme: str = "authors", device=None) -> torch.Tensor:
    """Radial bin index of every DCT coefficient of an h x w grid: (h, w) long tensor in [0, n_bins).

    ``scheme="authors"`` (Spectrum Matching code): r = ||(u, v)|| with DC at (0, 0), r_max = ||(h-1, w-1)||,
    bin = min(floor(n_bins * r / r_max), n_bins - 1). The corners beyond the Nyquist circle get bins of their own.
    ``scheme="physical"``: DCT index u is the frequency u / (2h) cycles/pixel; bins are equal-width in
    f = ||(u/2h, v/2w)|| over [0, 0.5] and the corners (f > 0.5) join the last bin. Same bins for any grid size,
    so spectra of images and latents of different sizes line up in cycles/pixel.
    """
    u = torch.arange(h, dtype=torch.float64, device=device)[:, None]
    v = torch.arange(w, dtype=torch.float64, device=device)[None, :]
    if scheme == "authors":
        r = torch.sqrt(u**2 + v**2)
        r_max = math.hypot(h - 1, w - 1) or 1.0
        idx = torch.floor(n_bins * r / r_max)
    elif scheme == "physical":
        f = torch.sqrt((u / (2 * h)) ** 2 + (v / (2 * w)) ** 2)
        idx = torch.floor(n_bins * f / 0.5)
    else:
        raise ValueError(f"unknown radial bin scheme {scheme!r}; use 'authors' or 'physical'.")
    return idx.clamp(max=n_bins - 1).long()


def radial_pool(power: torch.Tensor, bins: torch.Tensor, n_bins: int) -> torch.Tensor:
    """Mean of ``power`` over each radial bin. power: (..., H, W), bins: (H, W) -> (..., n_bins).

    Empty bins (possible on tiny grids) give 0.
    """
    flat = power.reshape(*power.shape[:-2], -1)
    idx = bins.reshape(-1).to(flat.device)
    sums = torch.zeros(*flat.shape[:-1], n_bins, dtype=flat.dtype, device=flat.device)
    sums = sums.index_add(-1, idx, flat)
    counts = torch.bincount(idx, minlength=n_bins).to(flat.dtype)
    return sums / counts.clamp(min=1)


def band_power(x: torch.Tensor, n_bins: int = 16, scheme: str = "authors", remove_dc: bool = True) -> torch.Tensor:
    """Channel-averaged DCT power pooled into radial bins. x: (B, C, H, W) -> (B, n_bins)."""
    bins = dct_radial_bins(x.shape[-2], x.shape[-1], n_bins, scheme, device=x.device)
    return radial_pool(dct_power(x, remove_dc=remove_dc), bins, n_bins)


def spectrum_distribution(
    x: torch.Tensor,
    n_bins: int = 16,
    delta: float = 0.0,
    scheme: str = "authors",
    remove_dc: bool = True,
    eps: float = 1e-8,
) -> torch.Tensor:
    """The 16-bin spectral descriptor that ESM matches: a probability vector per image.

    x: (B, C, H, W) -> p: (B, n_bins), each row sums to 1. Steps, as in the authors' code:
    band power s(b) (DCT power floored at ``eps``, DC removed), tilt ``s(b) * (b + 1)^delta`` (bin index 1..n_bins,
    flattening the power law by ``delta``), log power ``q = log(1 + eps + s)``, normalise ``p = q / sum q``.
    The log compresses the many decades of a power law so that high bins carry weight in the KL.
    This is the step-by-step reference; ``band_distribution(dct_band_power(dct2(x)), delta)`` is the same map.
    """
    power = dct_power(x, remove_dc=False).clamp(min=eps)
    if remove_dc:
        power = power.clone()
        power[:, 0, 0] = 0.0
    bins = dct_radial_bins(x.shape[-2], x.shape[-1], n_bins, scheme, device=x.device)
    return band_distribution(radial_pool(power, bins, n_bins), delta=delta, eps=eps)


def band_distribution(s: torch.Tensor, delta: float = 0.0, eps: float = 1e-8) -> torch.Tensor:
    """Band powers to the ESM descriptor: ``q = log(1 + eps + s(b) (b + 1)^delta)``, ``p = q / sum_b q``.

    s: (..., n_bins) -> (..., n_bins). The tail of :func:`spectrum_distribution`, apart so that one set of band
    powers serves several ``delta`` (the authors' VAE computes the image spectrum for delta and for 0).
    """
    if delta:
        s = s * band_tilt(s.shape[-1], delta, s.dtype, s.device)
    q = torch.log1p(s + eps)
    return q / q.sum(dim=-1, keepdim=True)


def dct_band_power(coeffs: torch.Tensor, n_bins: int = 16, scheme: str = "authors", remove_dc: bool = True,
                   eps: float = 1e-8) -> torch.Tensor:
    """Radial band power from DCT coefficients: (B, C, h, w) -> (B, n_bins), one matrix product.

    Channel-mean power floored at ``eps``, DC removed, mean per radial bin, exactly as in
    :func:`spectrum_distribution`; the pooling is ``P (B, h w) @ A (h w, n_bins)`` with :func:`radial_pool_matrix`
    instead of a scatter, which is one kernel forward and one backward.
    """
    b, _, h, w = coeffs.shape
    power = coeffs.square().mean(dim=1).clamp(min=eps).reshape(b, h * w)
    return power @ radial_pool_matrix(h, w, n_bins, scheme, remove_dc, coeffs.dtype, coeffs.device)


def radial_pool_matrix(h: int, w: int, n_bins: int = 16, scheme: str = "authors", remove_dc: bool = True,
                       dtype=torch.float32, device=None) -> torch.Tensor:
    """A (h w, n_bins) with A[k, b] = 1 / count_b where coefficient k (row-major) lies in bin b, else 0.

    ``power.reshape(-1, h * w) @ A`` equals :func:`radial_pool` over :func:`dct_radial_bins`. ``remove_dc`` zeroes
    the DC row while DC still counts in bin 0: the same as setting the DC power to 0 before pooling. Cached.
    """
    device = torch.device(device) if device is not None else torch.device("cpu")
    return _radial_pool_matrix(int(h), int(w), int(n_bins), scheme, bool(remove_dc), dtype, device)


@lru_cache(maxsize=64)
def _radial_pool_matrix(h, w, n_bins, scheme, remove_dc, dtype, device):
    with torch.inference_mode(False), torch.no_grad():  # a cached tensor autograd may save for backward
        idx = dct_radial_bins(h, w, n_bins, scheme).reshape(-1)
        counts = torch.bincount(idx, minlength=n_bins).to(torch.float64)
        a = torch.zeros(h * w, n_bins, dtype=torch.float64)
        a[torch.arange(h * w), idx] = 1.0 / counts[idx]
        if remove_dc:
            a[0] = 0.0
        return a.to(dtype=dtype, device=device)


def band_tilt(n_bins: int, delta: float, dtype=torch.float32, device=None) -> torch.Tensor:
    """The tilt (b + 1)^delta, b = 0..n_bins - 1: (n_bins,), cached per device."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    return _band_tilt(int(n_bins), float(delta), dtype, device)


@lru_cache(maxsize=64)
def _band_tilt(n_bins, delta, dtype, device):
    with torch.inference_mode(False), torch.no_grad():
        return (torch.arange(1, n_bins + 1, dtype=torch.float64) ** delta).to(dtype=dtype, device=device)


# ----------------------------------------------------------------------------------------------- FFT PSD
def fft_power(x: torch.Tensor, window: str | None = None) -> torch.Tensor:
    """Periodogram |FFT|^2 / (H W), averaged over channels.

    x: (B, C, H, W) -> (B, H, W), unshifted (DC at [0, 0]). With ``window=None`` the mean of the result equals the
    mean of x^2 (Parseval). Images are not periodic, so the jump at the border leaks power along the axes with a
    f^-2 tail; ``window="hann"`` tapers the border (power is then rescaled by the window's mean square).
    Each channel's mean is removed first so DC leakage does not dominate the lowest frequencies.
    """
    if x.ndim != 4:
        raise ValueError(f"fft_power expects (B, C, H, W), got shape {tuple(x.shape)}.")
    h, w = x.shape[-2:]
    x = x - x.mean(dim=(-2, -1), keepdim=True)
    if window == "hann":
        win = torch.outer(torch.hann_window(h, periodic=False, dtype=x.dtype, device=x.device),
                          torch.hann_window(w, periodic=False, dtype=x.dtype, device=x.device))
        x = x * win / win.square().mean().sqrt()
    elif window is not None:
        raise ValueError(f"unknown window {window!r}; use None or 'hann'.")
    spec = torch.fft.fft2(x)
    return (spec.real.square() + spec.imag.square()).mean(dim=1) / (h * w)


def radial_frequency_grid(h: int, w: int, device=None, dtype=torch.float64) -> torch.Tensor:
    """|f| in cycles/pixel of every FFT bin of an h x w grid (unshifted). (h, w)."""
    fy = torch.fft.fftfreq(h, device=device, dtype=dtype)[:, None]
    fx = torch.fft.fftfreq(w, device=device, dtype=dtype)[None, :]
    return torch.sqrt(fy**2 + fx**2)


def radial_average(power: torch.Tensor, include_corners: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Average an unshifted 2-D spectrum over rings of width 1/N (N = max(H, W)) in physical frequency.

    power: (..., H, W) -> (freqs (K,), ring means (..., K)). Ring k holds |f| in [(k - 0.5)/N, (k + 0.5)/N),
    k = 1..N/2, so ``freqs[k-1]`` is the mean |f| of ring k; DC is excluded, and so are the corners beyond
    Nyquist (|f| > 0.5) unless ``include_corners``.
    """
    h, w = power.shape[-2:]
    n = max(h, w)
    f = radial_frequency_grid(h, w, device=power.device)
    ring = torch.round(f * n).long()
    k_max = int(ring.max()) if include_corners else n // 2
    keep = (ring >= 1) & (ring <= k_max)
    idx = (ring - 1).clamp(min=0)
    flat = power.reshape(*power.shape[:-2], -1)[..., keep.reshape(-1)]
    idx = idx.reshape(-1)[keep.reshape(-1)]
    sums = torch.zeros(*flat.shape[:-1], k_max, dtype=flat.dtype, device=flat.device).index_add(-1, idx, flat)
    counts = torch.bincount(idx, minlength=k_max).to(flat.dtype)
    fsum = torch.zeros(k_max, dtype=f.dtype, device=f.device).index_add(0, idx, f.reshape(-1)[keep.reshape(-1)])
    return fsum / counts.to(f.dtype).clamp(min=1), sums / counts.clamp(min=1)


def radial_psd(x: torch.Tensor, window: str | None = None, reduce: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Radially averaged PSD in cycles/pixel. x: (B, C, H, W) -> (freqs (K,), psd (K,) or (B, K) if not reduce)."""
    freqs, psd = radial_average(fft_power(x, window=window))
    return freqs, (psd.mean(dim=0) if reduce else psd)


def psd_log_error(x: torch.Tensor, reference: torch.Tensor, window: str | None = None, floor: float = 0.0) -> dict:
    """How far the radial PSD of images x is from a reference set's, ring by ring, in decades.

    x, reference: (B, C, H, W), (B', C, H, W). Returns ``freqs`` (K,), ``log_ratio`` (K,) = log10 PSD_x / PSD_ref
    per ring (positive: too much power at that frequency) and ``error`` = the mean of |log_ratio| over the rings,
    as plain lists and a float. ``floor`` (a fraction of the reference's largest ring) is added to both spectra
    first, for references with empty rings (a checkerboard's spectrum is a few lines): it caps the dynamic range
    at -log10(floor) decades."""
    freqs, p = radial_psd(x.double(), window)
    _, q = radial_psd(reference.double(), window)
    eps = max(floor * float(q.max()), 1e-30)
    log_ratio = torch.log10((p + eps) / (q + eps))
    return {"freqs": freqs.tolist(), "log_ratio": log_ratio.tolist(), "error": float(log_ratio.abs().mean())}


# ----------------------------------------------------------------------------------------------- power law
@dataclass(frozen=True)
class PowerLawFit:
    """S(f) = amplitude * f^-exponent, fitted by least squares in log-log over [fmin, fmax] cycles/pixel."""

    exponent: float
    amplitude: float
    fmin: float
    fmax: float
    n_points: int
    r2: float

    def __call__(self, f):
        return self.amplitude * np.asarray(f, dtype=float) ** (-self.exponent)

    def __str__(self) -> str:
        return (f"S(f) ~ {self.amplitude:.3g} f^-{self.exponent:.3f}  (fit over {self.fmin:.3g}-{self.fmax:.3g} "
                f"cycles/px, {self.n_points} points, R^2 = {self.r2:.4f})")


def fit_power_law(freqs, psd, fmin: float | None = None, fmax: float | None = None) -> PowerLawFit:
    """Fit log S = log K - alpha log f over fmin <= f <= fmax and report the range used.

    freqs, psd: (K,) arrays or tensors (positive). Defaults: fmin = 2nd frequency (the lowest ring is poorly
    sampled: only a handful of coefficients), fmax = 0.4 cycles/px (just below Nyquist, where anti-alias filters,
    JPEG and demosaicing bend real spectra).
    """
    f = np.asarray(torch.as_tensor(freqs).detach().cpu(), dtype=float)
    s = np.asarray(torch.as_tensor(psd).detach().cpu(), dtype=float)
    if f.shape != s.shape or f.ndim != 1:
        raise ValueError(f"freqs and psd must be 1-D arrays of equal length, got {f.shape} and {s.shape}.")
    fmin = float(np.sort(f)[1]) if fmin is None else float(fmin)
    fmax = 0.4 if fmax is None else float(fmax)
    sel = (f >= fmin) & (f <= fmax) & (s > 0)
    if sel.sum() < 3:
        raise ValueError(f"need at least 3 positive points in [{fmin}, {fmax}] to fit a power law, got {int(sel.sum())}.")
    lf, ls = np.log(f[sel]), np.log(s[sel])
    slope, intercept = np.polyfit(lf, ls, 1)
    resid = ls - (slope * lf + intercept)
    r2 = 1.0 - resid.var() / ls.var() if ls.var() > 0 else 1.0
    return PowerLawFit(exponent=float(-slope), amplitude=float(np.exp(intercept)), fmin=fmin, fmax=fmax,
                       n_points=int(sel.sum()), r2=float(r2))
