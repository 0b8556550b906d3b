"""Chapter 7's recipe (notebook ``07_dctdiff``): one rung of the ablation ladder, trained and scored.

    cfg    = DCTdiffConfig.at("small")
    result = run_arm("ebfr", cfg, seed=0)        # images -> tokens -> U-ViT diffusion -> decoded samples -> gFID
    python -m smlib dctdiff --preset small --arm all --seeds 0 1 2     # -> results/dctdiff/small/<arm>-seed<k>.json
    torchrun --nproc_per_node 4 -m smlib dctdiff --preset paper --arm ebfr --seeds 0

Every rung shares the recipe: a seeded subset of the training images, flipped at random each step; the rung's
tokens laid out as a (D, rows, cols) grid; a U-ViT with patch size 1 and no output convolution (DCTdiff's
``libs/uvit.py``: a linear token embedding, long skips, a linear head); the VP SDE with beta(t) = 0.1 + 19.9 t and
eps-prediction; AdamW; EMA; DPM-Solver++(2M). Samples are decoded to pixels, quantised to the 256 levels of the
reference images (rounding; the released decoder truncates) and scored with gFID-N and KID against Inception
features of the training images, at fixed steps and at the end. No checkpoint is chosen by the test metric
(DCTdiff reloads its best-FID checkpoint, ``train.py`` L263-265; we do not).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import torch
from torch import nn

from smlib.atomic import atomic_path
from smlib.data import image_subset
from smlib.data.latents import LatentNormalizer
from smlib.device import resolve_device
from smlib.diffusion import Formulation, make_formulation
from smlib.experiments.dctdiff.config import ARMS, Arm, DCTdiffConfig
from smlib.metrics.generation import GenerationEvaluator
from smlib.metrics.image import to_uint8_grid
from smlib.metrics.inception import shared_inception
from smlib.metrics.reference import ReferenceSet, reference_set
from smlib.models.factory import build_backbone, count_parameters
from smlib.provenance import provenance, repo_relative
from smlib.results import runs_root, write_result
from smlib.spectral.dct_tokens import DCTTokenizer, ebfr_weights
from smlib.train import fit
from smlib.train.checkpoint import canonical_config, config_diff
from smlib.train.distributed import init_distributed
from smlib.train.logs import read_metrics


def as_config(cfg: DCTdiffConfig | str) -> DCTdiffConfig:
    """A config object as it is, or the preset of that name."""
    return DCTdiffConfig.at(cfg) if isinstance(cfg, str) else cfg


def arm_of(name: str) -> Arm:
    """The rung called ``name``; an unknown name is one line listing the known ones."""
    if name not in ARMS:
        raise ValueError(f"unknown arm {name!r}; choose one of: {', '.join(ARMS)} (or 'all').")
    return ARMS[name]


def tokenizer_for(arm: Arm, cfg: DCTdiffConfig) -> DCTTokenizer:
    """The rung's tokenizer: the config's block, truncation (DCT rungs only) and eta, the arm's stages."""
    return DCTTokenizer(block=cfg.block, keep=cfg.keep if arm.dct else None,
                        scale=arm.scale if arm.scale is not None else cfg.eta, level_shift=arm.level_shift,
                        colour=arm.colour, chroma_subsampling=arm.chroma_subsampling, dct=arm.dct)


def loss_weight(arm: Arm, cfg: DCTdiffConfig, tokenizer: DCTTokenizer) -> torch.Tensor | None:
    """EBFR weights of one token as a (1, D, 1, 1) grid weight, or None (a plain MSE)."""
    if not arm.ebfr:
        return None
    e = cfg.entropies
    w = ebfr_weights(e["y"], e["cb"], e["cr"], block=cfg.block, keep=tokenizer.coefficients)
    return w.view(1, -1, 1, 1)


def formulation_for(arm: Arm, cfg: DCTdiffConfig) -> Formulation:
    return make_formulation(cfg.formulation, snr_scale=cfg.snr_scale if arm.scaled_snr else 1.0)


class TokenGridDecoder(nn.Module):
    """What the generation evaluator calls the decoder: token grids (N, D, rows, cols) -> images (N, 3, H, W) in
    [-1, 1] on the 256 uint8 levels (clamped to ``clip`` first, as the released decoder does)."""

    def __init__(self, tokenizer: DCTTokenizer, height: int, width: int, clip: float | None, rounding: str):
        super().__init__()
        self.tokenizer, self.height, self.width, self.clip, self.rounding = tokenizer, height, width, clip, rounding

    def decode(self, grid: torch.Tensor) -> torch.Tensor:
        images = self.tokenizer.decode(self.tokenizer.from_grid(grid.float()), self.height, self.width, self.clip)
        return to_uint8_grid(images, self.rounding)


class TokenDiffusionTask:
    """:class:`smlib.train.Task` for diffusion on DCT (or pixel) tokens.

    Batches are ``(images, labels)``: (B, 3, H, W) in [-1, 1]. Each step flips half the images (global RNG, so a
    resumed run draws the same), tokenizes them into a (B, D, rows, cols) grid and takes the formulation's MSE,
    weighted per coordinate by ``weight`` (EBFR) when given.
    """

    def __init__(self, model: nn.Module, formulation: Formulation, tokenizer: DCTTokenizer, config: dict,
                 weight: torch.Tensor | None = None, hflip: bool = True, evaluator=None):
        self.model, self.formulation, self.tokenizer, self.config = model, formulation, tokenizer, config
        self.weight, self.hflip = weight, hflip
        if evaluator is not None:
            self.evaluate = evaluator

    def tokens(self, images: torch.Tensor) -> torch.Tensor:
        """Training grids (B, D, rows, cols) from a batch of images, flipped at random when ``hflip``."""
        if self.hflip:
            flip = torch.rand(images.shape[0], device=images.device) < 0.5
            images = torch.where(flip[:, None, None, None], images.flip(-1), images)
        return self.tokenizer.to_grid(self.tokenizer.encode(images.float()), *images.shape[-2:])

    def loss(self, batch, step: int):
        images, _ = batch
        grid = self.tokens(images)
        weight = None if self.weight is None else self.weight.to(grid.device)
        per_sample, _ = self.formulation.loss(self.model, grid, None, weight=weight)
        return per_sample.mean(), {}

    def config_dict(self) -> dict:
        return self.config


