"""The autoencoder lab's configuration: its knobs and three presets (:class:`AutoencoderConfig`), and the named
variants, one regularizer spec each, with where its settings come from.

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
from typing import ClassVar

from smlib.config import PresetConfig, register_presets
from smlib.train.checkpoint import canonical_config
from smlib.regularizers.eqvae import eqvae_scales

AUTHORS_KL_WEIGHT = 1e-6
AUTHORS_LATENT_POSITIONS = 32 * 32   # f8d4 at 256^2: the grid the authors' kl_weight was tuned on


def matched_kl_weight(latent_size: int | tuple[int, int]) -> float:
    """The authors' 1e-6, rescaled so KL vs pixel-mean L1 has the same balance per latent position on an h x w grid."""
    h, w = (latent_size, latent_size) if isinstance(latent_size, int) else latent_size
    return AUTHORS_KL_WEIGHT * AUTHORS_LATENT_POSITIONS / (int(h) * int(w))


#: share of the preset's steps an ``init_from`` variant trains on top of its base run. The EQ-VAE paper fine-tunes
#: SD-VAE (kl-f8, trained 246,803 steps: CompVis/latent-diffusion@00c19b4 README) for 5 epochs of OpenImages at an
#: effective batch of 160 (10 x 8 GPUs x 2 accumulation: zelaki/eqvae@c34589c train_eqvae/configs/eqvae_config.yaml
#: and README). Our derivation: 5 x ~1.74M images / 160 ~ 54k steps ~ 22% of kl-f8's steps; the image count of its
#: OpenImages split and kl-f8's batch are not stated, so 0.2 is the order of magnitude, not a measured ratio. At the
#: small preset it is 300 steps (~1.2 epochs of the 8192 images) on top of SD-VAE's 1500.
FINETUNE_SHARE = 0.2


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
    # fine-tuning (issue 23): start from the finished run of ``init_from`` (same preset and seed) and train this
    # objective for round(finetune_share * steps) more steps; "" trains from scratch like every other arm
    init_from: str = ""
    finetune_share: float = 0.0


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
                                "eqvae": {"p": 0.5, "p_low_res": 0.25, "scales": "matched"}},
            "Kouzelis et al. 2025 (arXiv 2502.09509; zelaki/eqvae@c34589c train_eqvae/): fine-tunes the pretrained "
            "SD-VAE with scale + rot90 pairs, p 0.5, low-res prior 0.25, the SD-VAE loss (notes §5)",
            "fine-tuned from the sd-vae run of the same seed for FINETUNE_SHARE of the budget (the paper: 5 epochs "
            "on SD-VAE); scales eqvae_scales(h) = {4..7}/8 on the 8x8 latent instead of {8..31}/32 (below 1/2 "
            "plain bilinear skips latent positions: regularizers/eqvae.py)",
            ("special case",), init_from="sd-vae", finetune_share=FINETUNE_SHARE),
    Variant("vf", "VA-VAE (VF loss)", {"kl": {"weight": "matched", "reduction": "sum"},
                                       "vf": {"vf_weight": 0.1, "cos_margin": 0.5, "distmat_margin": 0.25}},
            "Yao et al. 2025: VF loss, margins 0.5 / 0.25, adaptive weight x 0.1, SD-VAE KL (notes §5)",
            "frozen encoder EfficientNet-Lite2 (offline) instead of DINOv2-L; features taken at the latent grid",
            ("special case",)),
]}


# ---- issue 23: EQ-VAE as its paper trains it (fine-tuned from SD-VAE), and the arms that bracket it -----------
#: variants outside the book's table and the lab's "all": named on request (``--variant eqvae-scratch``)
EXTRA_VARIANTS: dict[str, Variant] = {v.name: v for v in [
    Variant("eqvae-scratch", "EQ-VAE (from scratch)", {"kl": {"weight": "matched", "reduction": "sum"},
                                                       "eqvae": {"p": 0.5, "p_low_res": 0.25}},
            "the lab's first EQ-VAE arm: Kouzelis et al. 2025's objective and released scales {8..31}/32, trained "
            "from scratch (notes §5)",
            "not the paper's protocol: only (1 - 0.5) x (1 - 0.25) = 37.5% of its steps train full-resolution "
            "reconstruction, and on the 8x8 latent s < 1/2 aliases (2x2 at 8/32)",
            ("special case", "from scratch")),
    Variant("sd-vae-ft", "SD-VAE (+ fine-tuning steps)", {"kl": {"weight": "matched", "reduction": "sum"}},
            "control for eqvae: the sd-vae run of the same seed trained FINETUNE_SHARE more steps on its own "
            "objective, so eqvae - sd-vae-ft isolates the equivariance pairs from the extra steps",
            "", ("baseline", "control"), init_from="sd-vae", finetune_share=FINETUNE_SHARE),
]}


def list_variants() -> list[str]:
    """Names of the variants, in the order of the book's table."""
    return list(VARIANTS)


def get_variant(name: str) -> Variant:
    """The :class:`Variant` called ``name`` (of the table or :data:`EXTRA_VARIANTS`); an unknown name raises a
    one-line ValueError listing the known ones."""
    if name in EXTRA_VARIANTS:
        return EXTRA_VARIANTS[name]
    if name not in VARIANTS:
        raise ValueError(f"unknown autoencoder variant {name!r}; known: {', '.join([*VARIANTS, *EXTRA_VARIANTS])} "
                         f"(or pass regularizers=... for a custom recipe).")
    return VARIANTS[name]


def variant_recipe(name: str) -> dict:
    """What a variant trains, as a run's identity records it: its regularizer spec and where a fine-tuning starts
    (JSON types), so a committed run is never reported under a variant whose recipe has changed since."""
    v = get_variant(name)
    return canonical_config({"spec": v.spec, "init_from": v.init_from, "finetune_share": v.finetune_share})


