"""Chapter 5's recipe (notebook ``05_diffusability``): one latent diffusion recipe trained on each autoencoder's
latents, scored by generation quality.

    cfg    = DiffusabilityConfig.at("small")
    result = run_variant("esm", cfg, seed=0)                 # AE (lab, cached) -> latents -> diffusion -> gFID
    floor  = decoder_floor("esm", cfg)                       # the AE's own reconstructions, scored the same way
    python -m smlib diffusion --preset small --variant all --seeds 0 1     # -> results/diffusability/small.json
    torchrun --nproc_per_node 8 -m smlib diffusion --preset paper --variant dsm --seeds 0

The recipe is the same for every latent space: latents normalised by a global 1/std (the authors' CelebA export;
``norm_mode="channel"`` for REPA's per-channel mean/std), one backbone (DiT/SiT or U-ViT), one formulation, one
sampler, one budget. Generation quality is gFID-N and KID against Inception features of the same image files the
AE and the diffusion model were trained on (:mod:`smlib.metrics.reference`, computed once). The per-frequency
error of the trained model on held-out latents is compared with the Gaussian prediction S(f) / (1 + SNR_t(f)) of
Prop. 3.1 (:mod:`smlib.metrics.frequency_errors`). Sampling and scoring live in :mod:`smlib.metrics.generation`,
the sweep in :mod:`.sweep`, its reading in :mod:`.report`; this module is one run.
"""
from __future__ import annotations

import copy
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from smlib.atomic import atomic_path
from smlib.data import image_subset
from smlib.data.targets import build_target_cache, encode_targets
from smlib.data.latents import (LatentCache, LatentNormalizer, build_latent_cache, encode_images, fit_normalizer,
                                posterior_sample)
from smlib.device import resolve_device
from smlib.diffusion import Formulation, make_formulation
from smlib.diffusion.alignment import backbone_state, build_aligned
from smlib.experiments.autoencoders import AutoencoderConfig
from smlib.experiments.autoencoders import recipe as lab
from smlib.experiments.diffusability.config import VARIANTS, DiffusabilityConfig
from smlib.metrics.alignment import ReadoutEvaluator, hidden_readout
from smlib.metrics.frequency_errors import frequency_errors
from smlib.metrics.generation import GenerationEvaluator, decode_latents, evaluate_generation, sample_latents
from smlib.metrics.inception import shared_inception
from smlib.metrics.reference import ReferenceSet, reference_set
from smlib.models.factory import build_backbone, count_parameters
from smlib.provenance import provenance, repo_relative, resolve_repo_path
from smlib.results import runs_root, write_result
from smlib.stats import bootstrap_fid, bootstrap_kid
from smlib.train import fit
from smlib.train.checkpoint import canonical_config, config_diff
from smlib.train.distributed import barrier, init_distributed
from smlib.train.logs import read_metrics


def as_config(cfg: DiffusabilityConfig | str) -> DiffusabilityConfig:
    """A config object as it is, or the preset of that name."""
    return DiffusabilityConfig.at(cfg) if isinstance(cfg, str) else cfg


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
def num_classes_of(cfg: DiffusabilityConfig, cache: LatentCache) -> int:
    """0 for an unconditional run; else ``cfg.num_classes`` or 1 + the largest label in the cache."""
    if not cfg.class_conditional:
        return 0
    n = int(getattr(cfg, "num_classes", 0) or (int(cache.labels.max()) + 1))
    if n <= 0 or int(cache.labels.min()) < 0:
        raise ValueError("class_conditional=True but the dataset has no labels (label -1); set "
                         "class_conditional=False or use a labelled dataset.")
    return n


def task_config(cfg: DiffusabilityConfig, cache: LatentCache, normalizer: LatentNormalizer, num_classes: int) -> dict:
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

    cfg: a :class:`DiffusabilityConfig`. With ``autoencoder``, ``reference`` and ``features`` the run
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


