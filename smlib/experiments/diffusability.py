"""Diffusability: one latent diffusion recipe trained on each autoencoder's latents, scored by generation quality.

    cache  = build_latent_cache(ae, images, ...)            # encode once, with h-flips (smlib.experiments.latents)
    result = fit_latent_diffusion(cache, cfg, out_dir, autoencoder=ae, reference=ref)   # resumable (smlib.train)
    scores = evaluate_generation(images, ref)                # FID-N and KID, N always reported

and, per autoencoder variant with everything cached under ``runs/``:

    python -m smlib diffusion --preset small --variant all --seeds 0 1      # -> results/diffusability/small.json
    torchrun --nproc_per_node 8 -m smlib diffusion --preset paper --variant dsm --seeds 0

The recipe is the same for every latent space: latents normalised by a global 1/std (the authors' CelebA export;
``norm_mode="channel"`` for REPA's per-channel mean/std), one backbone (DiT/SiT or U-ViT), one formulation, one
sampler, one budget. Generation quality is gFID-N and KID against Inception statistics of the same image files the
AE and the diffusion model were trained on (computed once, cached). The per-frequency error of the trained model
on held-out latents is compared with the Gaussian prediction S(f) / (1 + SNR_t(f)) of Prop. 3.1, computed from
the latent PSD (:mod:`smlib.theory`). Sampling and scoring live in :mod:`smlib.experiments.generation`, the
per-frequency analysis in :mod:`smlib.experiments.frequency_errors`, the reading of a sweep (seed spread, the
paper's ordering) in :mod:`smlib.experiments.diffusability_report`; this module is the recipe, the runs and the CLI.

Presets (``ci``/``small``/``paper``) are registered with :mod:`smlib.presets` as chapter ``"diffusability"``;
the paper preset has two settings (``setting="imagenet256"``: SiT-B/2 on f16d16 latents, REPA's optimisation;
``setting="celebahq256"``: U-ViT on f8d4 latents, DDPM eps-prediction).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn

from smlib import presets
from smlib.atomic import atomic_path
from smlib.device import resolve_device
from smlib.diffusion import Formulation, make_formulation
from smlib.experiments.frequency_errors import FrequencyErrors, channel_power, frequency_errors, ring_counts
from smlib.experiments.generation import (GenerationEvaluator, ReferenceSet, decode_latents, evaluate_generation,
                                          reference_set, sample_latents)
from smlib.experiments.latents import (LatentCache, LatentNormalizer, build_latent_cache, encode_images,
                                       fit_normalizer, posterior_sample)
from smlib.experiments.variants import VARIANTS as LAB_VARIANTS
from smlib.metrics.fid import frechet_distance_fast, precision_recall
from smlib.train import TrainConfig, fit, provenance, write_json
from smlib.train.checkpoint import canonical_config, config_diff
from smlib.train.distributed import barrier, init_distributed

REPO_ROOT = Path(__file__).resolve().parents[2]

#: variant -> label in tables. The names are the autoencoder lab's (smlib.experiments.variants), so a run asks the
#: lab for exactly the autoencoder chapter 4 trained; VA-VAE is left out of the default list (issue scope).
VARIANTS = {name: LAB_VARIANTS[name].label
            for name in ("sd-vae", "esm", "dsm", "scale_equivariance", "eqvae", "plain")}

# ----------------------------------------------------------------------------------------------- presets
_COMMON = dict(
    setting=None, dataset="cifar10", split="train", resolution=32, subset_seed=0, flips=True, store="moments",
    norm_mode="global", class_conditional=False, formulation="sit", formulation_kwargs={}, sampler="heun",
    sample_steps=25, cfg_scale=1.0, weight_decay=0.0, betas=(0.9, 0.999), grad_clip=1.0, warmup_steps=0,
    ae_seed=None, n_final_fid=None, n_freq=256, freq_ts=(0.1, 0.3, 0.5, 0.7, 0.9), n_grid=16, precision_recall=False,
)
PRESET_TABLE = {
    # ~2-3 min on 2 CPU cores for all six variants (AEs from the lab's ci runs): a smoke test of the pipeline
    "ci": {**_COMMON, **dict(
        ae_preset="ci", n_images=512, model=dict(arch="dit", hidden_size=64, depth=2, num_heads=4, patch_size=2),
        steps=150, batch_size=64, lr=1e-3, warmup_steps=10, ema_decay=0.98, eval_every=None, ckpt_every=None,
        log_every=10, n_fid=48, n_reference=48, kid_subset=48, variants=tuple(VARIANTS), seeds=(0,))},
    # the book's numbers: 6 AEs x 2 seeds on 2 CPU cores in ~80 min. Sized by measured costs on that CPU: a DiT
    # 128x4 step at batch 64 takes ~75 ms and Inception features ~7 images/s, so gFID uses 250 samples against
    # 1000 reference images (FID-250: biased upwards, the same N for every variant; KID is unbiased). The
    # diffusion seed varies; every seed uses the lab's seed-0 autoencoder (ae_seed=0), so the spread is the
    # diffusion model's alone. EMA 0.995: a 200-step horizon, so the step-1000 evaluation is not the init.
    "small": {**_COMMON, **dict(
        ae_preset="small", ae_seed=0, n_images=10000,
        model=dict(arch="dit", hidden_size=128, depth=4, num_heads=4, patch_size=2),
        steps=3000, batch_size=64, lr=5e-4, warmup_steps=100, ema_decay=0.995, eval_every=1000, ckpt_every=250,
        log_every=50, n_fid=250, n_reference=1000, kid_subset=250, n_freq=512, variants=tuple(VARIANTS),
        seeds=(0, 1))},
    # the authors' ImageNet protocol as far as the notes allow: SiT-B/2 on f16d16 latents with REPA's optimiser
    # (batch 256, AdamW 1e-4, wd 0, clip 1, EMA 0.9999, 400k steps, cfg-dropout 0.1, SDE 250 steps, FID-50k)
    "paper": {**_COMMON, **dict(
        setting="imagenet256", ae_preset="paper", dataset="folder", resolution=256, n_images=1281167, store="moments",
        norm_mode="channel", class_conditional=True, num_classes=1000,
        model=dict(arch="dit", name="B/2", class_dropout_prob=0.1), formulation="sit", sampler="sde",
        sample_steps=250, steps=400000, batch_size=256, lr=1e-4, warmup_steps=0, ema_decay=0.9999,
        eval_every=100000, ckpt_every=10000, log_every=100, n_fid=10000, n_reference=50000, kid_subset=1000,
        n_final_fid=50000, n_freq=1024, variants=("sd-vae", "dsm"), seeds=(0,))},
}
#: overrides of the paper preset for its second setting (notes §1.4: CelebA-HQ 256 with U-ViT, 4 GPUs)
PAPER_SETTINGS = {
    "imagenet256": {},
    "celebahq256": dict(
        dataset="folder", n_images=30000, norm_mode="global", class_conditional=False, num_classes=0,
        model=dict(arch="uvit", name="M/2"), formulation="ddpm-linear", sampler="ddim", sample_steps=50,
        steps=500000, batch_size=256, lr=2e-4, weight_decay=0.03, betas=(0.99, 0.99), warmup_steps=5000,
        eval_every=50000, n_fid=10000, n_reference=30000, n_final_fid=50000,
        variants=tuple(VARIANTS)),
}
presets.register("diffusability", PRESET_TABLE)


def resolve_config(preset: str = "ci", **overrides) -> SimpleNamespace:
    """The knobs of ``preset`` (then the paper ``setting``, then non-None ``overrides``), as a namespace."""
    cfg = vars(presets.resolve("diffusability", preset))
    setting = overrides.get("setting") or cfg.get("setting")
    if setting is not None:
        if setting not in PAPER_SETTINGS:
            raise ValueError(f"unknown setting {setting!r}; choose one of: {', '.join(PAPER_SETTINGS)}.")
        cfg.update(PAPER_SETTINGS[setting])
    cfg.update({k: v for k, v in overrides.items() if v is not None})
    cfg["setting"] = setting
    return SimpleNamespace(**cfg)


def _ns(cfg) -> SimpleNamespace:
    return cfg if isinstance(cfg, SimpleNamespace) else SimpleNamespace(**cfg)


# ----------------------------------------------------------------------------------------------- models
def build_model(spec: dict, latent_shape: tuple[int, int, int], num_classes: int = 0) -> nn.Module:
    """A diffusion backbone on latents (d, h, h).

    spec: ``{"arch": "dit" | "uvit", "name": "B/2"}`` (a named size of :func:`smlib.models.dit.build_dit` /
    :func:`smlib.models.uvit.build_uvit`) or explicit ``hidden_size``, ``depth``, ``num_heads``, ``patch_size``;
    other keys (``class_dropout_prob``, ``learn_sigma``, ...) go to the constructor."""
    from smlib.models.dit import DiT, build_dit
    from smlib.models.uvit import UViT, build_uvit

    spec = dict(spec)
    arch = spec.pop("arch", "dit")
    if arch not in ("dit", "uvit"):
        raise ValueError(f"model arch must be 'dit' or 'uvit', got {arch!r}.")
    d, h, w = latent_shape
    if h != w:
        raise ValueError(f"latents must be square, got {h}x{w}.")
    kw = dict(input_size=h, in_channels=d, num_classes=num_classes, **spec)
    name = kw.pop("name", None)
    if name is not None:
        return (build_dit if arch == "dit" else build_uvit)(name, **kw)
    return (DiT if arch == "dit" else UViT)(**kw)


def count_parameters(model: nn.Module) -> int:
    """Number of parameters."""
    return sum(p.numel() for p in model.parameters())


# ----------------------------------------------------------------------------------------------- the task
class LatentDiffusionTask:
    """:class:`smlib.train.Task` for diffusion on cached latents.

    Batches are ``(data, labels)`` rows of a :class:`LatentCache`: posterior moments (B, 2d, h, w) or samples
    (B, d, h, w). Each step draws z from the posterior (global RNG, so a resumed run draws the same), normalises it
    and takes the formulation's MSE. ``evaluate`` (optional) is a callable ``(model, step) -> dict``.
    """

    def __init__(self, model: nn.Module, formulation: Formulation, normalizer: LatentNormalizer, store: str,
                 config: dict, class_conditional: bool = False, evaluator=None):
        self.model, self.formulation, self.normalizer = model, formulation, normalizer
        self.store, self.config, self.class_conditional = store, config, class_conditional
        self.evaluator = evaluator
        if evaluator is not None:
            self.evaluate = evaluator

    def latents(self, data: torch.Tensor) -> torch.Tensor:
        """Normalised training latents u (B, d, h, w) from a batch of cache rows."""
        z = posterior_sample(data.float()) if self.store == "moments" else data.float()
        return self.normalizer.normalize(z)

    def loss(self, batch, step: int):
        data, labels = batch
        u = self.latents(data)
        cond = labels.long() if self.class_conditional else None
        per_sample, _ = self.formulation.loss(self.model, u, cond)
        return per_sample.mean(), {}

    def config_dict(self) -> dict:
        return self.config

    def setup(self, device) -> None:
        if self.evaluator is not None and hasattr(self.evaluator, "to"):
            self.evaluator.to(device)


# ----------------------------------------------------------------------------------------------- one run
def _train_config(cfg: SimpleNamespace, out_dir, device, seed) -> TrainConfig:
    return TrainConfig(steps=int(cfg.steps), batch_size=int(cfg.batch_size), lr=float(cfg.lr),
                       weight_decay=float(cfg.weight_decay), betas=tuple(cfg.betas),
                       warmup_steps=int(cfg.warmup_steps), grad_clip=cfg.grad_clip, ema_decay=cfg.ema_decay,
                       eval_every=cfg.eval_every, ckpt_every=cfg.ckpt_every, log_every=int(cfg.log_every),
                       seed=int(seed), device=str(device), out_dir=str(out_dir))


def num_classes_of(cfg: SimpleNamespace, cache: LatentCache) -> int:
    """0 for an unconditional run; else ``cfg.num_classes`` or 1 + the largest label in the cache."""
    if not cfg.class_conditional:
        return 0
    n = int(getattr(cfg, "num_classes", 0) or (int(cache.labels.max()) + 1))
    if n <= 0 or int(cache.labels.min()) < 0:
        raise ValueError("class_conditional=True but the dataset has no labels (label -1); set "
                         "class_conditional=False or use a labelled dataset.")
    return n


def task_config(cfg: SimpleNamespace, cache: LatentCache, normalizer: LatentNormalizer, num_classes: int) -> dict:
    """What defines the model and its data (saved in checkpoints; resuming under another one is refused)."""
    return {"latent_cache": cache.key, "latent_shape": list(cache.latent_shape), "store": cache.store,
            "normalizer": normalizer.to_dict(), "model": dict(cfg.model), "num_classes": num_classes,
            "formulation": cfg.formulation, "formulation_kwargs": dict(cfg.formulation_kwargs)}


def fit_latent_diffusion(cache: LatentCache, cfg, out_dir, *, device: str = "auto", seed: int = 0,
                         autoencoder: nn.Module | None = None, reference: ReferenceSet | None = None, features=None,
                         normalizer: LatentNormalizer | None = None, resume: bool = True,
                         max_steps_this_call: int | None = None, progress: bool = False, callback=None) -> dict:
    """Train the diffusion backbone on a latent cache with :func:`smlib.train.fit` (resumable, bit-exact on CPU).

    cfg: a :func:`resolve_config` namespace (or dict). With ``autoencoder``, ``reference`` and ``features`` the run
    scores gFID-N/KID (N = ``cfg.n_fid``) every ``cfg.eval_every`` steps and at the end (written to metrics.csv as
    ``eval/fid`` ...). ``normalizer`` defaults to :func:`fit_normalizer` (``cfg.norm_mode``) on the cache.
    Returns a dict: out_dir, checkpoint, step, completed, wall_time_s, normalizer, num_params, final ``metrics``,
    and the ``model``/``ema_model``/``formulation`` objects (for sampling and frequency analysis).
    """
    cfg = _ns(cfg)
    out_dir = Path(out_dir)
    normalizer = normalizer or fit_normalizer(cache, cfg.norm_mode, seed=0)
    num_classes = num_classes_of(cfg, cache)
    torch.manual_seed(int(seed))  # the initial weights are a function of the seed
    model = build_model(cfg.model, cache.latent_shape, num_classes)
    formulation = make_formulation(cfg.formulation, **dict(cfg.formulation_kwargs))
    info = init_distributed()
    evaluator = None
    if autoencoder is not None and reference is not None and features is not None and cfg.n_fid:
        evaluator = GenerationEvaluator(autoencoder, normalizer, formulation, reference, features, cfg.n_fid,
                                        cache.latent_shape, sampler=cfg.sampler, steps=cfg.sample_steps,
                                        seed=int(seed), num_classes=num_classes, cfg_scale=cfg.cfg_scale,
                                        kid_subset=cfg.kid_subset, with_precision_recall=cfg.precision_recall,
                                        rank=info.rank)
    task = LatentDiffusionTask(model, formulation, normalizer, cache.store,
                               task_config(cfg, cache, normalizer, num_classes), num_classes > 0, evaluator)
    result = fit(task, _train_config(cfg, out_dir, device, seed), (cache.data, cache.labels), resume=resume,
                 progress=progress, max_steps_this_call=max_steps_this_call, callback=callback)
    ema_model = build_model(cfg.model, cache.latent_shape, num_classes)
    ckpt = torch.load(result.checkpoint, map_location="cpu", weights_only=True, mmap=True)  # reads only the EMA
    ema_model.load_state_dict(ckpt["ema"]["shadow"] if ckpt.get("ema") else ckpt["model"])
    del ckpt
    ema_model.to(next(model.parameters()).device).eval()
    return {"out_dir": str(out_dir), "checkpoint": str(result.checkpoint), "step": result.step,
            "completed": result.completed, "wall_time_s": result.wall_time_s, "normalizer": normalizer.to_dict(),
            "num_params": count_parameters(model), "num_classes": num_classes, "metrics": result.metrics,
            "train_logs": result.train_logs, "metrics_csv": str(result.metrics_csv), "model": model,
            "ema_model": ema_model, "formulation": formulation, "evaluator": evaluator}


def read_curve(metrics_csv, keys=("loss", "eval/fid", "eval/kid")) -> dict[str, list[tuple[int, float]]]:
    """{key: [(step, value), ...]} from a run's long-format metrics.csv."""
    out: dict[str, list] = {k: [] for k in keys}
    if not Path(metrics_csv).is_file():
        return out
    with open(metrics_csv, newline="") as f:
        for row in csv.DictReader(f):
            if row["key"] in out:
                out[row["key"]].append((int(row["step"]), float(row["value"])))
    return out


