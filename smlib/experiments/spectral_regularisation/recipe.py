"""Chapter 8's recipe (notebook ``08_spectral_regularisation``): pixel diffusion with and without a spectral term.

    cfg    = SpectralRegConfig.at("small")
    result = run_arm("edm-ap-1", cfg, seed=0)     # CIFAR-10 -> U-ViT (DDPM or EDM) + lam w L_S -> samples -> gFID
    python -m smlib spectral-reg --preset small --arm all --seeds 0     # -> results/spectral_regularisation/small/
    torchrun --nproc_per_node 4 -m smlib spectral-reg --preset paper --arm edm-ap-1 --set init_from=ckpt.pt

Every arm shares the recipe: a seeded subset of the training images, flipped at random each step; a U-ViT on the
image itself (patch 4, 64 tokens); AdamW; EMA; the same sampler. The formulations:

* ``ddpm``: the linear-beta VP schedule (1000 steps), eps-prediction, eps-MSE; its x0_hat is the paper's Eq. 5,
  (x_t - sigma eps_hat) / alpha, with the network's gradient.
* ``edm``: EDM's preconditioned denoiser D (:class:`smlib.diffusion.edm.EDMPrecond`) trained on EDM's noise levels
  with lambda_EDM(sigma) * MSE(D, x0) (per element, where EDM sums); its x0_hat is D itself.

The spectral term is added per sample before the batch mean: lam * w(sigma) * L_S(x0, x0_hat), w = lambda_EDM at
the sample's EDM noise level sigma(t) / alpha(t) for a weighted arm, else 1. At lam = 0, or without a term, the
task never asks for x0_hat: the computation graph, and so training, is the plain one (tested bit-identical).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import torch
from torch import nn

from smlib.atomic import atomic_path
from smlib.data.latents import LatentNormalizer
from smlib.device import resolve_device
from smlib.diffusion import Formulation, make_formulation
from smlib.diffusion.edm import EDMPrecond, edm_formulation, edm_weight
from smlib.diffusion.spectral_loss import spectral_loss
# the same seeded training subset and Inception reference cache as chapter 7 (same knobs, same cache key), so the
# two chapters' pixel-diffusion scores are against one reference
from smlib.experiments.dctdiff.recipe import reference_for, training_images
from smlib.experiments.spectral_regularisation.config import ARMS, Arm, SpectralRegConfig
from smlib.metrics.generation import GenerationEvaluator
from smlib.metrics.image import to_uint8_grid
from smlib.metrics.inception import shared_inception
from smlib.models.factory import build_backbone, count_parameters
from smlib.provenance import provenance, repo_relative
from smlib.results import runs_root, write_result
from smlib.spectral.power import psd_log_error
from smlib.train import fit
from smlib.train.checkpoint import canonical_config, config_diff, load_checkpoint
from smlib.train.distributed import init_distributed
from smlib.train.logs import read_metrics

CURVE_KEYS = ("loss", "loss/base", "loss/spectral", "eval/fid", "eval/kid")


def as_config(cfg: SpectralRegConfig | str) -> SpectralRegConfig:
    """A config object as it is, or the preset of that name."""
    return SpectralRegConfig.at(cfg) if isinstance(cfg, str) else cfg


def arm_of(name: str) -> Arm:
    """The arm called ``name``; an unknown name is one line listing the known ones."""
    if name not in ARMS:
        raise ValueError(f"unknown arm {name!r}; choose one of: {', '.join(ARMS)} (or 'all').")
    return ARMS[name]


def formulation_for(arm: Arm) -> Formulation:
    """DDPM's linear-beta VP with eps-prediction, or EDM as an x0-predicting formulation on the continuous VP path."""
    return make_formulation("ddpm-linear") if arm.formulation == "ddpm" else edm_formulation("vp-continuous")


def model_for(arm: Arm, backbone: nn.Module, formulation: Formulation) -> nn.Module:
    """The network the loss and the sampler call: the backbone (DDPM) or EDM's preconditioning around it."""
    return EDMPrecond(backbone, formulation.path) if arm.formulation == "edm" else backbone


