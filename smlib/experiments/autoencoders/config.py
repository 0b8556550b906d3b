"""The autoencoder lab's knobs (chapter 4), declared once, and its three presets."""
from __future__ import annotations

from dataclasses import dataclass

from smlib.experiments.autoencoders.variants import list_variants
from smlib.experiments.config import ChapterConfig, register_presets


@dataclass(frozen=True)
class AutoencoderConfig(ChapterConfig):
    """One budget for every variant. Training knobs share their names with :class:`~smlib.train.TrainConfig`."""

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

__all__ = ["AutoencoderConfig"]
