"""Decoding Spectrum Matching (DSM): decode a low-passed latent into the equally low-passed image.

Exact semantics of the authors' code (``DSM`` branch, ``modules/vae.py::VAE.forward``; notes §1.5, Algorithm 2 §1.7):

    per training batch: k ~ Uniform{0, 8, 10, 12}          (one k for the whole batch; 25% of batches unmasked)
    if k > 0: x_M = block_lowpass(x, 8, k), z_M = block_lowpass(z, 8, k)     (every channel, b x b blocks)
              i.e. zero the block-DCT coefficients with u + v >= 2(b-1) - (k-1) = 15 - k
    x_hat = D(z_M);  L1, LPIPS and the GAN's "real" images all use x_M as target

The same block size and cut apply to image pixels and latent pixels, so the masks agree in *block-relative* frequency,
not in absolute image frequency (notes §1.8.1). Evaluation and inference decode unmasked latents (k = 0): in eval
mode this regularizer does nothing. z is the posterior *sample* (reparameterised also under DSM).

The default family (0, 8, 10, 12) is for 8x8 blocks (k <= 15); other block sizes need their own, e.g. (0, 3, 4, 5)
for 4x4 blocks keeps u + v <= 3, 2, 1 of 6. Latent grids must tile into blocks: 32x32 (f8 at 256^2) and 16x16 (f16)
do for b = 8; tiny CPU models need b = 4 or smaller.
"""
from __future__ import annotations

import torch

from smlib.regularizers.base import PairTransform
from smlib.spectral import block_lowpass, lowpass_mask


class DSM(PairTransform):
    """Shared block-DCT low-pass of image and latent; replaces the reconstruction target by x_M."""

    name = "dsm"
    replaces_reconstruction = True

    def __init__(self, ks=(0, 8, 10, 12), block: int = 8, weight: float = 1.0, seed: int | None = None):
        super().__init__(weight=weight, seed=seed)
        self.ks = tuple(int(k) for k in ks)
        self.block = int(block)
        if not self.ks:
            raise ValueError("DSM needs at least one mask cut k (e.g. ks=(0, 8, 10, 12)).")
        for k in self.ks:
            lowpass_mask(self.block, k)  # validates 0 <= k <= 2b - 1 with a clear message

    def check_sizes(self, x: torch.Tensor, z: torch.Tensor) -> None:
        """Both grids must tile into ``block`` x ``block`` blocks; raise one clear line otherwise."""
        b = self.block
        h, w = z.shape[-2:]
        if h % b or w % b:
            raise ValueError(f"DSM block {b} does not divide the latent grid {h}x{w} (image {x.shape[-2]}x"
                             f"{x.shape[-1]}); use a DSM block size that divides {h} and {w}, or larger images.")
        if x.shape[-2] % b or x.shape[-1] % b:
            raise ValueError(f"DSM block {b} does not divide the image size {x.shape[-2]}x{x.shape[-1]}.")

    def sample_plan(self) -> dict:
        k = self.ks[self._randint(len(self.ks))]
        return {"active": True, "k": k}

    def apply(self, x: torch.Tensor, z: torch.Tensor, plan: dict, factor: int = 1):
        """x: (B, C, H, W), z: (B, d, h, w) -> (x_M, z_M) with the plan's cut k; k = 0 returns (x, z) itself."""
        if not plan.get("active", False):
            return None
        self.check_sizes(x, z)
        k = int(plan["k"])
        return block_lowpass(x, self.block, k), block_lowpass(z, self.block, k)

    def describe(self) -> dict:
        return {"name": self.name, "ks": list(self.ks), "block": self.block, "weight": self.weight, "seed": self.seed}


__all__ = ["DSM"]
