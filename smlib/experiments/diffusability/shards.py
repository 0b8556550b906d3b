"""Chapter 5's sweep with both sources of spread: one committed shard per (variant, autoencoder seed, diffusion
seed), each carrying its own autoencoder's decoder floor.

    python -m smlib diffusion --preset small --variant all --ae-seeds 0 1 2 --seeds 0
        -> results/diffusability/small/<variant>-ae<k>-seed<j>.json

Each autoencoder it trains is also written as chapter 4's shard ``results/autoencoders/<ae preset>/<variant>-seed<k>``
(:mod:`smlib.experiments.autoencoders.shards`), so the lab's seed spread costs no second training.

A shard is written as its run finishes (:func:`smlib.results.run_sharded`); the sweep skips a shard committed under
the same recipe, so a sweep longer than one sitting is the same command run again. A run whose folder is gone (a
fresh checkout holds the shards, not ``runs/``) retrains its autoencoder from the lab recipe; on the CPU that is
bit-exact, so the rebuilt autoencoder is the one the committed shards of that seed used
(``tests/test_diffusability_shards.py``).

How the shards are read (:func:`seed_table`): the unit of replication is the autoencoder. The diffusion seeds of
one autoencoder are averaged first, so with S autoencoder seeds a variant contributes S values to the statistics,
and their spread holds the autoencoder's training variance and the diffusion model's; two diffusion runs of one
autoencoder are not two independent draws of the variant.
"""
from __future__ import annotations

import numpy as np
import torch

from smlib.device import resolve_device
from smlib.experiments import autoencoders as lab
from smlib.experiments.autoencoders import shards as lab_shards
from smlib.experiments.diffusability import recipe
from smlib.experiments.diffusability.config import VARIANTS, DiffusabilityConfig
from smlib.experiments.diffusability.recipe import as_config, decoder_floor, run_dir, run_variant
from smlib.provenance import resolve_repo_path
from smlib.results import pack_uint8, read_shards, run_sharded
from smlib.train.checkpoint import canonical_config
from smlib.train.distributed import init_distributed

CHAPTER = "diffusability"
#: samples of the final EMA model kept in each shard (uint8, packed), for the book's figures
N_SAMPLES = 8
#: the per-frequency summaries (:meth:`smlib.metrics.frequency_errors.FrequencyErrors.summary`) the table carries
FREQUENCY_KEYS = ("unrecovered_trained", "unrecovered_predicted", "unrecovered_predicted_mc", "high_band_share")


def arm_name(variant: str, ae_seed: int) -> str:
    """``<variant>-ae<k>``: one autoencoder of a variant (the shard adds ``-seed<j>``)."""
    return f"{variant}-ae{int(ae_seed)}"


def parse_arm(arm: str) -> tuple[str, int]:
    """(variant, autoencoder seed) of :func:`arm_name`'s ``arm``."""
    variant, _, k = arm.rpartition("-ae")
    if variant not in VARIANTS or not k.isdigit():
        raise ValueError(f"{arm!r} is not <variant>-ae<k> with a variant of {', '.join(VARIANTS)}.")
    return variant, int(k)


def planned_arms(cfg: DiffusabilityConfig, variants=None, ae_seeds=None) -> list[str]:
    """Every (variant, autoencoder seed) of the sweep, variant-major."""
    variants = list(variants or cfg.variants)
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)} or 'all'.")
    ae_seeds = list(cfg.ae_seeds if ae_seeds is None else ae_seeds)
    if not ae_seeds:
        raise ValueError("a sharded sweep needs autoencoder seeds: pass --ae-seeds (or set ae_seeds in the preset).")
    return [arm_name(v, k) for v in variants for k in ae_seeds]


def run_shards(cfg: DiffusabilityConfig | str = "small", variants=None, ae_seeds=None, seeds=None, *,
               results_dir=None, data_root=None, device="auto", runs_dir=None, features=None,
               max_steps_this_call: int | None = None, progress: bool = False) -> list[dict]:
    """Every (diffusion seed, variant, autoencoder seed), seed-major: the committed shard when it holds this recipe,
    else :func:`.recipe.run_variant` with ``ae_seed = k`` in its own folder ``<variant>/ae<k>-seed<j>``, plus that
    autoencoder's :func:`.recipe.decoder_floor` under ``"floor"``; written as a shard when complete. Returns the
    runs in order (unfinished ones included, as ``run_variant`` returns them)."""
    cfg = as_config(cfg)
    dev = resolve_device(device)
    arms = planned_arms(cfg, variants, ae_seeds)
    seeds = list(cfg.seeds if seeds is None else seeds)

    def config_of(arm: str) -> DiffusabilityConfig:
        return cfg.replace(ae_seed=parse_arm(arm)[1])

    def run(arm: str, seed: int) -> dict:
        variant, k = parse_arm(arm)
        c = config_of(arm)
        out = run_dir(runs_dir, c.preset, c.dataset, variant, seed).parent / f"ae{k}-seed{seed}"
        common = dict(data_root=data_root, device=dev, runs_dir=runs_dir, features=features)
        r = run_variant(variant, c, seed=seed, out_dir=out, max_steps_this_call=max_steps_this_call,
                        progress=progress, **common)
        r.pop("models", None)
        grid = resolve_repo_path(r["grid"]) if r.get("grid") else None
        if grid is not None and grid.is_file():   # a few samples in the shard itself: runs/ is not committed
            r["samples"] = pack_uint8(torch.load(grid, weights_only=True)[:N_SAMPLES])
        if r.get("completed") and init_distributed().is_main:
            if c.n_fid:   # the floor's posterior draw is seeded by the autoencoder alone: every seed shares it
                floor = decoder_floor(variant, c, seed=0, **common)
                r["floor"] = {key: val for key, val in floor.items() if key != "config"}
            # chapter 4's shard of the same autoencoder (its run folder answers at once: trained and evaluated)
            lab_cfg = recipe.lab_config(c)
            lab_shards.write_shard(lab.fit_autoencoder(variant, lab_cfg, data_root=data_root, device=dev, seed=k,
                                                       runs_dir=runs_dir), lab_cfg, results_dir)
        return r

    return run_sharded(CHAPTER, cfg.preset, arms, seeds, run,
                       lambda arm, seed: canonical_config(config_of(arm).run_identity()), cfg.steps,
                       results_dir=results_dir, is_main=init_distributed().is_main)


