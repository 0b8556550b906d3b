"""Chapter 6's sweep: every (arm, seed) run, each committed as its own results file as it finishes.

    python -m smlib repa --preset small --arm all --seeds 0 1 2     # -> results/repa/small/<arm>-seed<k>.json

A run whose shard is committed (same run identity and step count) is skipped, so a fresh clone continues a sweep
where the last sitting stopped; an interrupted run resumes from its checkpoint in ``runs/``. :func:`load_sweep`
gathers the shards into the per-arm table the chapter reads, and names the planned runs that are missing.
"""
from __future__ import annotations

from smlib.device import resolve_device
from smlib.experiments.repa.config import ARMS, RepaConfig
from smlib.experiments.repa.recipe import as_config, run_arm
from smlib.results import missing_shards, read_shards, run_sharded
from smlib.stats import seed_summary
from smlib.train.checkpoint import canonical_config
from smlib.train.distributed import init_distributed

CHAPTER = "repa"


def shard_name(arm: str, seed: int) -> str:
    return f"{arm}-seed{seed}"


def run_sweep(cfg: RepaConfig | str = "small", arms=None, seeds=None, *, results_dir=None, data_root=None,
              device="auto", runs_dir=None, features=None, max_steps_this_call: int | None = None,
              progress: bool = False, autoencoder_checkpoint=None) -> list[dict]:
    """Every (arm, seed) not yet committed, with :func:`run_arm`, writing ``results/repa/<preset>/<arm>-seed<k>.json``
    for each completed run (rank 0). Defaults: the config's arms and seeds. Returns every run's result in order
    (committed ones read back)."""
    cfg = as_config(cfg)
    device = resolve_device(device)
    arms = list(arms or cfg.arms)
    for a in arms:
        cfg.alignment(a)   # an unknown arm fails before anything runs
    seeds = list(cfg.seeds if seeds is None else seeds)

    def run(arm: str, seed: int) -> dict:
        return run_arm(arm, cfg, seed=seed, data_root=data_root, device=device, runs_dir=runs_dir, features=features,
                       max_steps_this_call=max_steps_this_call, progress=progress,
                       autoencoder_checkpoint=autoencoder_checkpoint)

    return run_sharded(CHAPTER, cfg.preset, arms, seeds, run, canonical_config(cfg.run_identity()), cfg.steps,
                       results_dir=results_dir, is_main=init_distributed().is_main)


def aggregate(rows: list[dict]) -> dict:
    """Per arm, in the chapter's order: label, seeds, and mean / std (ddof 1) / values of the final gFID and KID."""
    table = {}
    for arm in ARMS:
        rs = sorted((r for r in rows if r.get("arm") == arm and "fid" in (r.get("final") or {})),
                    key=lambda r: r["seed"])
        if not rs:
            continue
        entry = {"label": ARMS[arm].label, "seeds": [r["seed"] for r in rs], "fid_label": rs[0]["final"].get("fid_label")}
        for key in ("fid", "kid"):
            entry[key] = seed_summary([r["final"][key] for r in rs])
        table[arm] = entry
    return table


def load_sweep(preset: str, cfg: RepaConfig | None = None, results_dir=None) -> dict:
    """The committed shards of a preset: {"runs", "table": aggregate(runs), "missing": planned (arm, seed) without a
    shard} (planned = ``cfg``'s arms x seeds, default the preset's)."""
    cfg = cfg or RepaConfig.at(preset)
    runs = read_shards(CHAPTER, preset, results_dir)
    return {"preset": preset, "runs": runs, "table": aggregate(runs), "missing": missing_shards(runs, cfg.arms, cfg.seeds)}


__all__ = ["CHAPTER", "shard_name", "run_sweep", "aggregate", "load_sweep"]
