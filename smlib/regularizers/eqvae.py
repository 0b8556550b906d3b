"""EQ-VAE (Kouzelis et al., ICML 2025; code ``zelaki/eqvae`` ``ldm/models/autoencoder.py``; notes §5).

Equivariance of the decoder to scaling and 90-degree rotations. Per training batch, as in the released code:

* with probability ``p`` (``p_prior`` = 0.5): draw a scale s in ``scales`` (released: {8/32, 9/32, ..., 31/32}; at
  other latent sizes see "Scales" below) and a rotation k in {1, 2, 3}
  (k * 90 degrees), apply both to the latent and to the image, and reconstruct the transformed image from the
  transformed latent:  L_rec( rot_k(scale_s(x)), D(rot_k(scale_s(E(x)))) ). This *replaces* the plain
  reconstruction for that batch.
* otherwise ("prior preservation"): with probability ``p_low_res`` (``p_prior_s`` = 0.25) the *input* image is
  down-scaled by a fresh s before encoding and reconstructed as usual; else a plain reconstruction.

Sizes: the latent goes to h' = max(1, floor(h * s)) (what ``interpolate(scale_factor=s)`` gives) and the image to
exactly f * h', so the pair stays consistent even when H * s is not a multiple of f. Resampling is bilinear without
antialias as in the code; ``image_resize="antialias"`` is an option. ``anisotropic=True`` draws separate scales for
height and width (the code's option). rot90 acts on dims (-1, -2) for both tensors.

Scales at a given latent size (:func:`eqvae_scales`). The released set {8/32, ..., 31/32} is, on the paper's 32 x 32
latent (f8 at 256 px), one scale per integer latent side from 8 to 31: h * s is an integer, so
``interpolate(scale_factor=s)`` and the resize to an explicit size used here agree exactly. The same rule on the
8 x 8 latent of the lab's 32 px presets gives {2/8, ..., 7/8}, and there its smallest members fail: bilinear
without a prefilter reads output sample j at source coordinate (j + 1/2) / s - 1/2 from its two neighbours only, so
below s = 1/2 some latent positions never reach the loss (at 2/8 the output reads positions 1, 2, 5, 6 and never
0, 3, 4, 7; at 3/8 it skips 2 and 5): the pair aliases, and the 2 x 2 or 3 x 3 latent decodes to an 8 or 12 px
image. From s = 1/2 up every position is read (at exactly 1/2 the resize is the 2 x 2 mean), so the lab's EQ-VAE
uses ``eqvae_scales(8) = (4/8, 5/8, 6/8, 7/8)``: latents of side 4 to 7, images of 16 to 28 px (the image resize,
32 px to 4 k px, reads every pixel by the same argument). Rotations are the
paper's k * 90 degrees, k in {1, 2, 3}: exact permutations of a square grid at any size. (The released range down
to 1/4 aliases on 32 x 32 latents too; the paper's set is kept as :data:`EQVAE_SCALES` and in the from-scratch
``eqvae-scratch`` arm of the lab.)
"""
from __future__ import annotations

import math

import torch

from smlib.regularizers.base import PairTransform
from smlib.regularizers.scale_equivariance import _METHODS, downsample

#: the released code's scales, one per integer latent side 8..31 of its 32 x 32 latent
EQVAE_SCALES = tuple(s / 32 for s in range(8, 32))


def eqvae_scales(latent_side: int, min_scale: float = 0.5) -> tuple[float, ...]:
    """One scale k / h per integer latent side k with ``min_scale * h <= k < h`` (h = ``latent_side``): the released
    rule (h = 32, min_scale = 1/4 gives :data:`EQVAE_SCALES`) with the floor 1/2 below which plain bilinear skips
    latent positions (module docstring). ``eqvae_scales(8) == (0.5, 0.625, 0.75, 0.875)``."""
    h = int(latent_side)
    k0 = max(1, math.ceil(min_scale * h - 1e-9))
    if h < 2 or k0 >= h:
        raise ValueError(f"no integer latent side in [{min_scale} * {h}, {h}); use a larger latent or a smaller "
                         f"min_scale.")
    return tuple(k / h for k in range(k0, h))


