"""Chapter 6's recipe (notebook ``06_repa``): one alignment arm on one autoencoder's latents, trained and scored.

    cfg    = RepaConfig.at("small")
    result = run_arm("dog-0.5-2", cfg, seed=0)      # AE latents + encoder tokens -> aligned DiT -> gFID, readouts
    spectra = target_spectra(cfg)                   # every arm's target, before any training (Prop. 3.2)
    python -m smlib repa --preset small --arm all --seeds 0 1 2     # -> results/repa/small/<arm>-seed<k>.json
    torchrun --nproc_per_node 8 -m smlib repa --preset paper --arm repa --seeds 0

A run is chapter 5's latent diffusion run (:func:`smlib.experiments.diffusability.run_variant`) with the arm's
alignment term: the frozen encoder's tokens of the same training images and flips are cached once (the grids
matched by the encoder's input size, never by interpolating tokens), and the result adds the tapped state's
readouts. An encoder without its weights here fails in one line; ``encoder_pretrained=False`` builds random
weights of the same shape, a stand-in that every line printed about the run names.
"""
from __future__ import annotations

import os

import torch

from smlib.data import image_subset
from smlib.data.targets import encode_targets
from smlib.device import resolve_device
from smlib.diffusion.alignment import AlignmentSpec, check_grid, tokens_to_grid, transform_target
from smlib.experiments.autoencoders import AutoencoderConfig
from smlib.experiments.diffusability.recipe import run_variant
from smlib.experiments.repa.config import ARMS, RepaConfig, arm_of
from smlib.metrics.alignment import directional_profile, mid_band_share
from smlib.models.autoencoder import ae_config
from smlib.models.encoders import build_encoder
from smlib.results import runs_root


def as_config(cfg: RepaConfig | str) -> RepaConfig:
    """A config object as it is, or the preset of that name."""
    return RepaConfig.at(cfg) if isinstance(cfg, str) else cfg


def target_encoder(cfg: RepaConfig, device="cpu"):
    """The frozen encoder of the config, checked against the model's token grid (one line when they differ)."""
    enc = build_encoder(cfg.encoder, pretrained=cfg.encoder_pretrained, device=device,
                        input_size=cfg.encoder_input_size, layer=cfg.encoder_layer or None)
    patch = int(cfg.model.get("patch_size") or cfg.model["name"].split("/")[-1])
    side = cfg.resolution // latent_factor(cfg) // patch
    check_grid((side, side), enc)
    return enc


def latent_factor(cfg: RepaConfig) -> int:
    """The lab autoencoder's downsampling factor, 2^(levels - 1) (4 at ci/small, 8 for the paper's f8d4)."""
    lab = AutoencoderConfig.at(cfg.ae_preset)
    return ae_config(lab.ae, **({"channels": tuple(lab.ae_channels)} if lab.ae_channels else {})).factor


def describe_encoder(enc) -> str:
    """The encoder as every printed line names it; a stand-in says so first."""
    return enc.label if enc.pretrained else f"STAND-IN (random weights, not {enc.name}): {enc.label}"


def run_dir(runs_dir, preset: str, dataset: str, arm: str, seed: int):
    """<runs>/repa/<preset>/<dataset>/<arm>/seed<k>."""
    return runs_root(runs_dir) / "repa" / preset / dataset / arm / f"seed{seed}"


def run_arm(arm: str, cfg: RepaConfig | str = "ci", *, seed: int = 0, data_root=None, device="auto",
            runs_dir: str | os.PathLike | None = None, features=None, max_steps_this_call: int | None = None,
            progress: bool = False, keep_models: bool = False, autoencoder_checkpoint=None) -> dict:
    """One arm and seed, cached and resumable (a completed run is read back). Returns chapter 5's result dict plus
    ``arm``, ``arm_label``, the alignment spec, the target cache's description and ``readouts``."""
    cfg = as_config(cfg)
    info = arm_of(arm)
    dev = resolve_device(device)
    spec = cfg.alignment(arm)
    enc = target_encoder(cfg, dev) if spec is not None else None
    if enc is not None and not enc.pretrained:
        print(f"[{arm} seed {seed}] target encoder: {describe_encoder(enc)}")
    result = run_variant(cfg.variant, cfg, data_root=data_root, device=dev, seed=seed, runs_dir=runs_dir,
                         features=features, max_steps_this_call=max_steps_this_call, progress=progress,
                         keep_models=keep_models, alignment=spec, encoder=enc,
                         autoencoder_checkpoint=autoencoder_checkpoint,
                         out_dir=run_dir(runs_dir, cfg.preset, cfg.dataset, arm, seed))
    result.update(arm=arm, arm_label=info.label)
    if enc is not None:
        result["encoder"] = describe_encoder(enc)
    return result


@torch.no_grad()
def target_spectra(cfg: RepaConfig | str = "ci", arms=None, n_images: int = 256, data_root=None,
                   device="auto") -> dict:
    """Every arm's target before training: RMSC (mean, and mean RMSC²), DC-free directional energy, 16-bin radial
    profile with physical
    frequency, and the mid-band share (:mod:`smlib.metrics.alignment`), on the encoder's tokens of the first
    ``n_images`` training images. Returns {"encoder": label, "grid": (h, w), "arms": {arm: {...}}} with tensors as
    lists. "none" has no target and is skipped."""
    cfg = as_config(cfg)
    dev = resolve_device(device)
    enc = target_encoder(cfg, dev)
    images, _ = image_subset(cfg.dataset, n_images, cfg.resolution, cfg.split, cfg.subset_seed, data_root)
    raw, _, _ = encode_targets(enc, images, flips=False, device=dev)
    grid = tuple(enc.grid)
    z = tokens_to_grid(raw.double(), grid)
    out = {}
    for arm in arms or cfg.arms:
        spec = cfg.alignment(arm)
        if spec is None:
            continue
        prof = directional_profile(transform_target(z, spec).double())
        out[arm] = {"label": ARMS[arm].label, "rmsc": float(prof["rmsc"].mean()),
                    "rmsc2": float((prof["rmsc"] ** 2).mean()), "energy": prof["energy"],
                    "dc": prof["dc"], "profile": prof["profile"].tolist(), "frequency": prof["frequency"].tolist(),
                    "mid_band_share": mid_band_share(prof["profile"])}
    return {"encoder": describe_encoder(enc), "grid": list(grid), "n_images": n_images, "arms": out}


def target_spec_table(spec: AlignmentSpec | None) -> dict:
    """The knobs of an arm that differ between arms, for a table (projector, kernel, target, gamma, sigmas, std)."""
    if spec is None:
        return {"projector": "-", "target": "-"}
    row = {"projector": spec.projector + (f" k={spec.kernel_size}" if spec.projector == "conv" else
                                          f" {spec.projector_hidden}"), "weight": spec.weight, "target": spec.target}
    if spec.target == "spatial-norm":
        row["gamma"] = spec.gamma
    if spec.target == "dog":
        row.update(sigma1=spec.sigma1, sigma2=spec.sigma2, std=spec.dog_std)
    return row


__all__ = ["as_config", "target_encoder", "latent_factor", "describe_encoder", "run_dir", "run_arm",
           "target_spectra", "target_spec_table"]
