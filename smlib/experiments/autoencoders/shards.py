"""Chapter 4's table with its seed spread: one committed shard per (variant, seed) of the autoencoder lab.

    python -m smlib autoencoder --preset small --variant all --seeds 0 1 2
        -> results/autoencoders/small/<variant>-seed<k>.json

Chapter 5's sharded sweep (:mod:`smlib.experiments.diffusability.shards`) trains the same autoencoders, so it writes
these shards too (:func:`write_shard`) and each autoencoder is trained and evaluated once for both chapters. A shard
is the lab's result (:func:`.recipe.fit_autoencoder`) without its example images, plus the run identity the shard
layer checks (:func:`smlib.results.committed_shard`). :func:`seed_rows` reads them as one row per variant, each
metric as mean and sample std over seeds.
"""
from __future__ import annotations

import numpy as np

from smlib.experiments.autoencoders.config import AutoencoderConfig
from smlib.experiments.autoencoders.recipe import (CHAPTER, as_config, fit_autoencoder,
                                                   table_rows)
from smlib.results import committed_shard, missing_shards, read_shards, relative_paths, run_sharded, shard_path, write_result
from smlib.train.checkpoint import canonical_config


def identity(cfg: AutoencoderConfig) -> dict:
    """What determines one lab run: every knob but the sweep's variant list and the preset's name."""
    return canonical_config({k: v for k, v in cfg.to_dict().items() if k not in ("variants", "preset")})


def shard_record(result: dict, cfg: AutoencoderConfig) -> dict:
    """A lab result as a shard: without the example images (they stay in the run folder), with ``arm`` (the
    variant), ``config`` (:func:`identity`), ``config_steps`` and ``completed`` (trained and evaluated)."""
    metrics = {k: v for k, v in result.get("metrics", {}).items() if k != "examples"}
    kept = {k: v for k, v in result.items() if k not in ("metrics", "cached", "wall_time_this_call_s")}  # per call
    return {**kept, "metrics": metrics, "arm": result["variant"],
            "config": identity(cfg), "config_steps": int(cfg.steps),
            "completed": bool(result.get("completed") and metrics)}


def write_shard(result: dict, cfg: AutoencoderConfig, results_dir=None) -> bool:
    """Write ``result`` as the shard ``<variant>-seed<k>`` unless one of the same recipe is there; True if written."""
    cfg = as_config(cfg)
    record = shard_record(result, cfg)
    path = shard_path(CHAPTER, cfg.preset, f"{result['variant']}-seed{int(result['seed'])}", results_dir)
    if not record["completed"] or committed_shard(path, record["config"], record["config_steps"]) is not None:
        return False
    write_result(path, relative_paths(record))
    return True


def run_shards(cfg: AutoencoderConfig | str = "small", variants=None, seeds=(0,), *, results_dir=None, data_root=None,
               device="auto", runs_dir=None, progress: bool = False, is_main: bool = True) -> list[dict]:
    """Every (seed, variant) of the lab: the committed shard, else :func:`.recipe.fit_autoencoder` (cached and
    resumable in its run folder) written as a shard when it is trained and evaluated."""
    cfg = as_config(cfg)
    names = list(cfg.variants if variants in (None, "all", ["all"]) else variants)

    def run(variant: str, seed: int) -> dict:
        result = fit_autoencoder(variant, cfg, data_root=data_root, device=device, seed=seed, runs_dir=runs_dir,
                                 progress=progress)
        return shard_record(result, cfg)

    return run_sharded(CHAPTER, cfg.preset, names, list(seeds), run, identity(cfg), cfg.steps,
                       results_dir=results_dir, is_main=is_main)


def seed_rows(runs: list[dict]) -> list[dict]:
    """One row per variant over its seeds: for every numeric column of :func:`.recipe.table_rows`, ``<col>`` (the
    mean) and ``<col>_std`` (sample std over seeds, None with one seed); plus ``seeds``. A run's own ``*_std``
    columns (KID's spread over subsets) are left out."""
    by_variant: dict[str, list[dict]] = {}
    for r in runs:
        by_variant.setdefault(r["variant"], []).append(r)
    rows = []
    for v, rs in by_variant.items():
        flat = table_rows({f"{v}/{i}": r for i, r in enumerate(rs)})
        row = {"variant": v, "seeds": sorted(int(r["seed"]) for r in rs)}
        for col in dict.fromkeys(k for f in flat for k in f):
            vals = [f.get(col) for f in flat]
            if col == "variant" or col.endswith("_std") or not all(
                    isinstance(x, (int, float)) and not isinstance(x, bool) for x in vals):
                continue    # a run's own spread (KID's over subsets) would collide with the seeds' ``<col>_std``
            a = np.asarray(vals, dtype=float)
            row[col] = float(a.mean())
            row[f"{col}_std"] = float(a.std(ddof=1)) if len(a) > 1 else None
        rows.append(row)
    return rows


def load_shards(preset: str, results_dir=None, variants=None, seeds=()) -> dict:
    """The committed lab shards of ``preset``: {"runs", "rows" (:func:`seed_rows`), "missing" (the planned
    ``<variant>-seed<k>`` of ``variants`` (default: the preset's) x ``seeds`` that are not there)}; runs in the
    order of ``variants``, then seed."""
    variants = list(variants or as_config(preset).variants)
    order = {v: i for i, v in enumerate(variants)}          # the book's order, then the seed
    runs = sorted(read_shards(CHAPTER, preset, results_dir),
                  key=lambda r: (order.get(r["variant"], len(order)), r["variant"], int(r["seed"])))
    return {"preset": preset, "runs": runs, "rows": seed_rows(runs),
            "missing": missing_shards(runs, variants, [int(k) for k in seeds])}


__all__ = ["identity", "shard_record", "write_shard", "run_shards", "seed_rows", "load_shards"]