# ----------------------------------------------------------------------------------------------- data and AEs
def lab_config(cfg: DiffusabilityConfig, dataset: str | None = None) -> AutoencoderConfig:
    """The lab preset whose autoencoders these runs diffuse (``cfg.ae_preset``), on the runs' dataset."""
    return AutoencoderConfig.at(cfg.ae_preset, dataset=dataset or cfg.dataset)


def obtain_autoencoder(variant: str, cfg: DiffusabilityConfig, *, dataset: str, data_root, device, seed: int,
                       checkpoint=None, runs_dir=None):
    """(autoencoder in eval mode, path of its weights file, info dict) for a variant.

    An explicit ``checkpoint`` (a lab run folder, or its ``result.json``) wins; otherwise the lab recipe
    :func:`smlib.experiments.autoencoders.fit_autoencoder` at ``cfg.ae_preset`` trains the variant or reuses the
    finished run under ``<runs_dir>/autoencoders/`` (default ``runs/``). There is no substitute: an unknown variant
    is an error."""
    if checkpoint is not None:
        path = Path(checkpoint)
        result_file = path / "result.json" if path.is_dir() else path
        if not result_file.is_file() or result_file.suffix != ".json":
            raise FileNotFoundError(f"--autoencoder {checkpoint}: expected a lab run folder holding result.json "
                                    f"(runs/autoencoders/<preset>/<variant>-<key>) or that result.json.")
        res, source = json.loads(result_file.read_text()), str(checkpoint)
    else:
        res = lab.fit_autoencoder(variant, lab_config(cfg, dataset), data_root=data_root, device=device, seed=seed,
                                  runs_dir=runs_dir)
        source = "smlib.experiments.autoencoders"
    info = {k: v for k, v in res.items() if isinstance(v, (str, int, float, bool))}
    info.update(variant=variant, source=repo_relative(source) if checkpoint is not None else source,
                checkpoint=repo_relative(res["checkpoint"]))
    return lab.load_autoencoder(res), str(resolve_repo_path(res["checkpoint"])), info


# ----------------------------------------------------------------------------------------------- variant runs
def run_dir(runs_dir, preset: str, dataset: str, variant: str, seed: int) -> Path:
    """<runs>/diffusability/<preset>/<dataset>/<variant>/seed<k>."""
    return runs_root(runs_dir) / "diffusability" / preset / dataset / variant / f"seed{seed}"


def _reference(cfg: DiffusabilityConfig, images: torch.Tensor, features) -> ReferenceSet:
    """The first ``n_reference`` training images of the subset, as Inception features (the one reference cache)."""
    return reference_set(cfg.dataset, cfg.split, cfg.resolution, cfg.n_reference, lambda: images[: cfg.n_reference],
                         features, subset=f"subset{cfg.subset_seed}")


def bootstrap_intervals(features: np.ndarray, reference: ReferenceSet, n_boot: int, kid_subset: int | None,
                        seed: int = 0) -> dict:
    """95% bootstrap intervals of gFID-N and KID over the N sample rows (:func:`smlib.stats.bootstrap_fid`,
    :func:`~smlib.stats.bootstrap_kid`): ``fid_low``, ``fid_high``, ``fid_boot_std``, ``kid_low``, ``kid_high``,
    ``n_boot``; {} when ``n_boot`` is 0."""
    if not n_boot:
        return {}
    subset = min(kid_subset or len(features), reference.n)
    f = bootstrap_fid(features, reference.stats.mu, reference.stats.sigma, n_boot=n_boot, seed=seed)
    k = bootstrap_kid(features, reference.features, n_boot=n_boot, seed=seed, subset_size=subset)
    return {"fid_low": f["low"], "fid_high": f["high"], "fid_boot_std": f["std"], "kid_low": k["low"],
            "kid_high": k["high"], "n_boot": int(n_boot)}


def final_n(cfg: DiffusabilityConfig) -> int:
    """The sample count of a run's final gFID: ``n_final_fid`` when it exceeds ``n_fid``, else ``n_fid``."""
    return int(cfg.n_final_fid) if cfg.n_final_fid and cfg.n_final_fid > cfg.n_fid else int(cfg.n_fid)


