"""The named autoencoder variants of the lab: one regularizer spec each, with where its settings come from.

Every variant trains the same :class:`~smlib.models.autoencoder.AutoEncoder` with the same budget; only the
regularizers differ. Settings are the authors' where known (notes §1.5 and §5); what had to change for 32 px
CIFAR-10 latents of 8 x 8 x 4 is listed in each variant's ``adaptation``.

KL weight at another scale. The authors' ``kl 1e-6`` multiplies a KL *summed* over the latent entries, against an
L1 *averaged* over pixels. The reconstruction gradient reaching one latent position therefore scales as 1 / (h w),
the number of latent positions, while the KL gradient per position does not. To keep the authors' balance per
latent position, :func:`matched_kl_weight` scales 1e-6 by (32 x 32) / (h x w): 1e-6 for f8 at 256 px (the
authors' f8d4), 1.6e-5 for 8 x 8 latents.
"""
from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass, field

AUTHORS_KL_WEIGHT = 1e-6
AUTHORS_LATENT_POSITIONS = 32 * 32   # f8d4 at 256^2: the grid the authors' kl_weight was tuned on


def matched_kl_weight(latent_size: int | tuple[int, int]) -> float:
    """The authors' 1e-6, rescaled so KL vs pixel-mean L1 has the same balance per latent position on an h x w grid."""
    h, w = (latent_size, latent_size) if isinstance(latent_size, int) else latent_size
    return AUTHORS_KL_WEIGHT * AUTHORS_LATENT_POSITIONS / (int(h) * int(w))


@dataclass(frozen=True)
class Variant:
    """A named regularizer recipe. ``spec`` is a :func:`smlib.regularizers.build_regularizers` spec in which the
    string ``"matched"`` as a KL weight means :func:`matched_kl_weight` of the run's latent grid."""

    name: str
    label: str
    spec: dict
    source: str
    adaptation: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)


VARIANTS: dict[str, Variant] = {v.name: v for v in [
    Variant("plain", "plain AE", {},
            "floor: no regularizer (kl 0), notes §6", "",
            ("baseline",)),
    Variant("sd-vae", "SD-VAE", {"kl": {"weight": "matched", "reduction": "sum"}},
            "SD-VAE recipe as re-implemented by the authors: kl_weight 1e-6, KL summed (notes §1.5)",
            "kl weight rescaled to the 8x8 latent grid (see matched_kl_weight): 1.6e-5 here, 1e-6 at f8/256 px",
            ("baseline",)),
    Variant("esm", "ESM-AE", {"esm": {"weight": 0.01, "delta": 1.0}},
            "released ESM-AE: kl 0, esm_weight 0.01, delta 1.0, 16 bins, authors' blur/bicubic (notes §1.5)",
            "none (the 7x7 blur rule applies because the latent is not 32x32, as in the authors' f16 setting)",
            ("spectrum matching",)),
    Variant("dsm", "DSM-AE", {"dsm": {"ks": (0, 8, 10, 12), "block": 8}},
            "released DSM-AE: kl 0, 8x8 blocks, k ~ U{0, 8, 10, 12} shared by image and latent (notes §1.5)",
            "none: the 8x8 latent is exactly one DSM block; image blocks are 8x8 pixels (block-relative alignment, "
            "notes §1.8.1)",
            ("spectrum matching",)),
    Variant("scale_equivariance", "Scale Equivariance",
            {"scale_equivariance": {"factors": (2, 4), "p": 0.5, "weight": 1.0, "image_resize": "bilinear",
                                    "latent_resize": "bilinear"}},
            "Skorokhodov et al. 2025: extra pair L(down(x), D(down(z))), factors 2/4, bilinear (notes §5)",
            "trained from scratch with kl 0 (the paper fine-tunes a pretrained AE for <= 20k steps)",
            ("special case",)),
    Variant("eqvae", "EQ-VAE", {"kl": {"weight": "matched", "reduction": "sum"},
                                "eqvae": {"p": 0.5, "p_low_res": 0.25}},
            "Kouzelis et al. 2025: scale s in {8..31}/32 + rot90, p 0.5, low-res prior 0.25, SD-VAE KL (notes §5)",
            "trained from scratch on top of the sd-vae arm (the paper fine-tunes SD-VAE for 5 epochs)",
            ("special case",)),
    Variant("vf", "VA-VAE (VF loss)", {"kl": {"weight": "matched", "reduction": "sum"},
                                       "vf": {"vf_weight": 0.1, "cos_margin": 0.5, "distmat_margin": 0.25}},
            "Yao et al. 2025: VF loss, margins 0.5 / 0.25, adaptive weight x 0.1, SD-VAE KL (notes §5)",
            "frozen encoder EfficientNet-Lite2 (offline) instead of DINOv2-L; features taken at the latent grid",
            ("special case",)),
]}


def list_variants() -> list[str]:
    """Names of the variants, in the order of the book's table."""
    return list(VARIANTS)


def get_variant(name: str) -> Variant:
    """The :class:`Variant` called ``name``; an unknown name raises a one-line ValueError listing the known ones."""
    if name not in VARIANTS:
        raise ValueError(f"unknown autoencoder variant {name!r}; known: {', '.join(VARIANTS)} "
                         f"(or pass regularizers=... for a custom recipe).")
    return VARIANTS[name]


def resolve_spec(spec: dict, latent_size: int | tuple[int, int]) -> dict:
    """Copy of a variant spec with every ``"matched"`` weight replaced by :func:`matched_kl_weight`."""
    out = deepcopy(dict(spec))
    for name, kw in out.items():
        if isinstance(kw, dict) and kw.get("weight") == "matched":
            kw["weight"] = matched_kl_weight(latent_size)
    return out


__all__ = ["Variant", "VARIANTS", "list_variants", "get_variant", "resolve_spec", "matched_kl_weight",
           "AUTHORS_KL_WEIGHT", "AUTHORS_LATENT_POSITIONS"]
