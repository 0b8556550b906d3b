"""The latent diffusion pipeline (chapters 5 and 6): one diffusion recipe trained on an autoencoder's latents and
scored by generation quality.

    cfg    = LatentDiffusionConfig.at("small")                 # chapter 5's presets of LatentDiffusionConfig
    result = run("esm", cfg, seed=0, ctx=RunContext())       # AE (lab, cached) -> latents -> diffusion -> gFID
    floor  = decoder_floor("esm", cfg, ctx=RunContext())     # the AE's own reconstructions, scored the same way

The recipe is the same for every latent space: latents normalised by a global 1/std (the authors' CelebA export;
``norm_mode="channel"`` for REPA's per-channel mean/std), one backbone (DiT/SiT or U-ViT), one formulation, one
sampler, one budget. Generation quality is gFID-N and KID against Inception features of the same image files the
AE and the diffusion model were trained on (:mod:`smlib.metrics.reference`, computed once). The per-frequency
error of the trained model on held-out latents is compared with the Gaussian prediction S(f) / (1 + SNR_t(f)) of
Prop. 3.1 (:mod:`smlib.metrics.frequency_errors`). Sampling and scoring live in :mod:`smlib.metrics.generation`.
With an alignment spec and a frozen encoder (chapter 6) the same run adds representation alignment.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from smlib.atomic import atomic_path
from smlib.data import image_subset
from smlib.data.targets import build_target_cache, encode_targets
from smlib.data.latents import (LatentCache, LatentNormalizer, build_latent_cache,
                                fit_normalizer, posterior_sample)
from smlib.diffusion import Formulation, make_formulation
from smlib.diffusion.alignment import backbone_state, build_aligned
from smlib.config import DiffusionRecipeConfig
from smlib.metrics.alignment import READOUT_N, ReadoutEvaluator, checkpoint_readouts
from smlib.metrics.frequency_errors import frequency_errors
from smlib.metrics.generation import GenerationEvaluator, decode_latents, sample_latents
from smlib.metrics.reconstruction_reference import (evaluate_against_reconstructions)
from smlib.metrics.reference import ReferenceSet
from smlib.models.factory import build_backbone, count_parameters
from smlib.pipelines.latent_source import (Autoencoder, decoder_floor, obtain_autoencoder, real_reference,
                                           recon_reference)
from smlib.provenance import provenance, repo_relative, resolve_repo_path
from smlib.results import RunContext, finished_run, runs_root, write_result
from smlib.metrics.bootstrap import bootstrap_intervals
from smlib.train import fit
from smlib.train.checkpoint import canonical_config
from smlib.train.distributed import barrier, init_distributed
from smlib.train.logs import read_metrics


# ----------------------------------------------------------------------------------------------- config
@dataclass(frozen=True)
class LatentDiffusionConfig(DiffusionRecipeConfig):
    """One diffusion recipe for every latent space; the chapters add their presets and sweep knobs. Training knobs
    share their names with TrainConfig."""

    #: knobs that arrived after runs were committed: left out of the identity at their earlier value
    ADDED_KNOBS: ClassVar[dict] = {"n_boot": 0, "recon_reference": False}

    setting: str | None = None               # paper preset only: "imagenet256" or "celebahq256" (PAPER_SETTINGS)
    # autoencoders and data
    ae_preset: str = "ci"                    # which lab preset's autoencoders to diffuse
    ae_seed: int | None = None               # the lab seed of every run's autoencoder; None: the diffusion seed
    dataset: str = "cifar10"
    split: str = "train"
    resolution: int = 32
    n_images: int = 512                      # a seeded subset of the split, encoded once (+ h-flips)
    subset_seed: int = 0
    flips: bool = True                       # also cache the latents of the flipped images
    store: str = "moments"                   # cache posterior moments (a fresh sample each step) or samples
    norm_mode: str = "global"                # latent normalisation: one 1/std ("global") or per channel ("channel")
    class_conditional: bool = False
    num_classes: int = 0                     # 0: from the labels (class_conditional only)
    # model, formulation, sampler
    model: dict = field(default_factory=lambda: dict(arch="dit", hidden_size=64, depth=2, num_heads=4,
                                                     patch_size=2))     # smlib.models.factory.build_backbone spec
    formulation: str = "sit"                 # smlib.diffusion.make_formulation name
    formulation_kwargs: dict = field(default_factory=dict)
    sampler: str = "heun"
    sample_steps: int = 25
    cfg_scale: float = 1.0
    steps: int = 150                         # (the optimisation knobs are DiffusionRecipeConfig's)
    # evaluation
    n_fid: int = 48                          # samples per gFID-N/KID during training (0: no Inception)
    n_final_fid: int | None = None           # a larger final FID after training (the paper's FID-50k)
    n_boot: int = 0                          # bootstrap resamples for the final FID/KID and floor intervals (0: none)
    recon_reference: bool = False            # also score against the AE's own reconstructions (fid_recon, kid_recon)
    n_reference: int = 48                    # reference images (the first n of the subset)
    kid_subset: int = 48                     # block size of KID over the reference set
    precision_recall: bool = False
    n_freq: int = 256                        # held-out test latents for the per-frequency error
    freq_ts: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 0.9)
    n_grid: int = 16                         # samples kept as a grid
    seeds: tuple[int, ...] = (0,)            # the sweep's seeds


# ----------------------------------------------------------------------------------------------- the task
class LatentDiffusionTask:
    """:class:`smlib.train.Task` for diffusion on cached latents.

    Batches are ``(data, labels)`` rows of a :class:`LatentCache`: posterior moments (B, 2d, h, w) or samples
    (B, d, h, w). Each step draws z from the posterior (global RNG, so a resumed run draws the same), normalises it
    and takes the formulation's MSE. ``evaluate`` (optional) is a callable ``(model, step) -> dict``.

    With representation alignment (chapter 6) ``model`` is an :class:`~smlib.diffusion.alignment.AlignedModel`,
    ``targets`` a :class:`~smlib.data.targets.TargetCache` (or :class:`~smlib.data.targets.OnTheFlyTargets`) whose
    rows are the latent cache's, and batches are ``(data, labels, rows)``; the loss adds the alignment term. Without
    ``targets`` nothing of that runs, so training is exactly chapter 5's.
    """

    def __init__(self, model: nn.Module, formulation: Formulation, normalizer: LatentNormalizer, store: str,
                 config: dict, class_conditional: bool = False, evaluator=None, targets=None):
        self.model, self.formulation, self.normalizer = model, formulation, normalizer
        self.store, self.config, self.class_conditional = store, config, class_conditional
        self.evaluator, self.targets = evaluator, targets
        if evaluator is not None:
            self.evaluate = evaluator

    def latents(self, data: torch.Tensor) -> torch.Tensor:
        """Normalised training latents u (B, d, h, w) from a batch of cache rows."""
        z = posterior_sample(data.float()) if self.store == "moments" else data.float()
        return self.normalizer.normalize(z)

    def loss(self, batch, step: int):
        data, labels = batch[0], batch[1]
        u = self.latents(data)
        cond = labels.long() if self.class_conditional else None
        if self.targets is None:
            per_sample, _ = self.formulation.loss(self.model, u, cond)
            return per_sample.mean(), {}
        per_sample, logs = self.model.loss(self.formulation, u, cond, self.targets.rows(batch[2], u.device))
        return per_sample.mean(), logs

    def config_dict(self) -> dict:
        return self.config

    def setup(self, device) -> None:
        if self.evaluator is not None and hasattr(self.evaluator, "to"):
            self.evaluator.to(device)
        if isinstance(self.targets, nn.Module):   # on-the-fly targets carry the encoder
            self.targets.to(device)


# ----------------------------------------------------------------------------------------------- one run
def num_classes_of(cfg: LatentDiffusionConfig, cache: LatentCache) -> int:
    """0 for an unconditional run; else ``cfg.num_classes`` or 1 + the largest label in the cache."""
    if not cfg.class_conditional:
        return 0
    n = int(getattr(cfg, "num_classes", 0) or (int(cache.labels.max()) + 1))
    if n <= 0 or int(cache.labels.min()) < 0:
        raise ValueError("class_conditional=True but the dataset has no labels (label -1); set "
                         "class_conditional=False or use a labelled dataset.")
    return n


def task_config(cfg: LatentDiffusionConfig, cache: LatentCache, normalizer: LatentNormalizer, num_classes: int) -> dict:
    """What defines the model and its data (saved in checkpoints; resuming under another one is refused)."""
    return {"latent_cache": cache.key, "latent_shape": list(cache.latent_shape), "store": cache.store,
            "normalizer": normalizer.to_dict(), "model": dict(cfg.model), "num_classes": num_classes,
            "formulation": cfg.formulation, "formulation_kwargs": dict(cfg.formulation_kwargs)}


def fit_latent_diffusion(cache: LatentCache, cfg, out_dir, *, device: str = "auto", seed: int = 0,
                         autoencoder: nn.Module | None = None, reference: ReferenceSet | None = None, features=None,
                         normalizer: LatentNormalizer | None = None, resume: bool = True,
                         max_steps_this_call: int | None = None, progress: bool = False, callback=None,
                         alignment=None, targets=None, readout=None) -> dict:
    """Train the diffusion backbone on a latent cache with :func:`smlib.train.fit` (resumable, bit-exact on CPU).

    cfg: a :class:`LatentDiffusionConfig`. With ``autoencoder``, ``reference`` and ``features`` the run
    scores gFID-N/KID (N = ``cfg.n_fid``) every ``cfg.eval_every`` steps and at the end (written to metrics.csv as
    ``eval/fid`` ...). ``normalizer`` defaults to :func:`fit_normalizer` (``cfg.norm_mode``) on the cache.
    ``alignment`` (an :class:`~smlib.diffusion.alignment.AlignmentSpec`) with ``targets`` (rows = the cache's)
    trains with representation alignment; both None (the default) is chapter 5's training, unchanged. ``readout``
    = (held-out normalised latents (B, d, h, w), their raw target tokens (B, T, C)) adds the tapped state's RMSC,
    mid-band share and cosine at t = 0.5 to every evaluation (``eval/hidden_*``).
    Returns a dict: out_dir, checkpoint, step, completed, wall_time_s, normalizer, num_params, final ``metrics``,
    and the ``model``/``ema_model``/``formulation`` objects (for sampling and frequency analysis).
    """
    out_dir = Path(out_dir)
    normalizer = normalizer or fit_normalizer(cache, cfg.norm_mode, seed=0)
    num_classes = num_classes_of(cfg, cache)
    if (alignment is None) != (targets is None):
        raise ValueError("representation alignment needs both an alignment spec and its target tokens.")
    torch.manual_seed(int(seed))  # the initial weights are a function of the seed
    model = build_backbone(cfg.model, cache.latent_shape, num_classes)
    if alignment is not None:   # the head is built after the backbone, so the backbone's init does not move
        targets.check_rows(cache.index, cache.flipped)
        model = build_aligned(model, alignment, targets.dim)
        if tuple(targets.grid) != model.alignment.grid:
            raise ValueError(f"the target grid {targets.grid} is not the model's token grid {model.alignment.grid}.")
    formulation = make_formulation(cfg.formulation, **dict(cfg.formulation_kwargs))
    info = init_distributed()
    evaluator = None
    if autoencoder is not None and reference is not None and features is not None and cfg.n_fid:
        evaluator = GenerationEvaluator(autoencoder, normalizer, formulation, reference, features, cfg.n_fid,
                                        cache.latent_shape, sampler=cfg.sampler, steps=cfg.sample_steps,
                                        seed=int(seed), num_classes=num_classes, cfg_scale=cfg.cfg_scale,
                                        kid_subset=cfg.kid_subset, with_precision_recall=cfg.precision_recall,
                                        rank=info.rank)
    if alignment is not None and readout is not None:
        evaluator = ReadoutEvaluator(evaluator, formulation, readout[0], readout[1], t=0.5, seed=int(seed))
    config = task_config(cfg, cache, normalizer, num_classes)
    data = (cache.data, cache.labels)
    if alignment is not None:
        config.update(alignment=alignment.to_dict(), targets=getattr(targets, "key", "") or "on-the-fly")
        data = (cache.data, cache.labels, torch.arange(len(cache)))
    task = LatentDiffusionTask(model, formulation, normalizer, cache.store, config, num_classes > 0, evaluator,
                               targets)
    tc = cfg.train_config(seed=seed, device=device, out_dir=out_dir)
    result = fit(task, tc, data, resume=resume,
                 progress=progress, max_steps_this_call=max_steps_this_call, callback=callback)
    ema_model = build_backbone(cfg.model, cache.latent_shape, num_classes)
    ckpt = torch.load(result.checkpoint, map_location="cpu", weights_only=True, mmap=True)  # reads only the EMA
    ema_model.load_state_dict(backbone_state(ckpt["ema"]["shadow"] if ckpt.get("ema") else ckpt["model"]))
    del ckpt
    ema_model.to(next(model.parameters()).device).eval()
    return {"out_dir": repo_relative(out_dir), "checkpoint": repo_relative(result.checkpoint), "step": result.step,
            "completed": result.completed, "wall_time_s": result.wall_time_s, "normalizer": normalizer.to_dict(),
            "num_params": count_parameters(ema_model), "num_classes": num_classes, "metrics": result.metrics,
            "train_logs": result.train_logs, "metrics_csv": str(result.metrics_csv), "model": model,
            "ema_model": ema_model, "formulation": formulation, "evaluator": evaluator}


# ----------------------------------------------------------------------------------------------- one run
def run_dir(runs_dir, chapter: str, preset: str, dataset: str, arm: str, seed: int) -> Path:
    """<runs>/<chapter>/<preset>/<dataset>/<arm>/seed<k>: where a chapter keeps one run's folder."""
    return runs_root(runs_dir) / chapter / preset / dataset / arm / f"seed{seed}"


def run(variant: str, cfg: LatentDiffusionConfig, seed: int, ctx: RunContext, *, out_dir, ae: Autoencoder | None = None,
        keep_models: bool = False, alignment=None, encoder=None, normalizer_for=None) -> dict:
    """The whole pipeline for one autoencoder and seed, cached and resumable in ``out_dir``.

    AE (``ae``, or the lab's ``variant`` at seed ``cfg.ae_seed``, default ``seed``) -> latent cache of
    ``n_images`` training images + flips -> normalisation -> diffusion training with periodic gFID-N/KID -> final
    gFID-N/KID, sample grid, per-frequency error on held-out (test split) latents. Writes ``result.json`` and
    ``grid.pt`` in ``out_dir``; a completed run of the same recipe is read back, not redone. Returns the result dict
    (plus ``models`` when ``keep_models``).

    Chapter 6 passes an ``alignment`` spec with its frozen ``encoder``: the encoder's tokens of the same images and
    flips are cached beside the latents, training adds the alignment term, and the result also holds the tapped
    state's readouts on the held-out latents (:func:`smlib.metrics.alignment.checkpoint_readouts`). Chapter 5b passes ``normalizer_for``:
    ``(latent cache, training images) -> normaliser``, any object with ``normalize`` / ``denormalize`` /
    ``to_dict``, through which every latent of the run passes (training, sampling, the per-frequency analysis)."""
    dev = ctx.device
    if (alignment is None) != (encoder is None):
        raise ValueError("representation alignment needs both an alignment spec and a frozen encoder.")
    out = Path(out_dir)
    run_config = canonical_config(cfg.run_identity())
    if not keep_models and ctx.max_steps_this_call is None:
        done = finished_run(out, run_config, cfg.steps)
        if done is not None:
            return done
    info = init_distributed()
    t0 = time.time()
    images, labels = image_subset(cfg.dataset, cfg.n_images, cfg.resolution, cfg.split, cfg.subset_seed,
                                  ctx.data_root)
    ae_seed = seed if cfg.ae_seed is None else int(cfg.ae_seed)
    ae = ae or obtain_autoencoder(variant, cfg, ctx, ae_seed)
    ae.model.to(dev).requires_grad_(False)
    common = dict(cache_dir=runs_root(ctx.runs_dir) / "latents", dataset=cfg.dataset, resolution=cfg.resolution,
                  subset_seed=cfg.subset_seed, ae_checkpoint=ae.checkpoint, device=dev,
                  extra_meta={"variant": variant})
    if info.is_main:
        cache = build_latent_cache(ae.model, images, labels, split=cfg.split, flips=cfg.flips, store=cfg.store,
                                   **common)
    barrier()
    if not info.is_main:
        cache = build_latent_cache(ae.model, images, labels, split=cfg.split, flips=cfg.flips, store=cfg.store,
                                   **common)
    test_images, test_labels = image_subset(cfg.dataset, cfg.n_freq, cfg.resolution, "test", cfg.subset_seed,
                                            ctx.data_root) if cfg.dataset != "folder" else (images[: cfg.n_freq],
                                                                                           labels[: cfg.n_freq])
    test_cache = build_latent_cache(ae.model, test_images, test_labels, split="test", flips=False, store="moments",
                                    **common)
    targets = None
    if alignment is not None:
        target_dir = dict(cache_dir=runs_root(ctx.runs_dir) / "targets", dataset=cfg.dataset, split=cfg.split,
                          subset_seed=cfg.subset_seed, flips=cfg.flips, device=dev)
        if info.is_main:
            targets = build_target_cache(encoder.to(dev), images, **target_dir)
        barrier()
        if not info.is_main:
            targets = build_target_cache(encoder.to(dev), images, **target_dir)
    features = ctx.inception() if cfg.n_fid else None
    reference = real_reference(cfg, images, features) if features is not None else None
    normalizer = normalizer_for(cache, images) if normalizer_for else fit_normalizer(cache, cfg.norm_mode, seed=0)
    # posterior draws, like the training data the model learned (the means lack the posterior noise)
    test_u = normalizer.normalize(test_cache.sample(generator=torch.Generator().manual_seed(2)))
    readout = None
    if alignment is not None:
        n_read = min(READOUT_N, test_u.shape[0])   # held-out latents the tapped state is read out on
        raw_test, _, _ = encode_targets(encoder, test_images[:n_read], flips=False, device=dev)
        readout = (test_u[:n_read], raw_test)
    prep_s = time.time() - t0
    fitted = fit_latent_diffusion(cache, cfg, out, device=dev, seed=seed, autoencoder=ae.model, reference=reference,
                                  features=features, normalizer=normalizer,
                                  max_steps_this_call=ctx.max_steps_this_call, progress=ctx.progress,
                                  alignment=alignment, targets=targets, readout=readout)
    result = {"variant": variant, "seed": seed, "ae_seed": ae_seed,
              "preset": cfg.preset, "setting": cfg.setting, "dataset": cfg.dataset, "resolution": cfg.resolution,
              "n_images": cfg.n_images, "latent_shape": list(cache.latent_shape), "latent_cache": cache.key,
              "autoencoder": ae.info, "normalizer": fitted["normalizer"], "num_params": fitted["num_params"],
              "steps": fitted["step"], "config_steps": cfg.steps, "completed": fitted["completed"],
              "train_wall_time_s": round(fitted["wall_time_s"], 2), "prep_time_s": round(prep_s, 2),
              "model": dict(cfg.model), "formulation": cfg.formulation, "sampler": cfg.sampler,
              "sample_steps": cfg.sample_steps, "batch_size": cfg.batch_size, "lr": cfg.lr, "config": run_config}
    if alignment is not None:
        result.update(alignment=alignment.to_dict(), tap_depth=fitted["model"].alignment.depth,
                      targets=dict(targets.meta), encoder=encoder.label, train_logs=dict(fitted["train_logs"]))
    if fitted["completed"] and info.is_main:
        ema = fitted["ema_model"]
        train_u = normalizer.normalize(cache.sample(torch.arange(min(len(cache), 4096)),
                                                    torch.Generator().manual_seed(1)))
        y = test_cache.labels if fitted["num_classes"] else None
        freq = frequency_errors(ema, fitted["formulation"], test_u, train_u, cfg.freq_ts, seed=seed, labels=y)
        result["frequency"] = freq.to_dict()
        result["frequency_summary"] = freq.summary()
        if alignment is not None:
            result["readouts"] = checkpoint_readouts(fitted["model"], resolve_repo_path(fitted["checkpoint"]),
                                                     fitted["formulation"], readout, cfg.freq_ts, seed)
        result["final"] = dict(fitted["metrics"])
        evaluator = getattr(fitted["evaluator"], "inner", fitted["evaluator"])   # the gFID part (EMA backbone)
        n_final = int(cfg.n_final_fid or 0)
        if evaluator is not None and (n_final > evaluator.n or cfg.n_boot):  # the paper's FID-50k, after training
            result["final_during_training"] = result["final"]
            result["final"] = evaluator(ema, fitted["step"], n=max(n_final, evaluator.n))
            result["final"].update(bootstrap_intervals(evaluator.last_features, evaluator.reference, cfg.n_boot,
                                                       evaluator.kid_subset, seed=seed))
        if result["final"].get("n_samples"):
            result["final"]["fid_label"] = f"FID-{int(result['final']['n_samples'])}"
        if cfg.recon_reference and evaluator is not None:     # the same samples against the AE's reconstructions
            rec = evaluate_against_reconstructions(evaluator.last_features,
                                                   recon_reference(ae, cfg, images, features, ctx),
                                                   kid_subset=cfg.kid_subset, seed=seed)
            result["final"].update({k: rec[k] for k in ("fid_recon", "kid_recon", "kid_recon_std",
                                                        "fid_recon_label")})
        keys = ("loss", "eval/fid", "eval/kid") + (("loss_diffusion", "loss_align", "align_cos", "eval/hidden_rmsc",
                                                    "eval/hidden_mid_band", "eval/hidden_cos") if alignment else ())
        curve = read_metrics(fitted["metrics_csv"], keys=keys)
        result["curve"] = {k: v for k, v in curve.items()}
        grid = evaluator.last_images[: cfg.n_grid] if evaluator is not None and evaluator.last_images is not None \
            else decode_latents(ae.model, sample_latents(ema, fitted["formulation"], cfg.n_grid, cache.latent_shape,
                                                   sampler=cfg.sampler, steps=cfg.sample_steps, seed=seed),
                                normalizer)
        with atomic_path(out / "grid.pt") as tmp:
            torch.save(((grid + 1) * 127.5).round().clamp(0, 255).to(torch.uint8), tmp)
        result["grid"] = repo_relative(out / "grid.pt")
        result["wall_time_s"] = round(time.time() - t0, 2)   # prep + training (with its evaluations) + final analysis
        result["provenance"] = provenance()
        write_result(out / "result.json", result)
    if keep_models:
        result["models"] = {"ema": fitted["ema_model"], "autoencoder": ae.model, "normalizer": normalizer,
                            "formulation": fitted["formulation"], "cache": cache}
    return result


__all__ = ["LatentDiffusionConfig", "LatentDiffusionTask", "num_classes_of", "task_config", "fit_latent_diffusion",
           "run_dir", "run", "Autoencoder", "obtain_autoencoder", "decoder_floor"]
