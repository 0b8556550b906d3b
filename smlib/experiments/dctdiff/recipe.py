"""Chapter 7's recipe (notebook ``07_dctdiff``): one rung of the ablation ladder, trained and scored; the sweep of
them and its declared comparisons.

    cfg    = DCTdiffConfig.at("small")
    result = run_arm("ebfr", 0, cfg, RunContext())   # images -> tokens -> U-ViT -> decoded samples -> gFID
    SWEEP.run(cfg, RunContext())                     # results/dctdiff/small/<arm>-seed<k>.json
    python -m smlib dctdiff --preset small --arm all --seeds 0 1 2 3 4
    torchrun --nproc_per_node 4 -m smlib dctdiff --preset paper --arm ebfr --seeds 0

Every rung shares the recipe: a seeded subset of the training images, flipped at random each step; the rung's
tokens laid out as a (D, rows, cols) grid; a U-ViT with patch size 1 and no output convolution (DCTdiff's
``libs/uvit.py``: a linear token embedding, long skips, a linear head); the VP SDE with beta(t) = 0.1 + 19.9 t and
eps-prediction; AdamW; EMA; DPM-Solver++(2M). Samples are decoded to pixels, quantised to the 256 levels of the
reference images (rounding; the released decoder truncates) and scored with gFID-N and KID against Inception
features of the training images, at fixed steps and at the end (:mod:`smlib.pipelines.pixel_diffusion`). No
checkpoint is chosen by the test metric (DCTdiff reloads its best-FID checkpoint, ``train.py`` L263-265; we do not).

**What was declared, and when** (as git shows it; the chapter's ``declared.toml``). The first ladder's pairs
(:data:`FIRST_SWEEP`, CIFAR-10 at 32 px, archived in ``results/dctdiff/small-v1``) were committed with the chapter's
recipe in a75503b (2026-12-03 18:20), before any of its runs (the first at 2026-12-04 01:43): each rung against the
one below it, so that a change in the result is charged to the one thing the rung adds, and DCTdiff as released
against the pixel baseline. Its generators had not learned CIFAR-10 (gFID-250 350-480 after 1,500 steps). The
re-run's (:data:`SWEEP`, :data:`DECLARED`, CIFAR-10 at 16 px) were committed on 2026-12-07 before its learning
curves and its runs, and its learning bar after the curves and before the runs: DCTdiff as released against pixel
diffusion at the same token count, on the final gFID and on gFID averaged over the learning curve (the paper's two
claims: its CIFAR-10 table, 5.28 against 5.80 FID at 100 NFE, and faster convergence on FFHQ-128, both read
second-hand), and the rungs between them as a secondary family. Where a rung's direction comes from:

* ycbcr420 < pixel: our inference. At 32 px the JPEG training images are already 4:2:0, so halving the chroma
  removes dimensions that carry almost nothing (at 16 px, after downsampling, a little more).
* dct < ycbcr420: our inference, with no difference expected: an orthonormal 2x2 DCT is a rotation of each block,
  which a linear token embedding can absorb.
* eta < dct, snr2 < eta, ebfr < snr2: our inference, in the direction DCTdiff adds them; eta lowers the SNR of
  every coordinate (0.34x pixel space after c = 2), c = 2 raises it back twofold.

Lower gFID is better; the tests are two-sided.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from torch import nn

from smlib.data.latents import LatentNormalizer
from smlib.diffusion import Formulation, make_formulation
from smlib.experiments.dctdiff.config import ARMS, Arm, DCTdiffConfig
from smlib.learning_bar import load_bars
from smlib.metrics.generation import GenerationEvaluator
from smlib.metrics.image import to_uint8_grid
from smlib.models.factory import build_backbone
from smlib.pipelines import pixel_diffusion
from smlib.results import RunContext, runs_root
from smlib.spectral.dct_tokens import DCTTokenizer, ebfr_weights
from smlib.sweep import Metric, Sweep, curve_mean, final, load_families
from smlib.train.distributed import init_distributed


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


def run_arm(arm_name: str, seed: int, cfg: DCTdiffConfig, ctx: RunContext) -> dict:
    """One rung and seed through :func:`smlib.pipelines.pixel_diffusion.run`, cached in
    ``<runs>/dctdiff/<preset>/<dataset>/<arm>/seed<k>``: the arm, seed, token shape, parameter count, final
    gFID-N/KID, the curve over steps, wall times."""
    arm = arm_of(arm_name)
    out = runs_root(ctx.runs_dir) / "dctdiff" / cfg.preset / cfg.dataset / arm_name / f"seed{seed}"
    return pixel_diffusion.run(
        lambda images, reference, features: build_run(arm_name, cfg, images, seed=seed, reference=reference,
                                                      features=features),
        cfg, seed, ctx, out, record=lambda task: {"arm": arm_name, "label": arm.label, "setting": cfg.setting,
                                                  "tokens": task.config["tokens"]})


METRICS = (Metric("fid", "gFID", final("fid")), Metric("kid", "KID x1e3", final("kid"), scale=1e3, fmt=".2f"),
           Metric("fid_curve", "gFID, mean over the curve", curve_mean("eval/fid")))
DECLARED_TOML = Path(__file__).with_name("declared.toml")
FAMILIES = load_families(DECLARED_TOML)
DECLARED = FAMILIES[0].comparisons
#: the book's ladder, the re-run at 16 px (issue 25), with the learning bar of its pixel baseline
SWEEP = Sweep("dctdiff", {name: a.label for name, a in ARMS.items()}, METRICS, FAMILIES, run_arm,
              bars=load_bars(DECLARED_TOML))
#: the first ladder (32 px, 6 rungs x 3 seeds, 1,500 steps), archived in results/dctdiff/small-v1 and judged with the
#: family it was declared with; its generators had not learned CIFAR-10
FIRST_SWEEP = dataclasses.replace(SWEEP, families=load_families(DECLARED_TOML, "v1"), bars=())


__all__ = ["arm_of", "tokenizer_for", "loss_weight", "formulation_for", "TokenGridDecoder", "TokenDiffusionTask",
           "build_run", "run_arm", "DECLARED", "DECLARED_TOML", "METRICS", "FAMILIES", "SWEEP", "FIRST_SWEEP"]
