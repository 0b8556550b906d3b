"""Chapter 4's sweep: every autoencoder variant of the lab at every seed, its metrics, and the chapter's declared
comparisons.

    cfg = AutoencoderConfig.at("small")
    SWEEP.run(cfg, RunContext(device="cpu"), seeds=(0, 1, 2))    # results/autoencoders/small/<variant>-seed<k>.json
    book = SWEEP.load("small")                                    # the committed runs
    python -m smlib autoencoder --preset small --variant all --seeds 0 1 2

A run is :func:`smlib.pipelines.autoencoder.fit_autoencoder` (train, or reuse a finished run folder, and
evaluate) without its example images. The seed sets the initial weights, the batch order, the training subset and
the posterior draws, the same for every variant: the comparisons are paired by seed.

**What was declared, and when** (as git shows it). The comparisons below are the check cells chapter 4 printed on
one seed per variant, each present in ``notebooks/04_autoencoders.py`` from commit 2370616 (2026-12-01) to
f06e1ca (2026-12-04 19:05); the lab's three seeds first ran after that (their first file at 19:34). Two of them
are **manipulation checks**: a regularizer moving the quantity it is trained on (ESM's distance to its target,
DSM's low-pass decoding) shows the implementation does what it says, and is no evidence for the paper's claims
about diffusion. The other three test the paper's reading of the baselines it unifies (its §3.4).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from smlib.metrics.latent import high_band_mass
from smlib.pipelines.autoencoder import AutoencoderConfig, fit_autoencoder
from smlib.pipelines.autoencoder_config import VARIANTS, get_variant, recipe_before_identity, variant_recipe
from smlib.results import RunContext
from smlib.sweep import Metric, Sweep, load_families

#: the low-pass cut whose PSNR loss is DSM's test (the lowest three anti-diagonals of each 8x8 block kept)
LOWPASS_K = 12

#: the lab's columns, flat (the run's ``metrics`` plus ``lowpass_psnr_k*`` and ``lowpass_fid_k*``)
COLUMNS = ("steps", "rfid", "fid_n", "kid", "psnr", "ssim", "kl_to_target", "l1_to_target", "kl_to_target_unitstd",
           "psd_slope_latent", "psd_slope_image_at_latent", "rmsc", "noise_to_signal", "latent_std",
           "train_wall_time_s")


def flat_row(run: dict) -> dict:
    """One run as a flat row: :data:`COLUMNS`, ``lowpass_psnr_k<k>``, ``lowpass_fid_k<k>``, ``lowpass_psnr_loss``
    (PSNR minus the PSNR of decoding a latent low-passed at :data:`LOWPASS_K`) and ``high_band_mass`` (the latent
    descriptor's share in bins 9-16)."""
    m = run.get("metrics", {})
    row = {c: m.get(c, run.get(c)) for c in COLUMNS}
    row["variant"] = run["variant"]
    row.update({f"lowpass_psnr_k{k}": v for k, v in m.get("lowpass_psnr", {}).items()})
    row.update({f"lowpass_fid_k{k}": v for k, v in m.get("lowpass_fid", {}).items()})
    if row.get("psnr") is not None and f"lowpass_psnr_k{LOWPASS_K}" in row:
        row["lowpass_psnr_loss"] = row["psnr"] - row[f"lowpass_psnr_k{LOWPASS_K}"]
    if "spectra" in m:
        row["high_band_mass"] = high_band_mass(m["spectra"]["p_z"])
    return row


def _col(key: str):
    return lambda run: flat_row(run).get(key)


METRICS = (
    Metric("rfid", "rFID", _col("rfid")),
    Metric("kid", "KID x1e3", _col("kid"), scale=1e3),
    Metric("psnr", "PSNR", _col("psnr"), lower_is_better=False, fmt=".2f"),
    Metric("ssim", "SSIM", _col("ssim"), lower_is_better=False, fmt=".3f"),
    Metric("kl_to_target", "KL to target", _col("kl_to_target"), fmt=".3f"),
    Metric("psd_slope_latent", "PSD exponent", _col("psd_slope_latent"), lower_is_better=False, fmt=".2f"),
    Metric("noise_to_signal", "noise ratio r", _col("noise_to_signal"), fmt=".2g"),
    Metric(f"lowpass_psnr_k{LOWPASS_K}", f"low-pass PSNR k={LOWPASS_K}", _col(f"lowpass_psnr_k{LOWPASS_K}"),
           lower_is_better=False, fmt=".2f"),
    Metric("lowpass_psnr_loss", f"PSNR lost at k={LOWPASS_K}", _col("lowpass_psnr_loss"), fmt=".2f"),
    Metric("lowpass_fid_k10", "low-pass rFID k=10", _col("lowpass_fid_k10")),
    Metric("high_band_mass", "latent mass in bins 9-16", _col("high_band_mass"), fmt=".3f"),
)

FAMILIES = load_families(Path(__file__).with_name("declared.toml"))


def run_variant(variant: str, seed: int, cfg: AutoencoderConfig, ctx: RunContext) -> dict:
    """One lab run, as its committed file holds it: the lab's result without its example images (they stay in the
    run folder) and ``completed`` only when it was trained and evaluated."""
    result = fit_autoencoder(variant, cfg, data_root=ctx.data_root, device=ctx.device, seed=seed,
                             runs_dir=ctx.runs_dir, progress=ctx.progress)
    metrics = {k: v for k, v in result.get("metrics", {}).items() if k != "examples"}
    kept = {k: v for k, v in result.items() if k not in ("metrics", "cached", "wall_time_this_call_s")}  # per call
    return {**kept, "metrics": metrics, "completed": bool(result.get("completed") and metrics)}


#: the lab's variants in the book's order, the SD-VAE control fine-tuned for EQ-VAE's extra steps, and the EQ-VAE arm
#: of the first sweeps (trained from scratch)
ARMS = {name: get_variant(name).label for name in [*VARIANTS, "sd-vae-ft", "eqvae-scratch"]}
SWEEP = Sweep("autoencoders", ARMS, METRICS, FAMILIES, run_variant,
              arm_key="variant",
              identity=lambda cfg, arm, seed: {**cfg.run_identity(), "recipe": variant_recipe(arm)},
              legacy=lambda arm: {"recipe": recipe_before_identity(arm)})

def column_values(runs: Sequence[Mapping], key: str) -> dict[str, dict[int, float]]:
    """{arm: {seed: value}} of any column of :func:`flat_row` (``lowpass_psnr_k8``, ``psnr``, ...), arms in the
    book's order; runs without the column are left out."""
    return SWEEP.values(runs, Metric(key, key, lambda run: flat_row(run).get(key)))


__all__ = ["LOWPASS_K", "COLUMNS", "flat_row", "METRICS", "FAMILIES", "run_variant", "ARMS", "SWEEP", "column_values"]
