"""Chapter 2's recipe (Prop. 3.2, notebook ``02_rmsc_identity``): the RMSC identity on encoder features, and what iREPA's normalisation and a DoG do to it."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from smlib import spectral, theory
from smlib.config import PresetConfig, register_presets


@dataclass(frozen=True)
class RMSCIdentityConfig(PresetConfig):
    """Chapter 2's knobs: which encoder's tokens the identity is checked on, and the target filters."""

    resolution: int = 64                    # image side before the encoder's own resize
    n_images: int = 16                      # images encoded
    encoder: str = "efficientnet-lite2"     # smlib.models.encoders name ("dinov2-vitb14" needs the network)
    encoder_input: int = 260                # encoder input size in pixels (sets the token grid)
    dog_sigmas: tuple[float, float] = (0.5, 2.0)   # DoG band-pass sigmas in token units (ours: not the paper's)
    irepa_gamma: float = 0.6                # iREPA's mean-removal strength (LDM recipe value)


register_presets(
    RMSCIdentityConfig,
    ci=RMSCIdentityConfig(),
    small=RMSCIdentityConfig(n_images=256),
    paper=RMSCIdentityConfig(resolution=256, n_images=5000, encoder="dinov2-vitb14", encoder_input=224),
)


@torch.no_grad()
def encode(encoder, images: torch.Tensor, batch: int = 32) -> torch.Tensor:
    """Token grids of a frozen encoder. images: (N, 3, H, W) in [-1, 1] -> (N, D, h, w) float64 on the CPU."""
    device = next(encoder.parameters()).device
    out = [encoder(images[i:i + batch].to(device)).double().cpu() for i in range(0, images.shape[0], batch)]
    return torch.cat(out)


def target_variants(feats: torch.Tensor, gamma: float, dog_sigmas: tuple[float, float]) -> dict[str, torch.Tensor]:
    """The REPA target three ways: raw tokens, iREPA's spatial normalisation, and the DoG band-pass (+ std).

    feats: (N, D, h, w) -> {name: (N, D, h, w)}.
    """
    s1, s2 = dog_sigmas
    return {
        "raw (REPA)": feats,
        f"spatial norm, gamma={gamma} (iREPA)": spectral.spatial_normalize(feats, gamma=gamma),
        f"DoG sigma=({s1}, {s2}) + std (DoG-REPA)": spectral.dog_normalize(feats, s1, s2),
    }


def identity_error(feats: torch.Tensor) -> float:
    """Largest disagreement between the three sides of Prop. 3.2 over a batch (N, D, h, w)."""
    t = theory.rmsc_identity_terms(feats)
    return max((t["rmsc_sq"] - t["dct_energy"]).abs().max().item(),
               (t["rmsc_sq"] - t["one_minus_mean_sq"]).abs().max().item())


def directional_profile(feats: torch.Tensor, n_bins: int = 8) -> torch.Tensor:
    """Share of direction-field energy per radial DCT bin (bin 0 holds DC), averaged over images.

    feats: (N, D, h, w) -> (n_bins,), sums to 1 (the direction field has energy T per image).
    """
    spec = spectral.directional_spectrum(feats)                              # (N, h, w), sums to T
    bins = spectral.dct_radial_bins(spec.shape[-2], spec.shape[-1], n_bins)
    counts = torch.bincount(bins.flatten(), minlength=n_bins).to(spec.dtype)
    per_bin = spectral.radial_pool(spec, bins, n_bins) * counts               # bin totals, not means
    return (per_bin / per_bin.sum(dim=-1, keepdim=True)).mean(dim=0)