def recipe_before_identity(name: str) -> dict:
    """The recipe a run committed before recipes entered run identities (before 2026-12-07) was trained with:
    today's for every variant but ``eqvae``, which was trained from scratch then (what ``eqvae-scratch`` is now)."""
    return variant_recipe("eqvae-scratch" if name == "eqvae" else name)


def resolve_spec(spec: dict, latent_size: int | tuple[int, int]) -> dict:
    """Copy of a variant spec with every ``"matched"`` weight replaced by :func:`matched_kl_weight`, and EQ-VAE's
    ``"scales": "matched"`` by :func:`smlib.regularizers.eqvae.eqvae_scales` of the latent's smaller side."""
    out = deepcopy(dict(spec))
    for name, kw in out.items():
        if isinstance(kw, dict) and kw.get("weight") == "matched":
            kw["weight"] = matched_kl_weight(latent_size)
        if isinstance(kw, dict) and kw.get("scales") == "matched":   # issue 23
            kw["scales"] = eqvae_scales(min((latent_size,) * 2 if isinstance(latent_size, int) else latent_size))
    return out


# ---------------------------------------------------------------------------------------------- the knobs
@dataclass(frozen=True)
class AutoencoderConfig(PresetConfig):
    """One budget for every variant. Training knobs share their names with :class:`~smlib.train.TrainConfig`."""

    #: a lab run is identified by every knob but its name and the sweep's lists (its step count included: the lab
    #: checks it again when it reads a run back)
    NOT_IDENTITY: ClassVar[tuple[str, ...]] = ("preset", "variants", "seeds")

    # data
    dataset: str = "cifar10"
    resolution: int = 32                     # image side in pixels
    n_train: int | None = 1024               # a seeded subset of the train split; None: the whole split
    hflip: bool = False                      # random h-flips (whole-split runs only)
    # model and objective
    ae: str = "tiny-f4d4"                    # smlib.models.autoencoder.ae_config name (f = downsampling, d = channels)
    ae_channels: tuple[int, ...] | None = (16, 32, 32)   # per-level widths; None: the named config's own
    variants: tuple[str, ...] = tuple(list_variants())    # the lab's variants, in the book's order
    delta: float = 1.0                       # ESM tilt of the image target (also used by the latent diagnostics)
    dsm_block: int = 8                       # DSM block side (must divide the latent and the image)
    lpips_weight: float = 0.0                # LPIPS needs VGG weights from the network: 0 offline
    gan: bool = False                        # PatchGAN discriminator on alternate steps
    gan_start: int = 0                       # first step (0-based) of the generator's adversarial term
    disc_weight: float = 0.5
    vf_encoder: str = "efficientnet-lite2"   # VA-VAE's frozen encoder (DINOv2 needs the network)
    vf_layer: str | None = "blocks.4"        # its tapped layer (None: the last)
    vf_input: int = 64                       # its input size in pixels
    # optimisation (TrainConfig names)
    steps: int = 120
    batch_size: int = 16
    lr: float = 1e-3
    warmup_steps: int = 20
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float | None = 1.0
    log_every: int = 20
    ckpt_every: int = 120
    # evaluation
    eval_seed: int = 0                       # which test images (a seeded subset) and which posterior sample
    eval_batch: int = 100
    fid_n: int = 48                          # rFID-N / KID on N reconstructions vs the same N originals; 0: skip
    kid_subset: int = 24
    n_spectrum: int = 128                    # images the latent spectra average over
    n_examples: int = 4                      # example reconstructions kept in the results file
    lowpass_ks: tuple[int, ...] = (0, 4, 8, 10, 12)   # DSM masks (k anti-diagonals removed) for low-pass PSNR
    lowpass_fid_ks: tuple[int, ...] = ()     # ... and for low-pass rFID
    lowpass_fid_n: int = 0


register_presets(
    AutoencoderConfig,
    # minutes for all variants on 2 CPU cores: a narrow AE, a few hundred images, rFID-48 (rough by design)
    ci=AutoencoderConfig(),
    # the book's table: about 5-8 minutes per variant on 2 CPU cores
    small=AutoencoderConfig(n_train=8192, steps=1500, batch_size=32, warmup_steps=100, log_every=50, ckpt_every=250,
                            fid_n=500, kid_subset=250, n_spectrum=500, lowpass_fid_ks=(10,), lowpass_fid_n=200,
                            vf_input=128),
    # the authors' recipe (notes §1.5) on CelebA at 256 px, f8d4, with LPIPS and the PatchGAN from step 50,001
    paper=AutoencoderConfig(dataset="celeba", resolution=256, ae="f8d4", ae_channels=None, n_train=None, hflip=True,
                            steps=500_000, batch_size=48, lr=5e-5, warmup_steps=2000, weight_decay=0.005,
                            log_every=100, ckpt_every=10_000, lpips_weight=0.5, gan=True, gan_start=50_000,
                            fid_n=50_000, kid_subset=1000, n_spectrum=1000, lowpass_fid_ks=(4, 8, 10, 12),
                            lowpass_fid_n=5000, eval_batch=50, vf_encoder="dinov2-vitb14", vf_layer=None,
                            vf_input=224),
)



__all__ = ["AutoencoderConfig", "Variant", "VARIANTS", "variant_recipe", "recipe_before_identity", "list_variants", "get_variant", "resolve_spec", "matched_kl_weight",
           "AUTHORS_KL_WEIGHT", "AUTHORS_LATENT_POSITIONS", "EXTRA_VARIANTS", "FINETUNE_SHARE"]