def _scaled(n: int, s: float) -> int:
    return max(1, int(math.floor(n * s + 1e-9)))


class EQVAE(PairTransform):
    """Scale + rot90 equivariance pair with probability ``p``; low-resolution prior preservation otherwise."""

    name = "eqvae"
    replaces_reconstruction = True

    def __init__(self, p: float = 0.5, p_low_res: float = 0.25, scales=EQVAE_SCALES, angles=(1, 2, 3),
                 anisotropic: bool = False, image_resize: str = "bilinear", latent_resize: str = "bilinear",
                 weight: float = 1.0, seed: int | None = None):
        super().__init__(weight=weight, seed=seed)
        if not (0.0 <= p <= 1.0 and 0.0 <= p_low_res <= 1.0):
            raise ValueError(f"probabilities must be in [0, 1], got p={p}, p_low_res={p_low_res}.")
        self.scales = tuple(float(s) for s in scales)
        if not self.scales or any(not 0.0 < s <= 1.0 for s in self.scales):
            raise ValueError(f"EQ-VAE scales must lie in (0, 1], got {scales}.")
        self.angles = tuple(int(a) % 4 for a in angles)
        for m in (image_resize, latent_resize):
            if m not in _METHODS:
                raise ValueError(f"unknown resize method {m!r}; use one of {_METHODS}.")
        self.p, self.p_low_res, self.anisotropic = float(p), float(p_low_res), bool(anisotropic)
        self.image_resize, self.latent_resize = image_resize, latent_resize

    def sample_plan(self) -> dict:
        # a fixed number of draws per step keeps the RNG stream independent of the branch taken
        u_eq, u_low = self._uniform(), self._uniform()
        sy = self.scales[self._randint(len(self.scales))]
        sx = self.scales[self._randint(len(self.scales))] if self.anisotropic else sy
        angle = self.angles[self._randint(len(self.angles))]
        if u_eq < self.p:
            return {"active": True, "mode": "equivariance", "scale": (sy, sx), "angle": angle}
        if u_low < self.p_low_res:
            return {"active": False, "mode": "low_res", "scale": (sy, sx), "angle": 0}
        return {"active": False, "mode": "plain", "scale": (1.0, 1.0), "angle": 0}

    def prepare_input(self, x: torch.Tensor, plan: dict, factor: int) -> torch.Tensor:
        """Low-resolution prior preservation: x (B, C, H, W) -> (B, C, f h', f w') with h' = floor(H/f * s)."""
        if plan.get("mode") != "low_res":
            return x
        sy, sx = plan["scale"]
        h, w = x.shape[-2] // factor, x.shape[-1] // factor
        return downsample(x, (factor * _scaled(h, sy), factor * _scaled(w, sx)), self.image_resize)

    def apply(self, x: torch.Tensor, z: torch.Tensor, plan: dict, factor: int):
        """x: (B, C, H, W), z: (B, d, h, w) -> (rot(scale(x)) (B, C, f h'', f w''), rot(scale(z))) or None."""
        if not plan.get("active", False):
            return None
        sy, sx = plan["scale"]
        h, w = z.shape[-2:]
        hs, ws = _scaled(h, sy), _scaled(w, sx)
        z_t = downsample(z, (hs, ws), self.latent_resize) if (hs, ws) != (h, w) else z
        x_t = downsample(x, (factor * hs, factor * ws), self.image_resize)
        k = int(plan["angle"])
        if k:
            z_t = torch.rot90(z_t, k=k, dims=(-1, -2))
            x_t = torch.rot90(x_t, k=k, dims=(-1, -2))
        return x_t, z_t

    def describe(self) -> dict:
        return {"name": self.name, "p": self.p, "p_low_res": self.p_low_res, "scales": [min(self.scales),
                max(self.scales), len(self.scales)], "angles": list(self.angles), "anisotropic": self.anisotropic,
                "image_resize": self.image_resize, "latent_resize": self.latent_resize, "seed": self.seed}


__all__ = ["EQVAE", "EQVAE_SCALES", "eqvae_scales"]
