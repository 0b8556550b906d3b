"""Scale Equivariance (Skorokhodov et al., ICML 2025, "Improving the Diffusability of Autoencoders"; notes §5).

The decoder must commute with down-sampling: with probability ``p`` per batch pick a factor s in ``factors``
(default 2 or 4), and add

    weight * L_rec( down_s(x), D(down_s(z)) )

to the normal reconstruction loss (an *extra* pair; the plain reconstruction stays). The latent grid (h, w) becomes
(h // s, w // s) (at least 1) and the image is resized to exactly f times that, so the pair stays consistent for any
size.

Resampling choice. The paper uses bilinear interpolation for both. We default to ``image_resize="antialias"``
(prefiltered bicubic) for x: the target down(x) is then a proper low-pass image with no alias energy that the
down-sampled latent could not explain; plain bilinear at factor 4 samples only the 2 central pixels of each 4-pixel
cell and aliases. For z we default to ``latent_resize="area"`` (cell mean), which equals bilinear exactly at factor 2
and is its alias-free analogue at 4. ``image_resize="bilinear", latent_resize="bilinear"`` reproduces the paper.
In the Spectrum Matching view this is a special case of DSM: down-sampling is a particular shared low-pass mask.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from smlib.regularizers.base import PairTransform
from smlib.spectral import resize

_METHODS = ("antialias", "area", "bicubic", "bilinear")


def downsample(x: torch.Tensor, size: tuple[int, int], method: str) -> torch.Tensor:
    """Resize (B, C, H, W) -> (B, C, h, w) with ``antialias``/``area``/``bicubic`` (smlib.spectral.resize) or plain
    ``bilinear`` (``F.interpolate``, align_corners=False, no prefilter: the paper's choice)."""
    if method == "bilinear":
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    if method not in _METHODS:
        raise ValueError(f"unknown resize method {method!r}; use one of {_METHODS}.")
    return resize(x, size, method=method)


class ScaleEquivariance(PairTransform):
    """Extra reconstruction pair (down_s(x), D(down_s(z))) with probability ``p``; s uniform in ``factors``."""

    name = "scale_equivariance"
    replaces_reconstruction = False

    def __init__(self, factors=(2, 4), p: float = 0.5, weight: float = 1.0, image_resize: str = "antialias",
                 latent_resize: str = "area", seed: int | None = None):
        super().__init__(weight=weight, seed=seed)
        self.factors = tuple(int(s) for s in factors)
        if not self.factors or any(s < 1 for s in self.factors):
            raise ValueError(f"scale factors must be positive integers, got {factors}.")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"probability p must be in [0, 1], got {p}.")
        for m in (image_resize, latent_resize):
            if m not in _METHODS:
                raise ValueError(f"unknown resize method {m!r}; use one of {_METHODS}.")
        self.p, self.image_resize, self.latent_resize = float(p), image_resize, latent_resize

    def sample_plan(self) -> dict:
        # draw both numbers every step so the RNG stream does not depend on the outcome
        u, i = self._uniform(), self._randint(len(self.factors))
        return {"active": u < self.p, "factor": self.factors[i]}

    def apply(self, x: torch.Tensor, z: torch.Tensor, plan: dict, factor: int):
        """x: (B, C, H, W), z: (B, d, h, w) -> (x' (B, C, f h', f w'), z' (B, d, h', w')), h' = max(1, h // s)."""
        if not plan.get("active", False):
            return None
        s = int(plan["factor"])
        h, w = z.shape[-2:]
        hs, ws = max(1, h // s), max(1, w // s)
        z_t = downsample(z, (hs, ws), self.latent_resize)
        x_t = downsample(x, (factor * hs, factor * ws), self.image_resize)
        return x_t, z_t

    def describe(self) -> dict:
        return {"name": self.name, "factors": list(self.factors), "p": self.p, "weight": self.weight,
                "image_resize": self.image_resize, "latent_resize": self.latent_resize, "seed": self.seed}


__all__ = ["ScaleEquivariance", "downsample"]
