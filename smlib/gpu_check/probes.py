"""What ``gpu-check`` trains: every recipe's configuration at a preset, as a :class:`Probe` ready for
:func:`smlib.train.fit`, on synthetic data of the recipe's shapes (the GPU machine holds no datasets).

Offline substitutions are the same as everywhere in the library and are listed in each probe: LPIPS off (its VGG
backbone needs the network) and VA-VAE's DINOv2 replaced by EfficientNet-Lite2; the autoencoders' GAN runs from step
0 (the preset's regime after its ``gan_start``), so that a timed step is the steady state.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

AUTOENCODER_VARIANTS = ("sd-vae", "esm", "dsm", "scale_equivariance", "eqvae", "vf")
DIFFUSION_SETTINGS = ("imagenet256", "celebahq256")
DCTDIFF_SETTINGS = ("cifar10", "ffhq256")
REPA_ARMS = ("repa", "dog-0.5-2")     # the MLP projector on raw tokens; the conv projector on DoG-filtered ones


@dataclass
class Probe:
    """One recipe at one configuration, ready for :func:`smlib.train.fit`: a task, synthetic data, the per-GPU
    batch and what was substituted. ``images_per_step``: examples one step consumes on this process."""

    name: str
    task: object
    data: object
    batch_size: int
    substitutions: list[str] = field(default_factory=list)
    config: dict = field(default_factory=dict)


def autoencoder_probe(variant: str, preset: str, world_size: int = 1, n_batches: int = 2, **overrides) -> Probe:
    """The autoencoder lab's ``variant`` at ``preset`` (``overrides``: config fields, e.g. ``gan=True``) with
    synthetic images of its resolution."""
    from smlib.pipelines.autoencoder import AutoencoderConfig, AutoencoderTask, build_recipe, train_config

    cfg = AutoencoderConfig.at(preset, **overrides)
    subs = []
    if cfg.gan and cfg.gan_start > 0:  # time the steady state: generator and discriminator both in play
        cfg, subs = cfg.replace(gan_start=0), [f"GAN from step 0 (the preset's regime after step {cfg.gan_start})"]
    if cfg.lpips_weight > 0:
        cfg, subs = cfg.replace(lpips_weight=0.0), subs + ["LPIPS off (its VGG backbone needs the network)"]
    if variant == "vf" and cfg.vf_encoder.startswith("dinov2"):
        cfg = cfg.replace(vf_encoder="efficientnet-lite2", vf_layer="blocks.4", vf_input=224)
        subs.append("VA-VAE: EfficientNet-Lite2 (blocks.4, 224 px) instead of DINOv2 (offline)")
    recipe = build_recipe(variant, cfg, seed=0)
    task = AutoencoderTask(recipe, {"synthetic": True})
    batch = max(1, cfg.batch_size // world_size)
    g = torch.Generator().manual_seed(0)
    images = torch.rand(n_batches * cfg.batch_size, 3, cfg.resolution, cfg.resolution, generator=g) * 2 - 1
    return Probe(f"autoencoder/{variant}", task, images, batch, subs,
                 {"preset": preset, "variant": variant, "resolution": cfg.resolution, "ae": cfg.ae,
                  "global_batch": cfg.batch_size, "gan": cfg.gan, "steps_in_preset": cfg.steps,
                  "train": train_config(cfg, 0, "cpu", ".").to_dict()})


def diffusion_probe(setting: str | None, preset: str, world_size: int = 1, n_batches: int = 2,
                    arm: str | None = None) -> Probe:
    """The latent diffusion recipe at ``preset`` (paper: ``setting``) on synthetic posterior moments of the latent
    shape that preset's autoencoder produces.

    ``arm`` (a chapter 6 arm, e.g. ``"repa"``): chapter 6's preset, with that arm's alignment head and loss on
    synthetic targets of its encoder's width and grid (the frozen encoder runs before training, never in a step)."""
    from smlib.data.latents import LatentNormalizer
    from smlib.diffusion import make_formulation
    from smlib.experiments.diffusability import DiffusabilityConfig
    from smlib.pipelines.autoencoder import AutoencoderConfig, model_config
    from smlib.pipelines.latent_diffusion import LatentDiffusionTask
    from smlib.models.factory import build_backbone

    if arm is None:
        cfg = DiffusabilityConfig.at(preset, setting=setting)
    else:
        from smlib.experiments.repa import RepaConfig
        cfg = RepaConfig.at(preset)
    ae = model_config(AutoencoderConfig.at(cfg.ae_preset).replace(resolution=cfg.resolution))
    d, side = ae.latent_channels, cfg.resolution // ae.factor
    classes = cfg.num_classes if cfg.class_conditional else 0
    torch.manual_seed(0)
    model = build_backbone(cfg.model, (d, side, side), classes)
    formulation = make_formulation(cfg.formulation, **dict(cfg.formulation_kwargs))
    normalizer = LatentNormalizer(shift=(0.0,), scale=(1.0,))
    g = torch.Generator().manual_seed(0)
    n = n_batches * cfg.batch_size
    targets, subs, extra = None, [], {}
    if arm is not None:
        from smlib.data.targets import TargetCache
        from smlib.diffusion.alignment import build_aligned
        from smlib.models.encoders import build_encoder

        enc = build_encoder(cfg.encoder, pretrained=False, device="cpu", input_size=cfg.encoder_input_size,
                            layer=cfg.encoder_layer or None)
        targets = TargetCache(torch.randn(n, enc.grid[0] * enc.grid[1], enc.out_dim, generator=g),
                              torch.arange(n), torch.zeros(n, dtype=torch.bool), enc.grid)
        model = build_aligned(model, cfg.alignment(arm), targets.dim)
        subs = [f"synthetic target tokens of {cfg.encoder}'s shape ({enc.out_dim} x {enc.grid[0]}x{enc.grid[1]})"]
        extra = {"arm": arm, "encoder": cfg.encoder, "target_grid": list(enc.grid), "target_dim": enc.out_dim,
                 "tap_depth": model.alignment.depth}
    task = LatentDiffusionTask(model, formulation, normalizer, "moments", {"synthetic": True,
                               "model": dict(cfg.model), "latent": [d, side, side]}, classes > 0, targets=targets)
    moments = torch.cat([torch.randn(n, d, side, side, generator=g), torch.full((n, d, side, side), -4.0)], 1)
    labels = torch.randint(0, max(classes, 1), (n,), generator=g)
    data = (moments, labels) if arm is None else (moments, labels, torch.arange(n))
    name = f"diffusion/{setting or preset}" if arm is None else f"repa/{arm}/{preset}"
    return Probe(name, task, data, max(1, cfg.batch_size // world_size), subs,
                 {"preset": preset, "setting": setting, "model": dict(cfg.model), "latent": [d, side, side],
                  "global_batch": cfg.batch_size, "formulation": cfg.formulation, "steps_in_preset": cfg.steps,
                  **extra, "train": cfg.train_config(seed=0, device="cpu", out_dir=".").to_dict()})


def dctdiff_probe(setting: str | None, preset: str, world_size: int = 1, n_batches: int = 2) -> Probe:
    """DCTdiff as released (the ladder's top rung) at ``preset`` (paper: ``setting``) on synthetic images of the
    setting's resolution; the tokens are computed in every step, as in training."""
    from smlib.experiments.dctdiff import DCTdiffConfig, build_run

    cfg = DCTdiffConfig.at(preset, setting=setting)
    g = torch.Generator().manual_seed(0)
    n = n_batches * cfg.batch_size
    images = torch.rand(n, 3, cfg.resolution, cfg.resolution, generator=g) * 2 - 1
    task = build_run("ebfr", cfg, images[:1], seed=0)
    return Probe(f"dctdiff/{setting or preset}", task, (images, torch.full((n,), -1)),
                 max(1, cfg.batch_size // world_size), [],
                 {"preset": preset, "setting": setting, "model": dict(cfg.model), "tokens": task.config["tokens"],
                  "global_batch": cfg.batch_size, "steps_in_preset": cfg.steps,
                  "train": cfg.train_config(seed=0, device="cpu", out_dir=".").to_dict()})


def spectral_reg_probe(preset: str, world_size: int = 1, n_batches: int = 2) -> Probe:
    """Chapter 8's EDM arm with the weighted amplitude-and-phase term (its FFTs in every step) at ``preset``, on
    synthetic CIFAR-sized images; the paper preset's backbone (EDM's DDPM++ since 2026-12-07, a U-ViT-M/2 before)
    from a random initialisation (no ``init_from``)."""
    from smlib.experiments.spectral_regularisation import SpectralRegConfig, build_run

    cfg = SpectralRegConfig.at(preset)
    g = torch.Generator().manual_seed(0)
    n = n_batches * cfg.batch_size
    images = torch.rand(n, 3, cfg.resolution, cfg.resolution, generator=g) * 2 - 1
    task = build_run("edm-ap-1", cfg, images[:1], seed=0)
    return Probe(f"spectral-reg/{preset}", task, (images, torch.full((n,), -1)), max(1, cfg.batch_size // world_size),
                 ["random initialisation instead of a fine-tuned checkpoint"] if preset == "paper" else [],
                 {"preset": preset, "arm": "edm-ap-1", "model": dict(cfg.model), "global_batch": cfg.batch_size,
                  "steps_in_preset": cfg.steps, "train": cfg.train_config(seed=0, device="cpu", out_dir=".").to_dict()})


def probes(preset: str, world_size: int = 1) -> list:
    """Every recipe at ``preset`` (factories, so a failing build is recorded, not fatal)."""
    out = [(f"autoencoder/{v}", lambda v=v: autoencoder_probe(v, preset, world_size)) for v in AUTOENCODER_VARIANTS]
    if preset == "paper":
        out += [(f"diffusion/{s}", lambda s=s: diffusion_probe(s, preset, world_size)) for s in DIFFUSION_SETTINGS]
        out += [(f"dctdiff/{s}", lambda s=s: dctdiff_probe(s, preset, world_size)) for s in DCTDIFF_SETTINGS]
    else:
        out.append((f"diffusion/{preset}", lambda: diffusion_probe(None, preset, world_size)))
        out.append((f"dctdiff/{preset}", lambda: dctdiff_probe(None, preset, world_size)))
    out += [(f"repa/{a}/{preset}", lambda a=a: diffusion_probe(None, preset, world_size, arm=a)) for a in REPA_ARMS]
    out.append((f"spectral-reg/{preset}", lambda: spectral_reg_probe(preset, world_size)))
    return out


__all__ = ["Probe", "autoencoder_probe", "diffusion_probe", "dctdiff_probe", "spectral_reg_probe", "probes",
           "AUTOENCODER_VARIANTS", "DIFFUSION_SETTINGS", "DCTDIFF_SETTINGS", "REPA_ARMS"]