def decoder_floor(variant: str, cfg: DiffusabilityConfig | str = "ci", *, seed: int = 0, data_root=None,
                  device="auto", runs_dir=None, autoencoder_checkpoint=None, features=None) -> dict:
    """gFID-N and KID of the autoencoder's own reconstructions, scored exactly like the diffusion samples.

    N = the final gFID's sample count (``n_final_fid`` when it is larger than ``n_fid``, else ``n_fid``: FID-N is
    biased by N, so the floor is taken at the N it is subtracted from). N training images that are not in the
    reference set (``images[n_reference : n_reference + N]``) are encoded, one posterior sample each is drawn
    (seeded) and decoded. A diffusion model that matched the latent distribution perfectly would score about this,
    so ``gFID - floor`` is the part of the gFID that the diffusion model, not the decoder, is responsible for. With
    ``n_boot``, the floor carries its bootstrap interval. Cached as ``floor-ae<k>.json`` beside the variant's
    seed folders (k = the autoencoder's seed), keyed by the configuration."""
    cfg = as_config(cfg)
    ae_seed = seed if cfg.ae_seed is None else int(cfg.ae_seed)
    n = final_n(cfg)
    path = run_dir(runs_dir, cfg.preset, cfg.dataset, variant, seed).parent / f"floor-ae{ae_seed}.json"
    key = canonical_config({"n_images": cfg.n_images, "n_reference": cfg.n_reference, "n_fid": n,
                            "kid_subset": cfg.kid_subset, "subset_seed": cfg.subset_seed, "ae_preset": cfg.ae_preset,
                            "resolution": cfg.resolution, **({"n_boot": cfg.n_boot} if cfg.n_boot else {}),
                            "autoencoder": repo_relative(autoencoder_checkpoint) if autoencoder_checkpoint else "None"})
    if path.is_file():
        done = json.loads(path.read_text())
        if done.get("config") == key:
            return done
    if cfg.n_images < cfg.n_reference + n:
        raise ValueError(f"the decoder floor needs n_images >= n_reference + N ({cfg.n_reference} + "
                         f"{n}), got {cfg.n_images}.")
    t0 = time.time()
    dev = resolve_device(device)
    images, _ = image_subset(cfg.dataset, cfg.n_images, cfg.resolution, cfg.split, cfg.subset_seed, data_root)
    ae, _, _ = obtain_autoencoder(variant, cfg, dataset=cfg.dataset, data_root=data_root, device=dev, seed=ae_seed,
                                  checkpoint=autoencoder_checkpoint, runs_dir=runs_dir)
    features = features if features is not None else shared_inception(str(dev))
    reference = _reference(cfg, images, features)
    held_out = images[cfg.n_reference: cfg.n_reference + n]
    moments = encode_images(ae.to(dev), [held_out], flips=False, device=dev)[0]
    z = posterior_sample(moments, torch.Generator().manual_seed(int(seed)))
    recon = decode_latents(ae, z, LatentNormalizer((0.0,), (1.0,)))
    feats = features(recon)
    scores = evaluate_generation(None, reference, sample_features=feats, kid_subset=cfg.kid_subset, seed=int(seed))
    scores.update(bootstrap_intervals(feats, reference, cfg.n_boot, cfg.kid_subset, seed=int(seed)))
    out = {"variant": variant, "ae_seed": ae_seed, "config": key, **scores,
           "wall_time_s": round(time.time() - t0, 2), "provenance": provenance()}
    write_result(path, out)
    return out


