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
"""
from __future__ import annotations

from contextlib import contextmanager, nullcontext

import torch

from smlib.regularizers.base import Penalty, as_float
from smlib.spectral import spectrum_distribution
from smlib.spectral.filters import ESM_BLUR_RULES as _BLUR_RULES, esm_image_target



def esm_divergence(x: torch.Tensor, z: torch.Tensor, *, delta: float = 1.0, n_bins: int = 16,
                   resize_method: str = "bicubic", bins: str = "authors", blur: str = "authors",
                   blur_sigma: float = 1.2, blur_radius: int = 3, blur_padding: str = "zeros",
                   eps: float = 1e-8) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-sample KL(p_x^delta || p_z). x: (B, C, H, W), z: (B, d, h, w) -> (kl (B,), p_x (B, n), p_z (B, n))."""
    if x.ndim != 4 or z.ndim != 4 or x.shape[0] != z.shape[0]:
        raise ValueError(f"ESM expects x (B, C, H, W) and z (B, d, h, w) with the same B, got {tuple(x.shape)} "
                         f"and {tuple(z.shape)}.")
    with _full_precision(z):
        return _esm_divergence(x, z, delta, n_bins, resize_method, bins, blur, blur_sigma, blur_radius,
                               blur_padding, eps)


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


def _esm_divergence(x, z, delta, n_bins, resize_method, bins, blur, blur_sigma, blur_radius, blur_padding, eps):
    if z.dtype not in (torch.float32, torch.float64):
        z = z.float()
    x = x.to(z.dtype)
    x_ds = esm_image_target(x, tuple(z.shape[-2:]), resize_method=resize_method, blur=blur, blur_sigma=blur_sigma,
                            blur_radius=blur_radius, blur_padding=blur_padding)
    p_x = spectrum_distribution(x_ds, n_bins=n_bins, delta=delta, scheme=bins, remove_dc=True, eps=eps)
    p_z = spectrum_distribution(z, n_bins=n_bins, delta=0.0, scheme=bins, remove_dc=True, eps=eps)
    kl = (p_x * (torch.log(p_x + eps) - torch.log(p_z + eps))).sum(dim=-1)
    return kl, p_x, p_z


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
        return esm_divergence(x, z, delta=self.delta if delta is None else delta, n_bins=self.n_bins,
                              resize_method=self.resize, bins=self.bins, blur=self.blur, blur_sigma=self.blur_sigma,
                              blur_radius=self.blur_radius, blur_padding=self.blur_padding, eps=self.eps)

    def forward(self, x: torch.Tensor, model=None, posterior=None, z: torch.Tensor | None = None, rec_loss=None):
        """x: (B, C, H, W) encoder input, z: (B, d, h, w) latent sample -> (scalar loss, logs)."""
        if z is None:
            raise ValueError("ESMLoss needs the latent sample z (B, d, h, w); pass z=posterior.sample().")
        x = x.detach()  # the target is data: only z may carry gradients
        kl, _, _ = self.divergence(x, z)
        loss = kl.mean()
        logs = {"esm": as_float(loss)}
        if self.log_rgb:
            with torch.no_grad():
                logs["esm_rgb"] = as_float(self.divergence(x, z.detach(), delta=0.0)[0].mean())
        return self.weight * loss, logs

    def describe(self) -> dict:
        return {"name": self.name, "weight": self.weight, "delta": self.delta, "n_bins": self.n_bins,
                "resize": self.resize, "bins": self.bins, "blur": self.blur, "blur_sigma": self.blur_sigma,
                "blur_radius": self.blur_radius, "blur_padding": self.blur_padding}


__all__ = ["ESMLoss", "esm_divergence", "esm_image_target"]