def run_dir(runs_dir, preset: str, dataset: str, arm: str, seed: int) -> Path:
    """<runs>/dctdiff/<preset>/<dataset>/<arm>/seed<k>."""
    return runs_root(runs_dir) / "dctdiff" / preset / dataset / arm / f"seed{seed}"


def training_images(cfg: DCTdiffConfig, data_root=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The seeded subset of the split every rung trains on: (n_images, 3, R, R) in [-1, 1], labels (n_images,)."""
    return image_subset(cfg.dataset, cfg.n_images, cfg.resolution, cfg.split, cfg.subset_seed, data_root)


def reference_for(cfg: DCTdiffConfig, images: torch.Tensor, features) -> ReferenceSet:
    """The first ``n_reference`` training images as Inception features (the one reference cache)."""
    return reference_set(cfg.dataset, cfg.split, cfg.resolution, cfg.n_reference, lambda: images[: cfg.n_reference],
                         features, subset=f"subset{cfg.subset_seed}")


def build_run(arm_name: str, cfg: DCTdiffConfig, images: torch.Tensor, *, seed: int = 0, reference=None,
              features=None) -> TokenDiffusionTask:
    """The task of one rung and seed: tokenizer, backbone (initial weights a function of the seed), formulation,
    loss weight and, with a reference and features, the periodic gFID/KID evaluator."""
    arm = arm_of(arm_name)
    tokenizer = tokenizer_for(arm, cfg)
    height, width = images.shape[-2:]
    rows, cols = tokenizer.token_grid(height, width)
    _, dim = tokenizer.token_shape(height, width)
    torch.manual_seed(int(seed))
    model = build_backbone(cfg.model, (dim, rows, cols))
    formulation = formulation_for(arm, cfg)
    evaluator = None
    if reference is not None and features is not None and cfg.n_fid:
        decoder = TokenGridDecoder(tokenizer, height, width, cfg.clip_tokens, cfg.rounding)
        evaluator = GenerationEvaluator(decoder, LatentNormalizer((0.0,), (1.0,)), formulation, reference, features,
                                        cfg.n_fid, (dim, rows, cols), sampler=cfg.sampler, steps=cfg.sample_steps,
                                        seed=int(seed), kid_subset=cfg.kid_subset, rank=init_distributed().rank)
    config = {"arm": arm_name, "tokens": [rows * cols, dim], "model": dict(cfg.model), "formulation": cfg.formulation,
              "snr_scale": cfg.snr_scale if arm.scaled_snr else 1.0, "ebfr": arm.ebfr, "block": cfg.block,
              "keep": tokenizer.keep, "scale": tokenizer.scale, "dataset": cfg.dataset, "n_images": cfg.n_images}
    return TokenDiffusionTask(model, formulation, tokenizer, config, loss_weight(arm, cfg, tokenizer), cfg.hflip,
                              evaluator)


def run_arm(arm_name: str, cfg: DCTdiffConfig | str = "ci", *, seed: int = 0, data_root=None, device="auto",
            runs_dir: str | os.PathLike | None = None, features=None, max_steps_this_call: int | None = None,
            progress: bool = False, resume: bool = True) -> dict:
    """One rung and seed, trained with :func:`smlib.train.fit` (resumable, bit-exact on CPU) and scored.

    Writes ``result.json`` and ``grid.pt`` (uint8 samples) in :func:`run_dir`; a completed run of the same
    configuration is read back, not redone, and a folder holding another configuration is refused. Returns the
    result dict: the arm, seed, token shape, parameter count, final gFID-N/KID, the curve over steps, wall times."""
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
    result = {"arm": arm_name, "label": arm.label, "seed": seed, "preset": cfg.preset, "setting": cfg.setting,
              "dataset": cfg.dataset, "resolution": cfg.resolution, "tokens": task.config["tokens"],
              "num_params": count_parameters(task.model), "steps": fitted.step, "config_steps": cfg.steps,
              "completed": fitted.completed, "train_wall_time_s": round(fitted.wall_time_s, 2),
              "prep_time_s": round(prep_s, 2), "config": run_config}
    if fitted.completed and init_distributed().is_main:
        result["final"] = dict(fitted.metrics)
        if result["final"]:
            result["final"]["fid_label"] = f"FID-{int(result['final']['n_samples'])}"
        result["curve"] = read_metrics(fitted.metrics_csv, keys=("loss", "eval/fid", "eval/kid"))
        evaluator = getattr(task, "evaluate", None)
        if evaluator is not None and evaluator.last_images is not None:
            with atomic_path(out / "grid.pt") as tmp:
                grid = evaluator.last_images[: cfg.n_grid]
                torch.save(((grid + 1) * 127.5).round().clamp(0, 255).to(torch.uint8), tmp)
            result["grid"] = repo_relative(out / "grid.pt")
        result["wall_time_s"] = round(time.time() - t0, 2)
        result["provenance"] = provenance()
        write_result(result_path, result)
    return result


__all__ = ["as_config", "arm_of", "tokenizer_for", "loss_weight", "formulation_for", "TokenGridDecoder",
           "TokenDiffusionTask", "run_dir", "training_images", "reference_for", "build_run", "run_arm"]