def run_variant(variant: str, cfg: DiffusabilityConfig | str = "ci", *, data_root=None, device="auto", seed: int = 0,
                runs_dir: str | os.PathLike | None = None, autoencoder_checkpoint=None, features=None,
                max_steps_this_call: int | None = None, progress: bool = False, keep_models: bool = False,
                alignment=None, encoder=None, out_dir=None) -> dict:
    """The whole diffusability pipeline for one autoencoder variant and seed, cached and resumable.

    AE (lab recipe, cached) -> latent cache of ``n_images`` training images + flips -> normalisation ->
    diffusion training with periodic gFID-N/KID -> final gFID-N/KID, sample grid, per-frequency error on held-out
    (test split) latents. Writes ``result.json`` and ``grid.pt`` in :func:`run_dir`; a completed run is loaded,
    not redone. Returns the result dict (plus ``models`` when ``keep_models``).

    Chapter 6 passes an ``alignment`` spec with its frozen ``encoder`` (and its own ``out_dir``): the encoder's
    tokens of the same images and flips are cached beside the latents, training adds the alignment term, and the
    result also holds the tapped state's readouts on the held-out latents (:func:`alignment_readouts`)."""
    cfg = as_config(cfg)
    dev = resolve_device(device)
    if (alignment is None) != (encoder is None):
        raise ValueError("representation alignment needs both an alignment spec and a frozen encoder.")
    out = Path(out_dir) if out_dir is not None else run_dir(runs_dir, cfg.preset, cfg.dataset, variant, seed)
    result_path = out / "result.json"
    # what determines this run's result; the step count is left out, so a longer --steps continues a finished run
    run_config = canonical_config(cfg.run_identity())
    if result_path.is_file() and not keep_models and max_steps_this_call is None:
        done = json.loads(result_path.read_text())
        if "config" in done and config_diff(done["config"], run_config):   # never hand back another recipe's run
            raise ValueError(f"{out} holds a run of another configuration (differs in: "
                             f"{', '.join(config_diff(done['config'], run_config))}); delete it or pass --runs-dir.")
        if done.get("completed") and done.get("config_steps") == cfg.steps:
            return done
    info = init_distributed()
    t0 = time.time()
    images, labels = image_subset(cfg.dataset, cfg.n_images, cfg.resolution, cfg.split, cfg.subset_seed, data_root)
    ae_seed = seed if cfg.ae_seed is None else int(cfg.ae_seed)
    ae, ae_ckpt, ae_info = obtain_autoencoder(variant, cfg, dataset=cfg.dataset, data_root=data_root, device=dev,
                                              seed=ae_seed, checkpoint=autoencoder_checkpoint, runs_dir=runs_dir)
    ae.to(dev).requires_grad_(False)
    cache_dir = runs_root(runs_dir) / "latents"
    common = dict(cache_dir=cache_dir, dataset=cfg.dataset, resolution=cfg.resolution, subset_seed=cfg.subset_seed,
                  ae_checkpoint=ae_ckpt, device=dev, extra_meta={"variant": variant})
    if info.is_main:
        cache = build_latent_cache(ae, images, labels, split=cfg.split, flips=cfg.flips, store=cfg.store, **common)
    barrier()
    if not info.is_main:
        cache = build_latent_cache(ae, images, labels, split=cfg.split, flips=cfg.flips, store=cfg.store, **common)
    test_images, test_labels = image_subset(cfg.dataset, cfg.n_freq, cfg.resolution, "test", cfg.subset_seed,
                                            data_root) if cfg.dataset != "folder" else (images[: cfg.n_freq],
                                                                                       labels[: cfg.n_freq])
    test_cache = build_latent_cache(ae, test_images, test_labels, split="test", flips=False, store="moments",
                                    **common)
    targets = None
    if alignment is not None:
        target_dir = dict(cache_dir=runs_root(runs_dir) / "targets", dataset=cfg.dataset, split=cfg.split,
                          subset_seed=cfg.subset_seed, flips=cfg.flips, device=dev)
        if info.is_main:
            targets = build_target_cache(encoder.to(dev), images, **target_dir)
        barrier()
        if not info.is_main:
            targets = build_target_cache(encoder.to(dev), images, **target_dir)
    features = features if features is not None else (shared_inception(str(dev)) if cfg.n_fid else None)
    reference = _reference(cfg, images, features) if features is not None else None
    normalizer = fit_normalizer(cache, cfg.norm_mode, seed=0)
    # posterior draws, like the training data the model learned (the means lack the posterior noise)
    test_u = normalizer.normalize(test_cache.sample(generator=torch.Generator().manual_seed(2)))
    readout = None
    if alignment is not None:
        n_read = min(READOUT_N, test_u.shape[0])
        raw_test, _, _ = encode_targets(encoder, test_images[:n_read], flips=False, device=dev)
        readout = (test_u[:n_read], raw_test)
    prep_s = time.time() - t0
    fitted = fit_latent_diffusion(cache, cfg, out, device=dev, seed=seed, autoencoder=ae, reference=reference,
                                  features=features, normalizer=normalizer, max_steps_this_call=max_steps_this_call,
                                  progress=progress, alignment=alignment, targets=targets, readout=readout)
    result = {"variant": variant, "label": VARIANTS.get(variant, variant), "seed": seed, "ae_seed": ae_seed,
              "preset": cfg.preset, "setting": cfg.setting, "dataset": cfg.dataset, "resolution": cfg.resolution,
              "n_images": cfg.n_images, "latent_shape": list(cache.latent_shape), "latent_cache": cache.key,
              "autoencoder": ae_info, "normalizer": fitted["normalizer"], "num_params": fitted["num_params"],
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
            result["readouts"] = alignment_readouts(fitted, readout, cfg, seed)
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
        keys = ("loss", "eval/fid", "eval/kid") + (("loss_diffusion", "loss_align", "align_cos", "eval/hidden_rmsc",
                                                    "eval/hidden_mid_band", "eval/hidden_cos") if alignment else ())
        curve = read_metrics(fitted["metrics_csv"], keys=keys)
        result["curve"] = {k: v for k, v in curve.items()}
        grid = evaluator.last_images[: cfg.n_grid] if evaluator is not None and evaluator.last_images is not None \
            else decode_latents(ae, sample_latents(ema, fitted["formulation"], cfg.n_grid, cache.latent_shape,
                                                   sampler=cfg.sampler, steps=cfg.sample_steps, seed=seed),
                                normalizer)
        with atomic_path(out / "grid.pt") as tmp:
            torch.save(((grid + 1) * 127.5).round().clamp(0, 255).to(torch.uint8), tmp)
        result["grid"] = repo_relative(out / "grid.pt")
        result["wall_time_s"] = round(time.time() - t0, 2)   # prep + training (with its evaluations) + final analysis
        result["provenance"] = provenance()
        write_result(result_path, result)
    if keep_models:
        result["models"] = {"ema": fitted["ema_model"], "autoencoder": ae, "normalizer": normalizer,
                            "formulation": fitted["formulation"], "cache": cache}
    return result


#: held-out latents the tapped state is read out on (every evaluation and at the end)
READOUT_N = 256


def alignment_readouts(fitted: dict, readout: tuple[torch.Tensor, torch.Tensor], cfg, seed: int) -> dict:
    """The trained (EMA) model's tapped state on the held-out ``readout`` = (latents, raw target tokens): for each t
    of ``cfg.freq_ts``, RMSC and directional profile of block k's tokens and their cosine to the target
    (:func:`smlib.metrics.alignment.hidden_readout`), JSON-ready."""
    ema = copy.deepcopy(fitted["model"]).eval()               # backbone + head, then the EMA of both
    ckpt = torch.load(resolve_repo_path(fitted["checkpoint"]), map_location="cpu", weights_only=True, mmap=True)
    ema.load_state_dict(ckpt["ema"]["shadow"] if ckpt.get("ema") else ckpt["model"])
    del ckpt
    device = next(ema.parameters()).device
    x0, raw = (t.to(device) for t in readout)
    out = hidden_readout(ema, fitted["formulation"], x0, raw, cfg.freq_ts, seed=seed)
    return {str(t): {k: (v.tolist() if isinstance(v, torch.Tensor) else v) for k, v in r.items()}
            for t, r in out.items()}


__all__ = ["as_config", "LatentDiffusionTask", "num_classes_of", "task_config", "fit_latent_diffusion",
           "lab_config", "obtain_autoencoder", "run_dir", "decoder_floor", "run_variant", "alignment_readouts"]