def initial_weights(backbone: nn.Module, path: str | os.PathLike) -> None:
    """Load a state_dict (or a :func:`smlib.train.fit` checkpoint, its EMA weights) into the backbone, with
    ``weights_only=True``; a file of another architecture fails in one line naming the mismatch."""
    ckpt = load_checkpoint(path)
    if "model" in ckpt and isinstance(ckpt["model"], dict):
        ckpt = ckpt["ema"]["shadow"] if ckpt.get("ema") else ckpt["model"]
    try:
        backbone.load_state_dict(ckpt)
    except RuntimeError as e:
        raise ValueError(f"{path} does not fit the configured backbone ({str(e).splitlines()[0]}); "
                         "pass a checkpoint of the same `model` spec.") from e


class PixelDecoder(nn.Module):
    """What the generation evaluator calls the decoder for pixel diffusion: samples (N, 3, H, W) -> the nearest of
    the 256 uint8 levels in [-1, 1] (the reference images' levels)."""

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        return to_uint8_grid(x.float().clamp(-1, 1), "round")


class SpectralRegTask:
    """:class:`smlib.train.Task` for pixel diffusion with an optional spectral term on x0_hat.

    Batches are ``(images, labels)``: (B, C, H, W) in [-1, 1]. Each step flips half the images (global RNG, so a
    resumed run draws the same) and returns the batch mean of base + lam w L_S, logging both parts."""

    def __init__(self, model: nn.Module, formulation: Formulation, arm: Arm, config: dict, hflip: bool = True,
                 evaluator=None):
        self.model, self.formulation, self.arm, self.config, self.hflip = model, formulation, arm, config, hflip
        self.spec = arm.spec()
        if evaluator is not None:
            self.evaluate = evaluator

    def images(self, images: torch.Tensor) -> torch.Tensor:
        if not self.hflip:
            return images.float()
        flip = torch.rand(images.shape[0], device=images.device) < 0.5
        return torch.where(flip[:, None, None, None], images.flip(-1), images).float()

    def terms(self, x0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(base loss (B,), spectral term lam w L_S (B,) or None) of a batch of clean images (B, C, H, W)."""
        per_sample, logs = self.formulation.loss(self.model, x0, None, return_x0_hat=self.arm.regularised)
        if self.arm.formulation == "edm":
            per_sample = edm_weight(self.formulation, logs["t"]) * per_sample
        if not self.arm.regularised:
            return per_sample, None
        w = edm_weight(self.formulation, logs["t"]) if self.arm.weighted else 1.0
        return per_sample, self.arm.lam * w * spectral_loss(self.spec, x0, logs["x0_hat"])

    def loss(self, batch, step: int):
        base, term = self.terms(self.images(batch[0]))
        logs = {"loss/base": base.mean().detach()}
        if term is None:
            return base.mean(), logs
        logs["loss/spectral"] = term.mean().detach()
        return (base + term).mean(), logs

    def config_dict(self) -> dict:
        return self.config


def run_dir(runs_dir, preset: str, dataset: str, arm: str, seed: int) -> Path:
    """<runs>/spectral_regularisation/<preset>/<dataset>/<arm>/seed<k>."""
    return runs_root(runs_dir) / "spectral_regularisation" / preset / dataset / arm / f"seed{seed}"


def build_run(arm_name: str, cfg: SpectralRegConfig, images: torch.Tensor, *, seed: int = 0, reference=None,
              features=None) -> SpectralRegTask:
    """The task of one arm and seed: backbone (initial weights a function of the seed, or ``cfg.init_from``),
    formulation, the model the loss calls, and with a reference and features the periodic gFID/KID evaluator
    (which keeps every final sample, for the PSD readout)."""
    arm = arm_of(arm_name)
    shape = tuple(images.shape[1:])
    torch.manual_seed(int(seed))
    backbone = build_backbone(cfg.model, shape)
    if cfg.init_from:
        initial_weights(backbone, cfg.init_from)
    formulation = formulation_for(arm)
    model = model_for(arm, backbone, formulation)
    evaluator = None
    if reference is not None and features is not None and cfg.n_fid:
        evaluator = GenerationEvaluator(PixelDecoder(), LatentNormalizer((0.0,), (1.0,)), formulation, reference,
                                        features, cfg.n_fid, shape, sampler=cfg.sampler, steps=cfg.sample_steps,
                                        seed=int(seed), kid_subset=cfg.kid_subset, rank=init_distributed().rank,
                                        keep_images=cfg.n_fid)
    config = {"arm": arm_name, "formulation": arm.formulation, "term": arm.term, "lam": arm.lam,
              "weighted": arm.weighted, "options": dict(arm.options), "model": dict(cfg.model),
              "init_from": cfg.init_from, "dataset": cfg.dataset, "n_images": cfg.n_images}
    return SpectralRegTask(model, formulation, arm, config, cfg.hflip, evaluator)


def run_arm(arm_name: str, cfg: SpectralRegConfig | str = "ci", *, seed: int = 0, data_root=None, device="auto",
            runs_dir: str | os.PathLike | None = None, features=None, max_steps_this_call: int | None = None,
            progress: bool = False, resume: bool = True) -> dict:
    """One arm and seed, trained with :func:`smlib.train.fit` (resumable, bit-exact on CPU) and scored.

    Writes ``result.json`` and ``grid.pt`` (uint8 samples) in :func:`run_dir`; a completed run of the same
    configuration is read back, not redone, and a folder holding another configuration is refused. Returns the
    result: arm, seed, parameter count, final gFID-N / KID / radial-PSD error of the samples (``final``), the
    samples' PSD against the reference ring by ring (``psd``), the loss curves (base and spectral) and gFID over
    steps (``curve``), wall times."""
    cfg = as_config(cfg)
    arm = arm_of(arm_name)
    dev = resolve_device(device)
    out = run_dir(runs_dir, cfg.preset, cfg.dataset, arm_name, seed)
    result_path = out / "result.json"
    run_config = canonical_config(cfg.run_identity())
    if result_path.is_file() and max_steps_this_call is None:
        done = json.loads(result_path.read_text())
        if config_diff(done.get("config", {}), run_config):
            raise ValueError(f"{out} holds a run of another configuration (differs in: "
                             f"{', '.join(config_diff(done['config'], run_config))}); delete it or pass --runs-dir.")
        if done.get("completed") and done.get("config_steps") == cfg.steps:
            return done
    t0 = time.time()
    images, labels = training_images(cfg, data_root)
    features = features if features is not None else (shared_inception(str(dev)) if cfg.n_fid else None)
    reference = reference_for(cfg, images, features) if features is not None else None
    task = build_run(arm_name, cfg, images, seed=seed, reference=reference, features=features)
    prep_s = time.time() - t0
    fitted = fit(task, cfg.train_config(seed=seed, device=dev, out_dir=out), (images, labels), resume=resume,
                 progress=progress, max_steps_this_call=max_steps_this_call)
    result = {"arm": arm_name, "label": arm.label, "seed": seed, "preset": cfg.preset, "dataset": cfg.dataset,
              "resolution": cfg.resolution, "formulation": arm.formulation, "term": arm.term, "lam": arm.lam,
              "weighted": arm.weighted, "num_params": count_parameters(task.model), "steps": fitted.step,
              "config_steps": cfg.steps, "completed": fitted.completed,
              "train_wall_time_s": round(fitted.wall_time_s, 2), "prep_time_s": round(prep_s, 2),
              "config": run_config}
    if fitted.completed and init_distributed().is_main:
        result["final"] = dict(fitted.metrics)
        if result["final"]:
            result["final"]["fid_label"] = f"FID-{int(result['final']['n_samples'])}"
        result["curve"] = read_metrics(fitted.metrics_csv, keys=CURVE_KEYS)
        evaluator = getattr(task, "evaluate", None)
        if evaluator is not None and evaluator.last_images is not None:
            psd = psd_log_error(evaluator.last_images, images[: cfg.n_reference])
            result["final"]["psd_error"] = psd.pop("error")
            result["psd"] = psd
            with atomic_path(out / "grid.pt") as tmp:
                grid = evaluator.last_images[: cfg.n_grid]
                torch.save(((grid + 1) * 127.5).round().clamp(0, 255).to(torch.uint8), tmp)
            result["grid"] = repo_relative(out / "grid.pt")
        result["wall_time_s"] = round(time.time() - t0, 2)
        result["provenance"] = provenance()
        write_result(result_path, result)
    return result


__all__ = ["CURVE_KEYS", "as_config", "arm_of", "formulation_for", "model_for", "initial_weights", "PixelDecoder",
           "SpectralRegTask", "run_dir", "training_images", "reference_for", "build_run", "run_arm"]
