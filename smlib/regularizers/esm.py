"""Encoding Spectrum Matching (ESM): make the latent's radial DCT spectrum match a flattened image spectrum.

Exact semantics of the authors' code (``utils_DCT.py::latent_spectral_reg_dct`` at SpectrumMatching@2dc73404,
notes §1.5), with x in [-1, 1]^(B x 3 x H x W) and z the posterior *sample*, (B, C, h, w):

    x_ds = Bicubic_{h x w}( G_{7, 1.2} * x )      blur skipped iff h == 32 (f8 at 256^2); bicubic without antialias
    p_x  = spectrum_distribution(x_ds, delta)      16 radial DCT bins, DC removed, tilt (b+1)^delta, log(1+eps+s), sum 1
    p_z  = spectrum_distribution(z, 0)
    L    = mean_B sum_b p_x(b) [log(p_x(b) + eps) - log(p_z(b) + eps)] = KL(p_x || p_z),   eps = 1e-8

The Gaussian blur in that code is a 7x7 kernel exp(-(i^2 + j^2) / (2 * 1.2^2)), normalised, applied with
``F.conv2d(padding=3)``: **zero padding**, so borders are darkened towards 0. (torchvision's ``gaussian_blur`` has the
same kernel but reflect padding; it is *not* what the code calls.) ``smlib.spectral.gaussian_blur(x, 1.2, radius=3,
mode="zeros")`` is exactly that filter. Only z carries gradients: the loss reaches the encoder, never the decoder.

Two corrections a reproduction may want (notes §1.8.2), as options:
``resize="antialias"`` (prefiltered bicubic: no alias energy in the image-side target) and ``bins="physical"``
(bins in cycles/pixel instead of DCT index). Both default to the authors' choice. The code's normalisations divide
by ``count + 1e-8`` and ``sum + 1e-8`` where ``spectrum_distribution`` divides by ``count`` and ``sum``; the
difference is ~1e-8 relative for any non-vanishing signal.

Why it is fast (``impl="matrix"``, the default). The image side needs no gradient and every step before the power
is linear and separable: the zero-padded blur (its 2-D kernel is outer(g, g) / sum, one 1-D Gaussian per axis), the
bicubic resize (one 1-D cubic kernel per axis) and the orthonormal DCT. So DCT(resize(blur(x))) = M_h x M_w^T with
M = D R G, an (h, H) matrix composed once in float64 and cached (:func:`smlib.spectral.filters.esm_image_target_dct`):
at 256^2 -> 16^2 a few small matrix products replace a 7x7 convolution of the full image, a resampling and an
FFT-based DCT; where R G is block-diagonal (f8 without blur, f16 with it) the rows are reduced first by one
matrix-vector product that reads the image once. Radial pooling is one product with a (h w, n_bins) matrix of
1 / count (:func:`smlib.spectral.power.dct_band_power`), and the 16-bin tail runs in float64, which makes the
float32 loss ~5x closer to the float64 value than a float32 tail. :class:`ESMLoss` computes the image band powers
and the latent descriptor once for both terms the authors' ``VAE.forward`` evaluates by two calls of
``latent_spectral_reg_dct`` (SpectrumMatching@115c70be:modules/vae.py, lines 529-537; the function is the same
there as at 2dc73404 up to the order of two keyword parameters): ``sm_delta`` (trained) and ``sm_rgb`` (delta = 0,
logged). ``impl="composed"`` is the step-by-step reference: blur, resize, :func:`smlib.spectral.spectrum_distribution`.
"""
from __future__ import annotations

from contextlib import contextmanager, nullcontext
from functools import lru_cache

import torch

from smlib.regularizers.base import Penalty
from smlib.spectral import dct2, spectrum_distribution
from smlib.spectral.filters import ESM_BLUR_RULES as _BLUR_RULES, esm_image_target, esm_image_target_dct
from smlib.spectral.power import band_distribution, band_tilt, dct_band_power

_IMPLS = ("matrix", "composed")


