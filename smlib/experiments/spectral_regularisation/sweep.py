"""Chapter 8's sweep: every (arm, seed) run, each committed as its own results file as it finishes.

    python -m smlib spectral-reg --preset small --arm all --seeds 0 1 2
    # -> results/spectral_regularisation/small/<arm>-seed<k>.json

A run whose shard is committed (same run identity and step count) is skipped, so a fresh clone continues a sweep
where the last sitting stopped; an interrupted run resumes from its checkpoint in ``runs/``
(:func:`smlib.results.run_sharded`). :func:`load_sweep` gathers the shards into the per-arm table the chapter
reads and names the planned runs that are missing.
"""
from __future__ import annotations

from smlib.device import resolve_device
from smlib.experiments.spectral_regularisation.config import ARMS, SpectralRegConfig
from smlib.experiments.spectral_regularisation.recipe import arm_of, as_config, run_arm
from smlib.results import missing_shards, read_shards, run_sharded
from smlib.stats import seed_summary
from smlib.train.checkpoint import canonical_config
from smlib.train.distributed import init_distributed

CHAPTER = "spectral_regularisation"
SCORES = ("fid", "kid", "psd_error")


def run_sweep(cfg: SpectralRegConfig | str = "small", arms=None, seeds=None, *, results_dir=None, data_root=None,
              device="auto", runs_dir=None, features=None, max_steps_this_call: int | None = None,
              progress: bool = False) -> list[dict]:
    """Every (arm, seed) not yet committed, with :func:`run_arm`; defaults: the config's arms and seeds."""
    cfg = as_config(cfg)
    device = resolve_device(device)
    arms = list(arms or cfg.arms)
    for a in arms:
        arm_of(a)          # an unknown arm fails before anything runs
    seeds = list(cfg.seeds if seeds is None else seeds)

    def run(arm: str, seed: int) -> dict:
        return run_arm(arm, cfg, seed=seed, data_root=data_root, device=device, runs_dir=runs_dir, features=features,
                       max_steps_this_call=max_steps_this_call, progress=progress)

    return run_sharded(CHAPTER, cfg.preset, arms, seeds, run, canonical_config(cfg.run_identity()), cfg.steps,
                       results_dir=results_dir, is_main=init_distributed().is_main)


def aggregate(rows: list[dict]) -> dict:
    """Per arm, in the chapter's order: label, seeds, FID label, and mean / std (ddof 1) / values over the
    completed runs of the final gFID, KID and radial-PSD error of the samples."""
    table = {}
    for arm in ARMS:
        rs = sorted((r for r in rows if r.get("arm") == arm and "fid" in (r.get("final") or {})),
                    key=lambda r: r["seed"])
        if not rs:
            continue
        entry = {"label": ARMS[arm].label, "seeds": [r["seed"] for r in rs], "fid_label": rs[0]["final"]["fid_label"],
                 "num_params": rs[0]["num_params"]}
        for key in SCORES:
            entry[key] = seed_summary([r["final"][key] for r in rs])
        table[arm] = entry
    return table


def load_sweep(preset: str, cfg: SpectralRegConfig | None = None, results_dir=None) -> dict:
    """The committed shards of a preset: {"runs", "table": aggregate(runs), "missing": the planned (arm, seed)
    without a shard} (planned = ``cfg``'s arms x seeds, default the preset's)."""
    cfg = cfg or SpectralRegConfig.at(preset)
    runs = read_shards(CHAPTER, preset, results_dir)
    return {"preset": preset, "runs": runs, "table": aggregate(runs),
            "missing": missing_shards(runs, cfg.arms, cfg.seeds)}


__all__ = ["CHAPTER", "SCORES", "run_sweep", "aggregate", "load_sweep"]
