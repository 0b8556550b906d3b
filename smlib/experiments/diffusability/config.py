"""The diffusability sweep's knobs (chapter 5), declared once, its three presets, and the paper preset's two
settings."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from smlib.experiments.autoencoders.variants import VARIANTS as LAB_VARIANTS
from smlib.experiments.config import ChapterConfig, ConfigError, register_presets

#: variant -> label in tables. The names are the autoencoder lab's, so a run asks the lab for exactly the autoencoder
#: chapter 4 trained. VA-VAE ("vf") aligns to a frozen EfficientNet-Lite2 here, a labelled offline stand-in for the
#: DINOv2 of the paper's recipe.
VARIANTS = {name: LAB_VARIANTS[name].label
            for name in ("sd-vae", "esm", "dsm", "scale_equivariance", "eqvae", "vf", "plain")}
#: the ci smoke test's variants: all but VA-VAE, whose frozen encoder would double the ci cells' time
CI_VARIANTS = tuple(v for v in VARIANTS if v != "vf")


@dataclass(frozen=True)
class DiffusabilityConfig(ChapterConfig):
    """One diffusion recipe for every latent space. Training knobs share their names with TrainConfig."""

    setting: str | None = None               # paper preset only: "imagenet256" or "celebahq256" (PAPER_SETTINGS)
    # autoencoders and data
    ae_preset: str = "ci"                    # which lab preset's autoencoders to diffuse
    ae_seed: int | None = None               # the lab seed of every run's autoencoder; None: the diffusion seed
    ae_seeds: tuple[int, ...] = ()           # a sharded sweep over autoencoder seeds too (.shards); (): ae_seed above
    dataset: str = "cifar10"
    split: str = "train"
    resolution: int = 32
    n_images: int = 512                      # a seeded subset of the split, encoded once (+ h-flips)
    subset_seed: int = 0
    flips: bool = True                       # also cache the latents of the flipped images
    store: str = "moments"                   # cache posterior moments (a fresh sample each step) or samples
    norm_mode: str = "global"                # latent normalisation: one 1/std ("global") or per channel ("channel")
    class_conditional: bool = False
    num_classes: int = 0                     # 0: from the labels (class_conditional only)
    # model, formulation, sampler
    model: dict = field(default_factory=lambda: dict(arch="dit", hidden_size=64, depth=2, num_heads=4,
                                                     patch_size=2))     # smlib.models.factory.build_backbone spec
    formulation: str = "sit"                 # smlib.diffusion.make_formulation name
    formulation_kwargs: dict = field(default_factory=dict)
    sampler: str = "heun"
    sample_steps: int = 25
    cfg_scale: float = 1.0
    # optimisation (TrainConfig names)
    steps: int = 150
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float | None = 1.0
    warmup_steps: int = 10
    ema_decay: float | None = 0.98
    eval_every: int | None = None            # gFID-N every this many steps (None: at the end only)
    ckpt_every: int | None = None
    log_every: int = 10
    parallel: str = "ddp"                    # under torchrun: "ddp", or "fsdp" to shard weights and AdamW state
    # evaluation
    n_fid: int = 48                          # samples per gFID-N/KID during training (0: no Inception)
    n_final_fid: int | None = None           # a larger final FID after training (the paper's FID-50k)
    n_boot: int = 0                          # bootstrap resamples for the final FID/KID and floor intervals (0: none)
    n_reference: int = 48                    # reference images (the first n of the subset)
    kid_subset: int = 48                     # block size of KID over the reference set
    precision_recall: bool = False
    n_freq: int = 256                        # held-out test latents for the per-frequency error
    freq_ts: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 0.9)
    n_grid: int = 16                         # samples kept as a grid
    # the sweep
    variants: tuple[str, ...] = CI_VARIANTS
    seeds: tuple[int, ...] = (0,)

    @classmethod
    def at(cls, preset: str = "ci", **overrides: Any) -> DiffusabilityConfig:
        """The preset, then its ``setting``'s overrides (paper only), then the caller's non-None overrides."""
        base = super().at(preset)
        setting = overrides.get("setting") or base.setting
        if setting is not None:
            if setting not in PAPER_SETTINGS:
                raise ConfigError(f"unknown setting {setting!r}; choose one of: {', '.join(PAPER_SETTINGS)}.")
            base = dataclasses.replace(base, setting=setting, **PAPER_SETTINGS[setting])
        return base.replace(**overrides)

    def run_identity(self) -> dict:
        """What determines one run's result: every knob but the step count (a longer run continues a finished
        one), the sweep's lists and how ranks share a step (DDP and FSDP average the same gradients). ``n_boot``
        is left out at 0, so runs made before the intervals existed keep their identity."""
        return {k: v for k, v in self.to_dict().items()
                if k not in ("steps", "variants", "seeds", "ae_seeds", "preset", "parallel")
                and not (k == "n_boot" and not v)}


register_presets(
    DiffusabilityConfig,
    # ~2-3 min on 2 CPU cores for all six variants (AEs from the lab's ci runs): a smoke test of the pipeline
    ci=DiffusabilityConfig(),
    # the book's numbers: 7 AEs x 3 autoencoder seeds x 1 diffusion seed, one committed shard each (.shards).
    # The first shard (SD-VAE, AE seed 0), measured alone on 2 CPU cores: the lab's small AE trained in 170 s and
    # was evaluated in 84 s (it is chapter 4's shard too); 3000 DiT 128x4 steps at batch 64 with gFID-250 every
    # 1000 steps took 184 s; the final gFID-1000 with 50 bootstrap resamples and the frequency analysis the rest of
    # the run's 514 s; the decoder floor at N = 1000, 58 s. ~9.5 min a shard, ~3.4 h for the 21, two sittings. The
    # curve's gFID-250 is biased upwards (labelled); KID is over the whole 1000-image reference set. EMA 0.995:
    # a 200-step horizon, so the step-1000 evaluation is not the init.
    small=DiffusabilityConfig(
        ae_preset="small", n_images=10000,
        model=dict(arch="dit", hidden_size=128, depth=4, num_heads=4, patch_size=2),
        steps=3000, lr=5e-4, warmup_steps=100, ema_decay=0.995, eval_every=1000, ckpt_every=250, log_every=50,
        n_fid=250, n_final_fid=1000, n_boot=50, n_reference=1000, kid_subset=250, n_freq=512,
        variants=tuple(VARIANTS), ae_seeds=(0, 1, 2), seeds=(0,)),
    # the authors' ImageNet protocol as far as the notes allow: SiT-B/2 with REPA's optimiser, on the latents of the
    # lab's paper autoencoder (f8d4, 32x32x4; the authors' ImageNet AEs are f16d16: pass --autoencoder for one)
    # (batch 256, AdamW 1e-4, wd 0, clip 1, EMA 0.9999, 400k steps, cfg-dropout 0.1, SDE 250 steps, FID-50k)
    paper=DiffusabilityConfig(
        setting="imagenet256", ae_preset="paper", dataset="folder", resolution=256, n_images=1281167,
        norm_mode="channel", class_conditional=True, num_classes=1000,
        model=dict(arch="dit", name="B/2", class_dropout_prob=0.1), sampler="sde", sample_steps=250,
        steps=400000, batch_size=256, lr=1e-4, warmup_steps=0, ema_decay=0.9999, eval_every=100000,
        ckpt_every=10000, log_every=100, n_fid=10000, n_reference=50000, kid_subset=1000, n_final_fid=50000,
        n_freq=1024, variants=("sd-vae", "dsm")),
)

#: overrides of the paper preset for each of its settings (notes §1.4: CelebA-HQ 256 with U-ViT, 4 GPUs)
PAPER_SETTINGS: dict[str, dict] = {
    "imagenet256": {},
    "celebahq256": dict(
        dataset="folder", n_images=30000, norm_mode="global", class_conditional=False, num_classes=0,
        model=dict(arch="uvit", name="M/2"), formulation="ddpm-linear", sampler="ddim", sample_steps=50,
        steps=500000, batch_size=256, lr=2e-4, weight_decay=0.03, betas=(0.99, 0.99), warmup_steps=5000,
        eval_every=50000, n_fid=10000, n_reference=30000, n_final_fid=50000, variants=tuple(VARIANTS)),
}

__all__ = ["DiffusabilityConfig", "PAPER_SETTINGS", "VARIANTS", "CI_VARIANTS"]
