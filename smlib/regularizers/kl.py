"""The SD-VAE KL term: pull the posterior N(mu, sigma^2) towards N(0, I).

    KL = -0.5 * sum_{c,h,w} (1 + logvar - mu^2 - exp(logvar)),   mean over the batch,   times ``weight``

**Sum vs mean (notes §1.8.5).** ``reduction="sum"`` (default) sums over the d*h*w latent entries, as SD and the
Spectrum Matching code do. The reconstruction loss, however, is a *pixel mean* in the authors' code (L1 averaged over
3*H*W values) while CompVis sums it over pixels. So the authors' ``kl_weight = 1e-6`` is about 3*256^2 ~ 2e5 times
*stronger*, relative to reconstruction, than SD's 1e-6. ``reduction="mean"`` averages over latent entries instead, a
further d*h*w times weaker. Report which one a run used.
"""
from __future__ import annotations

import torch

from smlib.regularizers.base import Penalty, as_float


class KLPenalty(Penalty):
    """``weight * mean_B KL(q(z|x) || N(0, I))``; logs ``kl`` (unweighted, same reduction)."""

    name = "kl"

    def __init__(self, weight: float = 1e-6, reduction: str = "sum"):
        super().__init__()
        if reduction not in ("sum", "mean"):
            raise ValueError(f"unknown KL reduction {reduction!r}; use 'sum' or 'mean'.")
        self.weight = float(weight)
        self.reduction = reduction

    def forward(self, x: torch.Tensor, model, posterior, z=None, rec_loss=None):
        """posterior: DiagonalGaussian over (B, d, h, w) -> (scalar loss, {"kl": float})."""
        kl = posterior.kl(self.reduction).mean()
        return self.weight * kl, {"kl": as_float(kl)}

    def describe(self) -> dict:
        return {"name": self.name, "weight": self.weight, "reduction": self.reduction}


__all__ = ["KLPenalty"]
