"""Chapter 5's configuration: the latent diffusion recipe's knobs (declared once, in
:mod:`smlib.pipelines.latent_diffusion`), the variants, the three presets and the paper preset's two settings."""
from __future__ import annotations

from dataclasses import dataclass

from smlib.config import register_presets
from smlib.pipelines.autoencoder_config import VARIANTS as LAB_VARIANTS
from smlib.pipelines.autoencoder_config import get_variant
from smlib.pipelines.latent_diffusion import LatentDiffusionConfig

#: variant -> label in tables. The names are the autoencoder lab's, so a run asks the lab for exactly the autoencoder
#: chapter 4 trained. VA-VAE ("vf") aligns to a frozen EfficientNet-Lite2 here, a labelled offline stand-in for the
#: DINOv2 of the paper's recipe.
VARIANTS = {name: get_variant(name).label for name in ("sd-vae", "esm", "dsm", "scale_equivariance", "eqvae", "vf",
                                                       "plain", "sd-vae-ft", "eqvae-scratch")}
#: the seven variants of the lab's table (EQ-VAE fine-tuned from SD-VAE, as its paper trains it)
BOOK_VARIANTS = tuple(v for v in VARIANTS if v in LAB_VARIANTS)
#: the ci smoke test's variants: all of the table but VA-VAE, whose frozen encoder would double the ci cells' time
CI_VARIANTS = tuple(v for v in BOOK_VARIANTS if v != "vf")


@dataclass(frozen=True)
class DiffusabilityConfig(LatentDiffusionConfig):
    """Chapter 5's sweep: every autoencoder variant under one latent diffusion recipe
    (:class:`~smlib.pipelines.latent_diffusion.LatentDiffusionConfig`). ``seeds`` are the autoencoders' lab seeds:
    each autoencoder is diffused once, at diffusion seed 0 (the autoencoder is the unit of replication)."""

    variants: tuple[str, ...] = CI_VARIANTS



register_presets(
    DiffusabilityConfig,
    # ~2-3 min on 2 CPU cores for all six variants (AEs from the lab's ci runs): a smoke test of the pipeline
    ci=DiffusabilityConfig(),
    # the book's numbers: the lab's seven variants and an SD-VAE control fine-tuned for EQ-VAE's extra steps, five
    # autoencoder seeds each, one diffusion run per autoencoder, one committed file each. The first sweep's runs
    # (results/diffusability/small-v1, 7 x 3), measured alone on 2 CPU cores: the lab's small AE trained in ~170 s
    # and was evaluated in ~84 s; 3000 DiT 128x4 steps at batch 64 with gFID-250 every 1000 steps ~184 s; the final
    # gFID-1000 with 50 bootstrap resamples and the frequency analysis ~70 s; the decoder floor at N = 1000 ~60 s:
    # ~8-9 min a run (VA-VAE ~10.5). The reconstruction reference (1,000 reconstructions, once per autoencoder)
    # adds ~1 min, the fine-tuned arms train 300 AE steps on a cached SD-VAE: ~40 runs x ~9.5 min ~ 6.5 h. The
    # curve's gFID-250 is biased upwards (labelled); KID is over the whole 1000-image reference set. EMA 0.995:
    # a 200-step horizon, so the step-1000 evaluation is not the init.
    small=DiffusabilityConfig(
        ae_preset="small", n_images=10000,
        model=dict(arch="dit", hidden_size=128, depth=4, num_heads=4, patch_size=2),
        steps=3000, lr=5e-4, warmup_steps=100, ema_decay=0.995, eval_every=1000, ckpt_every=250, log_every=50,
        n_fid=250, n_final_fid=1000, n_boot=50, n_reference=1000, kid_subset=250, n_freq=512,
        recon_reference=True, variants=(*BOOK_VARIANTS, "sd-vae-ft"), seeds=(0, 1, 2, 3, 4)),
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
DiffusabilityConfig.SETTINGS = PAPER_SETTINGS