def esm_divergence(x: torch.Tensor, z: torch.Tensor, *, delta: float = 1.0, n_bins: int = 16,
                   resize_method: str = "bicubic", bins: str = "authors", blur: str = "authors",
                   blur_sigma: float = 1.2, blur_radius: int = 3, blur_padding: str = "zeros",
                   eps: float = 1e-8, impl: str = "matrix") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-sample KL(p_x^delta || p_z). x: (B, C, H, W), z: (B, d, h, w) -> (kl (B,), p_x (B, n), p_z (B, n)).

    ``impl``: ``matrix`` (fast, see the module docstring) or ``composed`` (the step-by-step reference); the two
    agree to float round-off, in the loss and in the gradients of z (and of x, should x require grad).
    """
    if impl not in _IMPLS:
        raise ValueError(f"unknown ESM impl {impl!r}; use one of {_IMPLS}.")
    opts = dict(n_bins=n_bins, resize_method=resize_method, bins=bins, blur=blur, blur_sigma=blur_sigma,
                blur_radius=blur_radius, blur_padding=blur_padding, eps=eps)
    with _full_precision(z):
        x, z = _float_pair(x, z)
        if impl == "composed":
            return _esm_divergence_composed(x, z, delta, **opts)
        s_x, s_z = _spectra(x, z, **opts)
        p_x, p_z = band_distribution(s_x, delta=delta, eps=eps), band_distribution(s_z, eps=eps)
        kl = _kl(p_x, torch.log(p_z + eps), eps)
        return kl.to(z.dtype), p_x.to(z.dtype), p_z.to(z.dtype)


@contextmanager
def _full_precision(t: torch.Tensor):
    # The power spectrum spans many decades and is floored at 1e-8: bf16/fp16 would wreck it. Like the authors'
    # ``.float()`` before the DCT, compute in float32 (or float64 if given), also under autocast.
    try:
        ctx = torch.autocast(device_type=t.device.type, enabled=False)
    except RuntimeError:  # a device type without autocast support
        ctx = nullcontext()
    with ctx:
        yield


def _float_pair(x, z):
    if x.ndim != 4 or z.ndim != 4 or x.shape[0] != z.shape[0]:
        raise ValueError(f"ESM expects x (B, C, H, W) and z (B, d, h, w) with the same B, got {tuple(x.shape)} "
                         f"and {tuple(z.shape)}.")
    if z.dtype not in (torch.float32, torch.float64):
        z = z.float()
    return x.to(z.dtype), z


def _spectra(x, z, *, n_bins, resize_method, bins, blur, blur_sigma, blur_radius, blur_padding, eps):
    """Band powers (s_x, s_z), (B, n_bins) each, by the matrix path, in float64 from here on.

    Why float64 for the 16-bin tail: the KL is a small difference of two sums of order log(n_bins), so float32
    rounding there is amplified ~30x (to ~5e-7 relative); on (B, 16) numbers float64 costs nothing.
    """
    coeffs_x = esm_image_target_dct(x, tuple(z.shape[-2:]), resize_method=resize_method, blur=blur,
                                    blur_sigma=blur_sigma, blur_radius=blur_radius, blur_padding=blur_padding)
    s_x = dct_band_power(coeffs_x, n_bins=n_bins, scheme=bins, remove_dc=True, eps=eps)
    s_z = dct_band_power(dct2(z), n_bins=n_bins, scheme=bins, remove_dc=True, eps=eps)
    return s_x.double(), s_z.double()


@lru_cache(maxsize=16)
def _tilts(deltas, n_bins, device):
    # (T, 1, n_bins) float64, one row (b + 1)^delta per delta
    with torch.inference_mode(False), torch.no_grad():
        return torch.stack([band_tilt(n_bins, d, torch.float64, device) for d in deltas])[:, None, :]


def _kl(p_x, log_p_z, eps):
    return (p_x * (torch.log(p_x + eps) - log_p_z)).sum(dim=-1)


def _esm_divergence_composed(x, z, delta, *, n_bins, resize_method, bins, blur, blur_sigma, blur_radius,
                             blur_padding, eps):
    x_ds = esm_image_target(x, tuple(z.shape[-2:]), resize_method=resize_method, blur=blur, blur_sigma=blur_sigma,
                            blur_radius=blur_radius, blur_padding=blur_padding)
    p_x = spectrum_distribution(x_ds, n_bins=n_bins, delta=delta, scheme=bins, remove_dc=True, eps=eps)
    p_z = spectrum_distribution(z, n_bins=n_bins, delta=0.0, scheme=bins, remove_dc=True, eps=eps)
    return _kl(p_x, torch.log(p_z + eps), eps), p_x, p_z


class ESMLoss(Penalty):
    """``weight * mean_B KL(p_x^delta || p_z)``; logs ``esm`` (the trained term) and ``esm_rgb`` (delta = 0).

    Defaults are the released ESM-AE recipe: weight 0.01, delta 1.0, 16 bins, authors' bins/blur/bicubic.
    """

    name = "esm"

    def __init__(self, weight: float = 0.01, delta: float = 1.0, n_bins: int = 16, resize: str = "bicubic",
                 bins: str = "authors", blur: str = "authors", blur_sigma: float = 1.2, blur_radius: int = 3,
                 blur_padding: str = "zeros", eps: float = 1e-8, log_rgb: bool = True):
        super().__init__()
        if resize not in ("bicubic", "antialias", "area"):
            raise ValueError(f"unknown ESM resize {resize!r}; use 'bicubic' (authors), 'antialias' or 'area'.")
        if bins not in ("authors", "physical"):
            raise ValueError(f"unknown ESM bins {bins!r}; use 'authors' or 'physical'.")
        if blur not in _BLUR_RULES:
            raise ValueError(f"unknown ESM blur rule {blur!r}; use one of {_BLUR_RULES}.")
        self.weight, self.delta, self.n_bins = float(weight), float(delta), int(n_bins)
        self.resize, self.bins, self.blur = resize, bins, blur
        self.blur_sigma, self.blur_radius, self.blur_padding = float(blur_sigma), int(blur_radius), blur_padding
        self.eps, self.log_rgb = float(eps), bool(log_rgb)

    def divergence(self, x: torch.Tensor, z: torch.Tensor, delta: float | None = None):
        """Per-sample KL with this module's settings (``delta`` overrides). -> (kl (B,), p_x, p_z)."""
        return esm_divergence(x, z, delta=self.delta if delta is None else delta, **self._opts())

    def _opts(self) -> dict:
        return dict(n_bins=self.n_bins, resize_method=self.resize, bins=self.bins, blur=self.blur,
                    blur_sigma=self.blur_sigma, blur_radius=self.blur_radius, blur_padding=self.blur_padding,
                    eps=self.eps)

    def forward(self, x: torch.Tensor, model=None, posterior=None, z: torch.Tensor | None = None, rec_loss=None):
        """x: (B, C, H, W) encoder input, z: (B, d, h, w) latent sample -> (scalar loss, logs).

        Both logged terms come from one image spectrum and one latent spectrum: ``esm`` = KL(p_x^delta || p_z)
        (the trained term, the authors' ``sm_delta``) and ``esm_rgb`` = KL(p_x^0 || p_z) (their ``sm_rgb``).
        """
        if z is None:
            raise ValueError("ESMLoss needs the latent sample z (B, d, h, w); pass z=posterior.sample().")
        with _full_precision(z):
            x, z = _float_pair(x.detach(), z)  # the target is data: only z may carry gradients
            s_x, s_z = _spectra(x, z, **self._opts())
            deltas = (self.delta, 0.0) if self.log_rgb and self.delta else (self.delta,)
            log_p_z = torch.log(band_distribution(s_z, eps=self.eps) + self.eps)
            p_x = band_distribution(s_x * _tilts(deltas, s_x.shape[-1], s_x.device), eps=self.eps)  # (T, B, n)
            kl = _kl(p_x, log_p_z, self.eps).mean(dim=-1)  # (T,): both terms in one pass, one sync for the logs
            values = kl.detach().tolist()
            logs = {"esm": values[0]}
            if self.log_rgb:
                logs["esm_rgb"] = values[-1]
        return self.weight * kl[0].to(z.dtype), logs

    def describe(self) -> dict:
        return {"name": self.name, "weight": self.weight, "delta": self.delta, "n_bins": self.n_bins,
                "resize": self.resize, "bins": self.bins, "blur": self.blur, "blur_sigma": self.blur_sigma,
                "blur_radius": self.blur_radius, "blur_padding": self.blur_padding}


__all__ = ["ESMLoss", "esm_divergence", "esm_image_target", "esm_image_target_dct"]
