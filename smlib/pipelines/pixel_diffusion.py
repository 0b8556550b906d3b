"""The pixel diffusion pipeline (chapters 7 and 8): a seeded subset of training images -> a diffusion task (pixels,
or their block-DCT tokens) -> :func:`smlib.train.fit` -> decoded, quantised samples -> gFID-N and KID.

    result = run(lambda images, reference, features: build_task(...), cfg, seed=0, ctx=RunContext(),
                 out_dir="runs/dctdiff/small/cifar10/ebfr/seed0", record=lambda task: {"arm": "ebfr"})

A chapter brings its task (model, formulation, loss, evaluator); the pipeline brings what both pixel chapters share:
the training images and the one Inception reference they are scored against (the same knobs give the same cache
key, so chapters 7 and 8 score against one reference), the run folder (a completed run of the same recipe is read
back, a folder of another recipe refused), the result with its curve, final scores and the first samples (packed
uint8 in the result itself, :func:`smlib.results.unpack_uint8`, so a committed run shows what it draws), and the
provenance of the process. No checkpoint is chosen by the test metric: the score is the final step's EMA model.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch

from smlib.atomic import atomic_path
from smlib.data import image_subset
from smlib.metrics.generation import evaluate_generation
from smlib.metrics.image import to_uint8_grid
from smlib.metrics.reference import ReferenceSet, reference_set
from smlib.models.factory import count_parameters
from smlib.provenance import provenance, repo_relative
from smlib.results import RunContext, finished_run, pack_uint8, write_result
from smlib.train import fit
from smlib.train.checkpoint import canonical_config
from smlib.train.logs import read_metrics

CURVE_KEYS = ("loss", "eval/fid", "eval/kid")


def training_images(cfg, data_root=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The seeded subset of the split every arm trains on: (n_images, 3, R, R) in [-1, 1], labels (n_images,)."""
    return image_subset(cfg.dataset, cfg.n_images, cfg.resolution, cfg.split, cfg.subset_seed, data_root)


def reference_for(cfg, images: torch.Tensor, features) -> ReferenceSet:
    """The first ``n_reference`` training images as Inception features (the one reference cache)."""
    return reference_set(cfg.dataset, cfg.split, cfg.resolution, cfg.n_reference, lambda: images[: cfg.n_reference],
                         features, subset=f"subset{cfg.subset_seed}")


def data_floor(cfg, ctx: RunContext, split: str = "test", seed: int = 0) -> dict:
    """The score of a generator that samples the data exactly: ``n_fid`` real images of ``split`` (another split than
    the reference's), quantised to uint8 levels as samples are, scored like a run's samples (gFID-N and KID against
    the same reference, with the same N). gFID-N is biased upwards at small N, so this is where a learning bar on
    gFID-N sits against the best it can be."""
    images, _ = training_images(cfg, ctx.data_root)
    features = ctx.inception()
    reference = reference_for(cfg, images, features)
    real, _ = image_subset(cfg.dataset, cfg.n_fid, cfg.resolution, split, seed, ctx.data_root)
    scores = evaluate_generation(to_uint8_grid(real.float(), "round"), reference, features, kid_subset=cfg.kid_subset)
    return {**scores, "split": split, "seed": int(seed)}


def save_grid(images: torch.Tensor, path: Path) -> str:
    """Samples in [-1, 1] (n, 3, H, W) saved atomically as uint8; returns the repo-relative path."""
    with atomic_path(path) as tmp:
        torch.save(((images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8), tmp)
    return repo_relative(path)


def run(build_task: Callable, cfg, seed: int, ctx: RunContext, out_dir, *, record: Callable[[object], dict],
        curve_keys=CURVE_KEYS, finish: Callable[[dict, torch.Tensor, torch.Tensor], None] | None = None) -> dict:
    """One run, trained with :func:`smlib.train.fit` (resumable, bit-exact on CPU) and scored; cached in ``out_dir``.

    build_task(images, reference, features) -> a :class:`smlib.train.Task` whose ``evaluate`` (if any) is a
    :class:`~smlib.metrics.generation.GenerationEvaluator`; record(task) -> the chapter's fields of the result (its
    arm, label, ...); finish(result, final samples (N, 3, H, W), training images), when given, adds scores of the
    final samples. Writes ``result.json`` and ``grid.pt`` in ``out_dir``. Returns the result: the chapter's fields,
    seed, parameter count, steps, final gFID-N / KID (``final``), the curve over steps, the first ``n_grid`` samples
    (``samples``, packed uint8), wall times, provenance."""
    out = Path(out_dir)
    identity = canonical_config(cfg.run_identity())
    if ctx.max_steps_this_call is None:
        done = finished_run(out, identity, cfg.steps)
        if done is not None:
            return done
    t0 = time.time()
    images, labels = training_images(cfg, ctx.data_root)
    features = ctx.inception() if cfg.n_fid else None
    reference = reference_for(cfg, images, features) if features is not None else None
    task = build_task(images, reference, features)
    prep_s = time.time() - t0
    fitted = fit(task, cfg.train_config(seed=seed, device=ctx.device, out_dir=out), (images, labels),
                 progress=ctx.progress, max_steps_this_call=ctx.max_steps_this_call)
    result = {**record(task), "seed": seed, "preset": cfg.preset, "dataset": cfg.dataset,
              "resolution": cfg.resolution, "num_params": count_parameters(task.model), "steps": fitted.step,
              "config_steps": cfg.steps, "completed": fitted.completed,
              "train_wall_time_s": round(fitted.wall_time_s, 2), "prep_time_s": round(prep_s, 2), "config": identity}
    if fitted.completed and ctx.is_main:
        result["final"] = dict(fitted.metrics)
        if result["final"]:
            result["final"]["fid_label"] = f"FID-{int(result['final']['n_samples'])}"
        result["curve"] = read_metrics(fitted.metrics_csv, keys=curve_keys)
        evaluator = getattr(task, "evaluate", None)
        if evaluator is not None and evaluator.last_images is not None:
            if finish is not None:
                finish(result, evaluator.last_images, images)
            result["grid"] = save_grid(evaluator.last_images[: cfg.n_grid], out / "grid.pt")
            result["samples"] = pack_uint8(evaluator.last_images[: cfg.n_grid])   # committed with the result
        result["wall_time_s"] = round(time.time() - t0, 2)
        result["provenance"] = provenance()
        write_result(out / "result.json", result)
    return result


__all__ = ["CURVE_KEYS", "training_images", "reference_for", "data_floor", "save_grid", "run"]
