"""Chapter 7's sweep: every (arm, seed) run of the ladder, each committed as its own results file as it finishes.

    python -m smlib dctdiff --preset small --arm all --seeds 0 1 2     # -> results/dctdiff/small/<arm>-seed<k>.json

A run is cached and resumable in its run folder (:func:`.recipe.run_arm`); its shard (the run's result without
the machine's paths, with provenance) is written the moment it completes, so an interrupted sweep keeps every
finished run, the same command continues it, and each shard can be committed alone. A run whose shard is
committed (same run identity and step count) is skipped, so a fresh clone continues where the last sitting stopped. :func:`load_sweep` gathers
the shards into the per-arm table the chapter reads.
"""
from __future__ import annotations

from smlib.device import resolve_device
from smlib.experiments.dctdiff.config import ARMS, DCTdiffConfig
from smlib.experiments.dctdiff.recipe import arm_of, as_config, run_arm
from smlib.results import read_shards, run_sharded
from smlib.stats import seed_summary
from smlib.train.checkpoint import canonical_config
from smlib.train.distributed import init_distributed

CHAPTER = "dctdiff"


def shard_name(arm: str, seed: int) -> str:
    return f"{arm}-seed{seed}"


def run_sweep(cfg: DCTdiffConfig | str = "small", arms=None, seeds=None, *, results_dir=None, data_root=None,
              device="auto", runs_dir=None, features=None, max_steps_this_call: int | None = None,
              progress: bool = False) -> list[dict]:
    """Every (arm, seed) not yet committed, seed-major, with :func:`run_arm`, writing
    ``results/dctdiff/<preset>/<arm>-seed<k>.json`` for each completed run (rank 0; :func:`smlib.results.run_sharded`).
    Defaults: the config's arms and seeds. Returns every run's result in order (committed ones read back)."""
    cfg = as_config(cfg)
    device = resolve_device(device)
    arms = list(arms or cfg.arms)
    for a in arms:
        arm_of(a)   # an unknown arm fails before anything runs
    seeds = list(cfg.seeds if seeds is None else seeds)

    def run(arm: str, seed: int) -> dict:
        return run_arm(arm, cfg, seed=seed, data_root=data_root, device=device, runs_dir=runs_dir, features=features,
                       max_steps_this_call=max_steps_this_call, progress=progress)

    return run_sharded(CHAPTER, cfg.preset, arms, seeds, run, canonical_config(cfg.run_identity()), cfg.steps,
                       results_dir=results_dir, is_main=init_distributed().is_main)


def aggregate(rows: list[dict]) -> dict:
    """Per arm, in ladder order: label, seeds, token shape, and mean / std (ddof 1) / values of the final gFID and
    KID over the completed runs."""
    table = {}
    for arm in ARMS:
        rs = sorted((r for r in rows if r["arm"] == arm and r.get("final")), key=lambda r: r["seed"])
        if not rs:
            continue
        entry = {"label": ARMS[arm].label, "seeds": [r["seed"] for r in rs], "tokens": rs[0]["tokens"],
                 "fid_label": rs[0]["final"].get("fid_label"), "num_params": rs[0]["num_params"]}
        for key in ("fid", "kid"):
            entry[key] = seed_summary([r["final"][key] for r in rs])
        table[arm] = entry
    return table


def load_sweep(preset: str, results_dir=None) -> dict:
    """The committed shards of a preset gathered: {"runs": [...], "table": aggregate(runs)}; empty when none."""
    runs = read_shards(CHAPTER, preset, results_dir)
    return {"preset": preset, "runs": runs, "table": aggregate(runs)}


__all__ = ["CHAPTER", "shard_name", "run_sweep", "aggregate", "load_sweep"]