# ----------------------------------------------------------------------------------------------- data and AEs
def load_subset(dataset: str, n: int, resolution: int, split: str = "train", subset_seed: int = 0,
                root=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The same seeded random subset as :func:`smlib.data.image_batch` (randperm of the split), with labels:
    -> images (n, 3, R, R) in [-1, 1], labels (n,) long (-1 where the dataset has none)."""
    from smlib.data import load_dataset

    ds = load_dataset(dataset, split=split, resolution=resolution, root=root)
    if not 1 <= n <= len(ds):
        raise ValueError(f"asked for n={n} images but {dataset} {split} has {len(ds)}; lower n_images.")
    idx = torch.randperm(len(ds), generator=torch.Generator().manual_seed(int(subset_seed)))[:n]
    items = [ds[int(i)] for i in idx]
    return torch.stack([x for x, _ in items]), torch.tensor([int(y) for _, y in items], dtype=torch.long)


def obtain_autoencoder(variant: str, cfg: SimpleNamespace, *, dataset: str, data_root, device, seed: int,
                       checkpoint=None):
    """(autoencoder in eval mode, path of its weights file, info dict) for a variant.

    An explicit ``checkpoint`` (a lab run folder, or its ``result.json``) wins; otherwise the lab recipe
    :func:`smlib.experiments.autoencoders.fit_autoencoder` at ``cfg.ae_preset`` trains the variant or reuses the
    finished run under ``runs/autoencoders/``. There is no substitute: an unknown variant is an error."""
    from smlib.experiments import autoencoders as lab

    if checkpoint is not None:
        path = Path(checkpoint)
        result_file = path / "result.json" if path.is_dir() else path
        if not result_file.is_file() or result_file.suffix != ".json":
            raise FileNotFoundError(f"--autoencoder {checkpoint}: expected a lab run folder holding result.json "
                                    f"(runs/autoencoders/<preset>/<variant>-<key>) or that result.json.")
        res, source = json.loads(result_file.read_text()), str(checkpoint)
    else:
        res = lab.fit_autoencoder(variant, preset=cfg.ae_preset, dataset=dataset, data_root=data_root, device=device,
                                  seed=seed)
        source = "smlib.experiments.autoencoders"
    info = {k: v for k, v in res.items() if isinstance(v, (str, int, float, bool))}
    info.update(variant=variant, source=source, checkpoint=str(res["checkpoint"]))
    return lab.load_autoencoder(res), str(res["checkpoint"]), info


# ----------------------------------------------------------------------------------------------- variant runs
def run_dir(runs_dir, preset: str, dataset: str, variant: str, seed: int) -> Path:
    """runs/diffusability/<preset>/<dataset>/<variant>/seed<k>."""
    return Path(runs_dir) / "diffusability" / preset / dataset / variant / f"seed{seed}"


def _features(device):
    from smlib.metrics import InceptionFeatures

    return InceptionFeatures(device)


def _reference(cfg: SimpleNamespace, images: torch.Tensor, features, runs_dir: Path) -> ReferenceSet:
    """The first ``n_reference`` training images of the subset, as Inception features (cached in runs/fid_refs)."""
    return reference_set(cfg.dataset, cfg.split, cfg.resolution, cfg.n_reference, lambda: images[: cfg.n_reference],
                         features, runs_dir / "fid_refs", cfg.subset_seed)


def decoder_floor(variant: str, preset: str = "ci", *, seed: int = 0, dataset: str | None = None, data_root=None,
                  device: str = "auto", runs_dir=None, autoencoder_checkpoint=None, features=None,
                  **overrides) -> dict:
    """gFID-N and KID of the autoencoder's own reconstructions, scored exactly like the diffusion samples.

    N = ``n_fid`` training images that are not in the reference set (``images[n_reference : n_reference + N]``)
    are encoded, one posterior sample each is drawn (seeded) and decoded. A diffusion model that matched the
    latent distribution perfectly would score about this, so ``gFID - floor`` is the part of the gFID that the
    diffusion model, not the decoder, is responsible for. Cached as ``floor-ae<k>.json`` beside the variant's
    seed folders (k = the autoencoder's seed), keyed by the configuration."""
    cfg = resolve_config(preset, dataset=dataset, **overrides)
    ae_seed = seed if cfg.ae_seed is None else int(cfg.ae_seed)
    runs_dir = Path(runs_dir) if runs_dir is not None else REPO_ROOT / "runs"
    path = run_dir(runs_dir, preset, cfg.dataset, variant, seed).parent / f"floor-ae{ae_seed}.json"
    key = canonical_config({"n_images": cfg.n_images, "n_reference": cfg.n_reference, "n_fid": cfg.n_fid,
                            "kid_subset": cfg.kid_subset, "subset_seed": cfg.subset_seed, "ae_preset": cfg.ae_preset,
                            "resolution": cfg.resolution, "autoencoder": str(autoencoder_checkpoint)})
    if path.is_file():
        done = json.loads(path.read_text())
        if done.get("config") == key:
            return done
    if cfg.n_images < cfg.n_reference + cfg.n_fid:
        raise ValueError(f"the decoder floor needs n_images >= n_reference + n_fid ({cfg.n_reference} + "
                         f"{cfg.n_fid}), got {cfg.n_images}.")
    t0 = time.time()
    dev = resolve_device(device)
    images, _ = load_subset(cfg.dataset, cfg.n_images, cfg.resolution, cfg.split, cfg.subset_seed, data_root)
    ae, _, _ = obtain_autoencoder(variant, cfg, dataset=cfg.dataset, data_root=data_root, device=dev, seed=ae_seed,
                                  checkpoint=autoencoder_checkpoint)
    features = features if features is not None else _features(dev)
    reference = _reference(cfg, images, features, runs_dir)
    held_out = images[cfg.n_reference: cfg.n_reference + cfg.n_fid]
    moments = encode_images(ae.to(dev), [held_out], flips=False, device=dev)[0]
    z = posterior_sample(moments, torch.Generator().manual_seed(int(seed)))
    recon = decode_latents(ae, z, LatentNormalizer((0.0,), (1.0,)))
    scores = evaluate_generation(recon, reference, features, kid_subset=cfg.kid_subset, seed=int(seed))
    out = {"variant": variant, "ae_seed": ae_seed, "config": key, **scores,
           "wall_time_s": round(time.time() - t0, 2), "provenance": provenance()}
    write_json(path, out)
    return out


def run_variant(variant: str, preset: str = "ci", *, dataset: str | None = None, data_root=None,
                device: str = "auto", seed: int = 0, runs_dir: str | os.PathLike | None = None,
                autoencoder_checkpoint=None, features=None, max_steps_this_call: int | None = None,
                progress: bool = False, keep_models: bool = False, **overrides) -> dict:
    """The whole diffusability pipeline for one autoencoder variant and seed, cached and resumable.

    AE (lab recipe, cached) -> latent cache of ``n_images`` training images + flips -> normalisation ->
    diffusion training with periodic gFID-N/KID -> final gFID-N/KID, sample grid, per-frequency error on held-out
    (test split) latents. Writes ``result.json`` and ``grid.pt`` in :func:`run_dir`; a completed run is loaded,
    not redone. Returns the result dict (plus ``models`` when ``keep_models``)."""
    cfg = resolve_config(preset, dataset=dataset, **overrides)
    dev = resolve_device(device)
    runs_dir = Path(runs_dir) if runs_dir is not None else REPO_ROOT / "runs"
    out = run_dir(runs_dir, preset, cfg.dataset, variant, seed)
    result_path = out / "result.json"
    # what determines this run's result; the step count is left out, so a longer --steps continues a finished run
    run_config = canonical_config({k: v for k, v in vars(cfg).items() if k not in ("steps", "variants", "seeds")})
    if result_path.is_file() and not keep_models and max_steps_this_call is None:
        done = json.loads(result_path.read_text())
        if "config" in done and config_diff(done["config"], run_config):   # never hand back another recipe's run
            raise ValueError(f"{out} holds a run of another configuration (differs in: "
                             f"{', '.join(config_diff(done['config'], run_config))}); delete it or pass --runs-dir.")
        if done.get("completed") and done.get("config_steps") == cfg.steps:
            return done
    info = init_distributed()
    t0 = time.time()
    images, labels = load_subset(cfg.dataset, cfg.n_images, cfg.resolution, cfg.split, cfg.subset_seed, data_root)
    ae_seed = seed if cfg.ae_seed is None else int(cfg.ae_seed)
    ae, ae_ckpt, ae_info = obtain_autoencoder(variant, cfg, dataset=cfg.dataset, data_root=data_root, device=dev,
                                              seed=ae_seed, checkpoint=autoencoder_checkpoint)
    ae.to(dev).requires_grad_(False)
    cache_dir = runs_dir / "latents"
    common = dict(cache_dir=cache_dir, dataset=cfg.dataset, resolution=cfg.resolution, subset_seed=cfg.subset_seed,
                  ae_checkpoint=ae_ckpt, device=dev, extra_meta={"variant": variant})
    if info.is_main:
        cache = build_latent_cache(ae, images, labels, split=cfg.split, flips=cfg.flips, store=cfg.store, **common)
    barrier()
    if not info.is_main:
        cache = build_latent_cache(ae, images, labels, split=cfg.split, flips=cfg.flips, store=cfg.store, **common)
    test_images, test_labels = load_subset(cfg.dataset, cfg.n_freq, cfg.resolution, "test", cfg.subset_seed,
                                           data_root) if cfg.dataset != "folder" else (images[: cfg.n_freq],
                                                                                       labels[: cfg.n_freq])
    test_cache = build_latent_cache(ae, test_images, test_labels, split="test", flips=False, store="moments",
                                    **common)
    features = features if features is not None else (_features(dev) if cfg.n_fid else None)
    reference = _reference(cfg, images, features, runs_dir) if features is not None else None
    prep_s = time.time() - t0
    normalizer = fit_normalizer(cache, cfg.norm_mode, seed=0)
    fitted = fit_latent_diffusion(cache, cfg, out, device=dev, seed=seed, autoencoder=ae, reference=reference,
                                  features=features, normalizer=normalizer, max_steps_this_call=max_steps_this_call,
                                  progress=progress)
    result = {"variant": variant, "label": VARIANTS.get(variant, variant), "seed": seed, "ae_seed": ae_seed,
              "preset": preset, "setting": cfg.setting, "dataset": cfg.dataset, "resolution": cfg.resolution,
              "n_images": cfg.n_images, "latent_shape": list(cache.latent_shape), "latent_cache": cache.key,
              "autoencoder": ae_info, "normalizer": fitted["normalizer"], "num_params": fitted["num_params"],
              "steps": fitted["step"], "config_steps": cfg.steps, "completed": fitted["completed"],
              "train_wall_time_s": round(fitted["wall_time_s"], 2), "prep_time_s": round(prep_s, 2),
              "model": dict(cfg.model), "formulation": cfg.formulation, "sampler": cfg.sampler,
              "sample_steps": cfg.sample_steps, "batch_size": cfg.batch_size, "lr": cfg.lr, "config": run_config}
    if fitted["completed"] and info.is_main:
        ema = fitted["ema_model"]
        # posterior draws, like the training data the model learned (the means lack the posterior noise)
        test_u = normalizer.normalize(test_cache.sample(generator=torch.Generator().manual_seed(2)))
        train_u = normalizer.normalize(cache.sample(torch.arange(min(len(cache), 4096)),
                                                    torch.Generator().manual_seed(1)))
        y = test_cache.labels if fitted["num_classes"] else None
        freq = frequency_errors(ema, fitted["formulation"], test_u, train_u, cfg.freq_ts, seed=seed, labels=y)
        result["frequency"] = freq.to_dict()
        result["frequency_summary"] = freq.summary()
        result["final"] = dict(fitted["metrics"])
        evaluator = fitted["evaluator"]
        n_final = int(cfg.n_final_fid or 0)
        if evaluator is not None and n_final > evaluator.n:  # the paper's FID-50k, once, after training
            result["final_during_training"] = result["final"]
            result["final"] = evaluator(ema, fitted["step"], n=n_final)
        if result["final"]:
            result["final"]["fid_label"] = f"FID-{int(result['final']['n_samples'])}"
        curve = read_curve(fitted["metrics_csv"])
        result["curve"] = {k: v for k, v in curve.items()}
        grid = evaluator.last_images[: cfg.n_grid] if evaluator is not None and evaluator.last_images is not None \
            else decode_latents(ae, sample_latents(ema, fitted["formulation"], cfg.n_grid, cache.latent_shape,
                                                   sampler=cfg.sampler, steps=cfg.sample_steps, seed=seed),
                                normalizer)
        with atomic_path(out / "grid.pt") as tmp:
            torch.save(((grid + 1) * 127.5).round().clamp(0, 255).to(torch.uint8), tmp)
        result["grid"] = str(out / "grid.pt")
        result["wall_time_s"] = round(time.time() - t0, 2)   # prep + training (with its evaluations) + final analysis
        result["provenance"] = provenance()
        write_json(result_path, result)
    if keep_models:
        result["models"] = {"ema": fitted["ema_model"], "autoencoder": ae, "normalizer": normalizer,
                            "formulation": fitted["formulation"], "cache": cache}
    return result


# ----------------------------------------------------------------------------------------------- sweeps
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


def run_sweep(preset: str = "small", variants=None, seeds=None, *, results_path=None, **kwargs) -> dict:
    """Every (variant, seed) with :func:`run_variant` (each cached/resumable) and each variant's
    :func:`decoder_floor`, then one results file with per-run rows, the floors, the per-variant table and
    provenance, rewritten after each run (an interrupted sweep keeps what it finished). Returns the file's content."""
    cfg = resolve_config(preset, dataset=kwargs.get("dataset"), setting=kwargs.get("setting"))
    variants = list(variants or cfg.variants)
    seeds = list(cfg.seeds if seeds is None else seeds)
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise KeyError(f"unknown variant(s) {unknown}; choose from {', '.join(VARIANTS)} or 'all'.")
    results_path = Path(results_path) if results_path else REPO_ROOT / "results" / "diffusability" / f"{preset}.json"
    rows, floors, t0 = [], {}, time.time()
    info = init_distributed()
    floor_kwargs = {k: v for k, v in kwargs.items() if k not in ("max_steps_this_call", "progress", "keep_models")}
    n_fid = kwargs["n_fid"] if kwargs.get("n_fid") is not None else cfg.n_fid
    for v in variants:
        for s in seeds:
            r = run_variant(v, preset, seed=s, **kwargs)
            r.pop("models", None)
            rows.append(r)
            if info.is_main and all(x.get("completed") for x in rows):
                _write_results(results_path, preset, cfg, rows, variants, seeds, time.time() - t0, floors)
        if info.is_main and n_fid and all(x.get("completed") for x in rows):
            floors[v] = decoder_floor(v, preset, seed=seeds[0], **floor_kwargs)
            _write_results(results_path, preset, cfg, rows, variants, seeds, time.time() - t0, floors)
    return json.loads(results_path.read_text()) if results_path.is_file() else {"runs": rows}


def _write_results(path: Path, preset, cfg, rows, variants, seeds, wall, floors=None) -> None:
    write_json(path, {"chapter": "diffusability", "preset": preset, "setting": cfg.setting, "dataset": cfg.dataset,
                      "variants_planned": variants, "seeds_planned": seeds,
                      "complete": len(rows) == len(variants) * len(seeds),
                      "table": aggregate(rows, floors), "runs": rows, "floors": floors or {},
                      # the runs' own times, so re-running a finished sweep (which reads the runs back) keeps them
                      "sweep_wall_time_s": round(sum(_run_time(r) for r in rows), 1),
                      "this_call_wall_time_s": round(wall, 1), "provenance": provenance()})
    write_grids(path, rows)


def _run_time(row: dict) -> float:
    """Seconds one run took when it was computed (runs written before ``wall_time_s`` existed: prep + train)."""
    return float(row.get("wall_time_s") or row.get("prep_time_s", 0.0) + row.get("train_wall_time_s", 0.0))


def grids_path(results_path) -> Path:
    """Where the sample grids of a results file live: ``<stem>_grids.json`` beside it."""
    results_path = Path(results_path)
    return results_path.with_name(results_path.stem + "_grids.json")


def write_grids(results_path, rows: list[dict]) -> Path:
    """The sample grid of every run (``grid.pt`` in its run folder, uint8) packed into one small JSON file beside
    the results (:func:`grids_path`), so the book shows samples without the run folders. Keys ``<variant>/seed<k>``;
    read back with :func:`smlib.experiments.autoencoders.unpack_uint8`."""
    from smlib.experiments.autoencoders import pack_uint8

    grids = {}
    for r in rows:
        if r.get("grid") and Path(r["grid"]).is_file():
            u8 = torch.load(r["grid"], weights_only=True)                     # (n, 3, H, W) uint8
            grids[f"{r['variant']}/seed{r['seed']}"] = pack_uint8(u8)
    return write_json(grids_path(results_path), grids)


def load_results(preset: str = "small", path=None) -> dict | None:
    """The committed results/diffusability/<preset>.json, or None when it does not exist yet."""
    path = Path(path) if path else REPO_ROOT / "results" / "diffusability" / f"{preset}.json"
    return json.loads(path.read_text()) if path.is_file() else None


# ----------------------------------------------------------------------------------------------- CLI
def cli(argv: list[str] | None = None) -> None:
    """``python -m smlib diffusion [--preset small] [--variant all|sd-vae ...] [--seeds 0 1] ...`` (also under
    torchrun). Every stage is cached/resumable: re-running the same command continues where it stopped."""
    p = argparse.ArgumentParser(prog="python -m smlib diffusion", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="ci", choices=presets.PRESET_NAMES)
    p.add_argument("--setting", default=None, choices=tuple(PAPER_SETTINGS), help="paper preset: which protocol")
    p.add_argument("--variant", nargs="+", default=["all"], help=f"'all' or some of: {', '.join(VARIANTS)}")
    p.add_argument("--seeds", nargs="+", type=int, default=None)
    p.add_argument("--dataset", default=None)
    p.add_argument("--data-root", default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--runs-dir", default=None, help="caches and checkpoints (default: <repo>/runs)")
    p.add_argument("--results", default=None, help="results JSON (default: results/diffusability/<preset>.json)")
    p.add_argument("--autoencoder", default=None, help="a lab run folder (runs/autoencoders/...) to use instead of training (1 variant)")
    p.add_argument("--steps", type=int, default=None, help="override the preset's training steps")
    p.add_argument("--n-fid", type=int, default=None, help="override the number of samples for gFID-N")
    p.add_argument("--max-steps-this-call", type=int, default=None, help="stop after this many steps (resumable)")
    p.add_argument("--progress", action="store_true")
    a = p.parse_args(argv)
    variants = list(VARIANTS) if a.variant == ["all"] else a.variant
    if a.autoencoder and len(variants) != 1:
        p.error("--autoencoder needs exactly one --variant (its name labels the results).")
    kw = dict(dataset=a.dataset, data_root=a.data_root, device=a.device, runs_dir=a.runs_dir, setting=a.setting,
              steps=a.steps, n_fid=a.n_fid, autoencoder_checkpoint=a.autoencoder,
              max_steps_this_call=a.max_steps_this_call, progress=a.progress)
    try:
        out = run_sweep(a.preset, variants, a.seeds, results_path=a.results, **kw)
    except (ValueError, KeyError, FileNotFoundError) as err:  # bad input: one line, no traceback
        sys.exit(f"error: {err}")
    if init_distributed().is_main:
        for v, e in out.get("table", {}).items():
            std = e["fid"]["std"]
            print(f"{e['label']:20s} {e['fid_label']} = {e['fid']['mean']:.2f}"
                  + (f" +- {std:.2f}" if std is not None else "") + f"  (seeds {e['seeds']})")


__all__ = ["VARIANTS", "PRESET_TABLE", "PAPER_SETTINGS", "resolve_config", "build_model", "count_parameters",
           "LatentDiffusionTask", "fit_latent_diffusion", "read_curve", "load_subset", "obtain_autoencoder",
           "run_dir", "decoder_floor", "run_variant", "run_sweep", "aggregate", "load_results", "grids_path", "write_grids", "cli",
           # re-exported from the modules they live in, for one import in notebooks and tests
           "sample_latents", "decode_latents", "ReferenceSet", "reference_set", "evaluate_generation",
           "GenerationEvaluator", "FrequencyErrors", "frequency_errors", "channel_power", "ring_counts",
           "frechet_distance_fast", "precision_recall"]