def _summary(values) -> dict:
    v = np.asarray(values, dtype=float)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else None, "min": float(v.min()),
            "max": float(v.max()), "values": v.tolist()}


def seed_table(runs: list[dict]) -> dict:
    """Per variant: the final gFID/KID, the floor and the gap above it, each as one value per autoencoder seed (the
    mean over that autoencoder's diffusion seeds) with mean, std (ddof 1), min, max; plus ``ae_seeds``,
    ``n_runs``, ``fid_label``, ``fid_boot_std`` (the mean bootstrap std of one run's gFID: the sampling part of
    the spread, None without intervals) and the run-averaged :data:`FREQUENCY_KEYS`. Shaped like
    :func:`.sweep.aggregate`'s table, so :mod:`.report` judges it. Variants in the book's order (:data:`VARIANTS`)."""
    table = {}
    order = list(VARIANTS)
    for v in sorted(dict.fromkeys(r["variant"] for r in runs), key=lambda v: (v not in order, order.index(v)
                                                                              if v in order else 0, v)):
        rs = [r for r in runs if r["variant"] == v and r.get("final")]
        if not rs:
            continue
        ae_seeds = sorted({int(r["ae_seed"]) for r in rs})
        per_ae = {k: [r for r in rs if int(r["ae_seed"]) == k] for k in ae_seeds}
        entry = {"label": VARIANTS.get(v, v), "ae_seeds": ae_seeds, "seeds": ae_seeds, "n_runs": len(rs),
                 "fid_label": rs[0]["final"].get("fid_label")}
        for key in ("fid", "kid"):
            entry[key] = _summary([np.mean([r["final"][key] for r in per_ae[k]]) for k in ae_seeds])
        boot = [r["final"]["fid_boot_std"] for r in rs if "fid_boot_std" in r["final"]]
        entry["fid_boot_std"] = float(np.mean(boot)) if boot else None   # one run's sampling spread, for scale
        for key in FREQUENCY_KEYS:     # chapter 5's per-frequency summaries, averaged over the runs
            vals = [r["frequency_summary"][key] for r in rs if key in r.get("frequency_summary", {})]
            entry[key] = float(np.mean(vals)) if vals else None
        if all("floor" in r for r in rs):
            floors = {key: [per_ae[k][0]["floor"][key] for k in ae_seeds] for key in ("fid", "kid")}
            entry["floor"] = {key: float(np.mean(floors[key])) for key in ("fid", "kid")}
            entry["floor_values"] = floors
            entry["floor"]["n_samples"] = rs[0]["floor"]["n_samples"]
            boot = [per_ae[k][0]["floor"].get("fid_boot_std") for k in ae_seeds]
            entry["floor"]["fid_boot_std"] = float(np.mean(boot)) if all(b is not None for b in boot) else None
            for key in ("fid", "kid"):
                gaps = [a - b for a, b in zip(entry[key]["values"], floors[key])]
                entry[f"{key}_above_floor"] = float(np.mean(gaps))
                entry[f"{key}_above_floor_values"] = gaps
        table[v] = entry
    return table


def missing_runs(runs: list[dict], arms, seeds) -> list[str]:
    """The planned ``<variant>-ae<k>-seed<j>`` that no finished run covers."""
    have = {(arm_name(r["variant"], r["ae_seed"]), int(r["seed"])) for r in runs if r.get("final")}
    return [f"{a}-seed{s}" for s in seeds for a in arms if (a, int(s)) not in have]


def load_shards(preset: str, cfg: DiffusabilityConfig | None = None, results_dir=None) -> dict:
    """The committed shards of ``preset``: {"preset", "runs", "table" (:func:`seed_table`), "missing"} against the
    preset's planned variants, autoencoder seeds and diffusion seeds."""
    cfg = cfg or DiffusabilityConfig.at(preset)
    runs = read_shards(CHAPTER, preset, results_dir)
    return {"preset": preset, "runs": runs, "table": seed_table(runs),
            "missing": missing_runs(runs, planned_arms(cfg), cfg.seeds)}


__all__ = ["CHAPTER", "arm_name", "parse_arm", "planned_arms", "run_shards", "seed_table", "missing_runs",
           "load_shards"]
