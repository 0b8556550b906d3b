"""Chapter 6's recipe (notebook ``06_repa``): one alignment arm on one autoencoder's latents, trained and scored;
the sweep of them and its declared comparisons.

    cfg    = RepaConfig.at("small")
    SWEEP.run(cfg, RunContext(device="cpu"))        # results/repa/small/<arm>-seed<k>.json
    spectra = target_spectra(cfg)                   # every arm's target, before any training (Prop. 3.2)
    python -m smlib repa --preset small --arm all --seeds 0 1 2
    torchrun --nproc_per_node 8 -m smlib repa --preset paper --arm repa --seeds 0

A run is the latent diffusion pipeline of chapter 5 (:func:`smlib.pipelines.latent_diffusion.run`) with the arm's
alignment term: the frozen encoder's tokens of the same training images and flips are cached once (the grids
matched by the encoder's input size, never by interpolating tokens), and the result adds the tapped state's
readouts. An encoder without its weights here fails in one line; ``encoder_pretrained=False`` builds random
weights of the same shape, a stand-in that every line printed about the run names.

**What was declared, and when** (as git shows it): the pairs of :data:`DECLARED` were committed with the chapter in
04b73b0 (2026-12-04 02:22), before any run of the small sweep (the first at 03:30). Lower gFID is better.

* repa < none: REPA's abstract (at ImageNet scale with DINOv2).
* irepa-g0.6 < repa: iREPA's paper (its ablation table: conv projector and spatial normalisation each help).
* dog-0.5-2 < irepa-g0.6, dog-1-4 < irepa-g0.6: the Spectrum Matching abstract's "DoG improves iREPA" (claim (h)),
  on our instantiation of the DoG (the paper's sigmas are unknown).
* irepa-g1 < irepa-g0.6: our inference: gamma 1 removes the target's DC completely, raising its RMSC (Prop. 3.2).
* dog-0.5-2 < dog-0.5-2-nostd: our inference: the std normalisation is the unablated half of the paper's DoG recipe.

The rank correlation (Spearman, exact permutation p over all pairings) runs over every aligned arm: x = the
target's mid-band share of DC-free directional energy (:func:`smlib.metrics.alignment.mid_band_share`, declared
band), y = the arm's gain in final gFID over no alignment (mean over seeds).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.stats
import torch

from smlib.data import image_subset
from smlib.data.targets import encode_targets
from smlib.device import resolve_device
from smlib.diffusion.alignment import AlignmentSpec, check_grid, tokens_to_grid, transform_target
from smlib.experiments.repa.config import ARMS, RepaConfig, arm_of
from smlib.metrics.alignment import directional_profile, mid_band_share
from smlib.models.autoencoder import ae_config
from smlib.models.encoders import build_encoder
from smlib.pipelines import latent_diffusion as ld
from smlib.pipelines.autoencoder import AutoencoderConfig
from smlib.results import RunContext
from smlib.sweep import Metric, Sweep, final, load_families


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


def run_arm(arm: str, seed: int, cfg: RepaConfig, ctx: RunContext, keep_models: bool = False) -> dict:
    """One arm and seed, cached and resumable (a completed run is read back). Returns the latent diffusion run's
    result plus ``arm``, ``arm_label``, the alignment spec, the target cache's description and ``readouts``."""
    info = arm_of(arm)
    spec = cfg.alignment(arm)
    enc = target_encoder(cfg, ctx.device) if spec is not None else None
    if enc is not None and not enc.pretrained:
        print(f"[{arm} seed {seed}] target encoder: {describe_encoder(enc)}")
    out = ld.run_dir(ctx.runs_dir, "repa", cfg.preset, cfg.dataset, arm, seed)
    result = ld.run(cfg.variant, cfg, seed, ctx, out_dir=out, keep_models=keep_models, alignment=spec, encoder=enc)
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
    cfg = RepaConfig.resolve(cfg)
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


METRICS = (Metric("fid", "gFID", final("fid")), Metric("kid", "KID x1e3", final("kid"), scale=1e3, fmt=".2f"))
FAMILIES = load_families(Path(__file__).with_name("declared.toml"))
DECLARED = FAMILIES[0].comparisons
SWEEP = Sweep("repa", {name: a.label for name, a in ARMS.items()}, METRICS, FAMILIES, run_arm)


def energy_gain_correlation(spectra: dict, table: dict, key: str = "fid") -> dict | None:
    """Spearman's rho between each aligned arm's target mid-band share (``spectra["arms"][arm]``, from
    :func:`target_spectra`) and its mean gain ``table["none"] - table[arm]`` in ``key``, with the exact
    permutation p-value (two-sided). None when "none" or fewer than three aligned arms have results."""
    if "none" not in table:
        return None
    arms = [a for a in spectra["arms"] if a in table and a != "none"]
    if len(arms) < 3:
        return None
    x = np.array([spectra["arms"][a]["mid_band_share"] for a in arms])
    base = table["none"][key]["mean"]
    y = np.array([base - table[a][key]["mean"] for a in arms])
    rho = scipy.stats.spearmanr(x, y).statistic
    perm = scipy.stats.permutation_test((x, y), lambda a, b: scipy.stats.spearmanr(a, b).statistic,
                                        permutation_type="pairings", n_resamples=np.inf)
    return {"arms": arms, "mid_band_share": x.tolist(), "gain": y.tolist(), "rho": float(rho),
            "p": float(perm.pvalue), "n": len(arms)}


def energy_gain_from_runs(spectra: dict, runs: list[dict], key: str = "fid") -> dict | None:
    """:func:`energy_gain_correlation` on the committed runs: each arm's mean ``key`` over its seeds."""
    values = SWEEP.values(runs, key)
    return energy_gain_correlation(spectra, {a: {key: {"mean": float(np.mean(list(v.values())))}}
                                             for a, v in values.items()}, key)


__all__ = ["target_encoder", "latent_factor", "describe_encoder", "run_arm", "target_spectra", "target_spec_table",
           "DECLARED", "METRICS", "FAMILIES", "SWEEP", "energy_gain_correlation", "energy_gain_from_runs"]
