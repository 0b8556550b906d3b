"""EQ-VAE (Kouzelis et al., ICML 2025; code ``zelaki/eqvae`` ``ldm/models/autoencoder.py``; notes §5).

Equivariance of the decoder to scaling and 90-degree rotations. Per training batch, as in the released code:

* with probability ``p`` (``p_prior`` = 0.5): draw a scale s in {8/32, 9/32, ..., 31/32} and a rotation k in {1, 2, 3}
  (k * 90 degrees), apply both to the latent and to the image, and reconstruct the transformed image from the
  transformed latent:  L_rec( rot_k(scale_s(x)), D(rot_k(scale_s(E(x)))) ). This *replaces* the plain
  reconstruction for that batch.
* otherwise ("prior preservation"): with probability ``p_low_res`` (``p_prior_s`` = 0.25) the *input* image is
  down-scaled by a fresh s before encoding and reconstructed as usual; else a plain reconstruction.

Sizes: the latent goes to h' = max(1, floor(h * s)) (what ``interpolate(scale_factor=s)`` gives) and the image to
exactly f * h', so the pair stays consistent even when H * s is not a multiple of f. Resampling is bilinear without
antialias as in the code; ``image_resize="antialias"`` is an option. ``anisotropic=True`` draws separate scales for
height and width (the code's option). rot90 acts on dims (-1, -2) for both tensors.
"""
from __future__ import annotations

import math

import torch

from smlib.regularizers.base import PairTransform
from smlib.regularizers.scale_equivariance import _METHODS, downsample

EQVAE_SCALES = tuple(s / 32 for s in range(8, 32))


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


__all__ = ["EQVAE", "EQVAE_SCALES"]
