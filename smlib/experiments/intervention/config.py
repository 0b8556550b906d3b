"""Chapter 5b's configuration: chapter 5's latent diffusion recipe on one fixed autoencoder, whose latent spectrum
each arm changes by an invertible linear map (:mod:`smlib.spectral.latent_transforms`)."""
from __future__ import annotations

from dataclasses import dataclass

from smlib.config import register_presets
from smlib.pipelines.latent_diffusion import LatentDiffusionConfig

#: arm -> (transform kind of :func:`smlib.spectral.latent_transforms.fit_transform`, label)
ARMS = {
    "identity": ("identity", "the latent as trained (SD-VAE)"),
    "white": ("white", "whitened: a flat spectrum"),
    "esm": ("esm", "ESM's target: the image's spectrum flattened"),
    "image": ("image", "the image's own spectrum"),
    "steeper": ("steeper", "steeper than the image"),
    "scramble": ("scramble", "radial spectrum kept, bands scrambled"),
}


@dataclass(frozen=True)
class InterventionConfig(LatentDiffusionConfig):
    """One autoencoder (``variant`` at lab seed ``ae_seed``), one recipe, one normalisation; only the latent's
    spectrum differs between arms. ``seeds`` are diffusion seeds (initial weights, batches, noise), paired across
    arms."""

    variant: str = "sd-vae"                  # the lab autoencoder whose latent every arm transforms
    delta: float = 1.0                       # ESM's tilt (the released ESM-AE recipe)
    steepen: float = 1.0                     # the steeper arm: the image's spectrum times (b + 1)^-steepen
    transform_level: str = "preserve"        # each channel keeps its total AC power (one normaliser for every arm)
    per_channel: bool = True                 # gains fitted per channel (channels have different spectra)
    scramble_order: str = "reverse"          # the k-th lowest frequency swaps with the k-th highest
    arms: tuple[str, ...] = tuple(ARMS)


InterventionConfig.ARM_NAMES = tuple(ARMS)
register_presets(
    InterventionConfig,
    # minutes on 2 CPU cores: the lab's ci SD-VAE, chapter 5's ci recipe, four arms, scored against the
    # reconstructions too (the book's primary metric). Measured under load (load average ~12 on 2 cores): the
    # autoencoder ~2.3 min once, then ~30 s an arm
    ci=InterventionConfig(ae_preset="ci", ae_seed=0, arms=("identity", "white", "esm", "scramble"),
                          recon_reference=True),
    # the book's sweep: chapter 5's small recipe (DiT 128x4, 3,000 steps, gFID-1000 with the reconstruction
    # reference) on the lab's small SD-VAE at seed 0, six arms x five diffusion seeds. Chapter 5's first sweep,
    # measured alone on 2 CPU cores: 3,000 steps with three gFID-250 evaluations ~184 s, the final gFID-1000 with 50
    # bootstrap resamples and the frequency analysis ~70 s; the autoencoder (once) ~4 min: ~4.5-5 min a run, 30
    # runs ~2.5 h alone.
    small=InterventionConfig(
        ae_preset="small", ae_seed=0, n_images=10000,
        model=dict(arch="dit", hidden_size=128, depth=4, num_heads=4, patch_size=2),
        steps=3000, lr=5e-4, warmup_steps=100, ema_decay=0.995, eval_every=1000, ckpt_every=250, log_every=50,
        n_fid=250, n_final_fid=1000, n_boot=50, n_reference=1000, kid_subset=250, n_freq=512, recon_reference=True,
        seeds=(0, 1, 2, 3, 4)),
    # the same intervention on the paper's ImageNet recipe (chapter 5's paper preset) and the lab's paper SD-VAE
    paper=InterventionConfig(
        ae_preset="paper", ae_seed=0, dataset="folder", resolution=256, n_images=1281167, norm_mode="global",
        class_conditional=True, num_classes=1000, model=dict(arch="dit", name="B/2", class_dropout_prob=0.1),
        sampler="sde", sample_steps=250, steps=400000, batch_size=256, lr=1e-4, warmup_steps=0, ema_decay=0.9999,
        eval_every=100000, ckpt_every=10000, log_every=100, n_fid=10000, n_reference=50000, kid_subset=1000,
        n_final_fid=50000, n_freq=1024, recon_reference=True, seeds=(0,)),
)

__all__ = ["ARMS", "InterventionConfig"]
