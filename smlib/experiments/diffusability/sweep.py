"""Chapter 5's sweep: every (variant, seed) run and each variant's decoder floor, gathered into one results file.

    python -m smlib diffusion --preset small --variant all --seeds 0 1      # -> results/diffusability/small.json

Each run is cached and resumable in its own folder (:func:`.recipe.run_variant`), so an interrupted sweep keeps
what it finished and the same command continues it; the results file is rewritten after every run.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from smlib.device import resolve_device
from smlib.experiments.diffusability.config import VARIANTS, DiffusabilityConfig
from smlib.experiments.diffusability.recipe import as_config, decoder_floor, run_variant
from smlib.provenance import provenance, resolve_repo_path
from smlib.results import read_result, relative_paths, result_path, write_grids, write_result
from smlib.train.distributed import init_distributed

CHAPTER = "diffusability"


def aggregate(rows: list[dict], floors: dict[str, dict] | None = None) -> dict:
    """Per-variant mean, std (ddof 1) and min/max over seeds of the final FID/KID and frequency summaries; with
    ``floors`` (variant -> :func:`decoder_floor`), also the floor and the gap ``fid_above_floor`` = mean - floor."""
    table = {}
    for v in dict.fromkeys(r["variant"] for r in rows):
        rs = [r for r in rows if r["variant"] == v and r.get("final")]
        if not rs:
            continue
        entry = {"label": VARIANTS.get(v, v), "seeds": [r["seed"] for r in rs],
                 "fid_label": rs[0]["final"].get("fid_label")}
        for key in ("fid", "kid"):
            vals = np.array([r["final"][key] for r in rs], dtype=float)
            entry[key] = {"mean": float(vals.mean()), "std": float(vals.std(ddof=1)) if len(vals) > 1 else None,
                          "min": float(vals.min()), "max": float(vals.max()), "values": vals.tolist()}
        for key in ("unrecovered_trained", "unrecovered_predicted", "high_band_share"):
            vals = [r["frequency_summary"][key] for r in rs if "frequency_summary" in r]
            entry[key] = float(np.mean(vals)) if vals else None
        if floors and v in floors:
            entry["floor"] = {"fid": floors[v]["fid"], "kid": floors[v]["kid"], "n_samples": floors[v]["n_samples"]}
            entry["fid_above_floor"] = entry["fid"]["mean"] - floors[v]["fid"]
            entry["kid_above_floor"] = entry["kid"]["mean"] - floors[v]["kid"]
        table[v] = entry
    return table


def run_sweep(cfg: DiffusabilityConfig | str = "small", variants=None, seeds=None, *, results_path=None,
              data_root=None, device="auto", runs_dir=None, autoencoder_checkpoint=None, features=None,
              max_steps_this_call: int | None = None, progress: bool = False) -> dict:
    """Every (variant, seed) with :func:`run_variant` (each cached/resumable) and each variant's
    :func:`decoder_floor`, then one results file with per-run rows, the floors, the per-variant table and
    provenance, rewritten after each run (an interrupted sweep keeps what it finished). Returns the file's content.

    Defaults: the config's variants and seeds; ``results/diffusability/<preset>.json``; ``features``: the shared
    TF-Inception (tests pass a cheap stand-in)."""
    cfg = as_config(cfg)
    device = resolve_device(device)
    variants = list(variants or cfg.variants)
    seeds = list(cfg.seeds if seeds is None else seeds)
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)} or 'all'.")
    results_path = Path(results_path) if results_path else result_path(CHAPTER, cfg.preset)
    rows, floors, t0 = [], {}, time.time()
    info = init_distributed()
    common = dict(data_root=data_root, device=device, runs_dir=runs_dir, autoencoder_checkpoint=autoencoder_checkpoint,
                  features=features)
    for v in variants:
        for s in seeds:
            r = run_variant(v, cfg, seed=s, max_steps_this_call=max_steps_this_call, progress=progress, **common)
            r.pop("models", None)
            rows.append(r)
            if info.is_main and all(x.get("completed") for x in rows):
                _write_results(results_path, cfg, rows, variants, seeds, time.time() - t0, floors)
        if info.is_main and cfg.n_fid and all(x.get("completed") for x in rows):
            floors[v] = decoder_floor(v, cfg, seed=seeds[0], **common)
            _write_results(results_path, cfg, rows, variants, seeds, time.time() - t0, floors)
    return read_result(results_path) or {"runs": rows}


def _write_results(path: Path, cfg: DiffusabilityConfig, rows, variants, seeds, wall, floors=None) -> None:
    rows = [relative_paths(r) for r in rows]
    write_result(path, {"chapter": CHAPTER, "preset": cfg.preset, "setting": cfg.setting, "dataset": cfg.dataset,
                      "variants_planned": variants, "seeds_planned": seeds,
                      "complete": len(rows) == len(variants) * len(seeds),
                      "table": aggregate(rows, floors), "runs": rows, "floors": floors or {},
                      # the runs' own times, so re-running a finished sweep (which reads the runs back) keeps them
                      "sweep_wall_time_s": round(sum(_run_time(r) for r in rows), 1),
                      "this_call_wall_time_s": round(wall, 1), "provenance": provenance()})
    write_run_grids(path, rows)


def _run_time(row: dict) -> float:
    """Seconds one run took when it was computed (runs written before ``wall_time_s`` existed: prep + train)."""
    return float(row.get("wall_time_s") or row.get("prep_time_s", 0.0) + row.get("train_wall_time_s", 0.0))


def write_run_grids(results_file, rows: list[dict]) -> Path:
    """The sample grid of every run (``grid.pt`` in its run folder, uint8) packed into one small JSON file beside
    the results (:func:`smlib.results.grids_path`), so the book shows samples without the run folders. Keys
    ``<variant>/seed<k>``; read back with :func:`smlib.results.read_grids`."""
    grids = {}
    for r in rows:
        grid = resolve_repo_path(r["grid"]) if r.get("grid") else None
        if grid is not None and grid.is_file():
            grids[f"{r['variant']}/seed{r['seed']}"] = torch.load(grid, weights_only=True)   # (n, 3, H, W) uint8
    return write_grids(results_file, grids)


__all__ = ["CHAPTER", "aggregate", "run_sweep", "write_run_grids"]


