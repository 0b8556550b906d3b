"""The seed paper's own toy (Chandran et al. 2026, arXiv 2603.02447, §5.1): grayscale checkerboards, DDPM eps-MSE
with and without the amplitude-and-phase term, and the radial PSD of the samples against the data's.

The paper gives 64x64 boards and says the architecture and optimiser are the same for both arms; the period, the
number of steps and lam are not given there, so ours are stated in the config (``toy_*`` knobs). A board is a +-0.8
checkerboard of one square side (``toy_squares``), shifted by a uniform random offset, so the data are a small,
exactly known family whose spectrum is a few lines, and whether a sample is a board of the family can be read
directly (:func:`board_correlation`).

    TOY_SWEEP.run(cfg, RunContext(), seeds=cfg.toy_seeds)   # results/spectral_regularisation/small/toy-*.json
    python -m smlib spectral-reg --preset small --toy

Declared with the chapter in ef0b77f (2026-12-04 05:04), before the toy ran: the term brings the samples' radial
PSD closer to the data's (the paper's prose, its §5.1).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from smlib.diffusion import sample
from smlib.experiments.spectral_regularisation.config import AP, TOY_MODEL, Arm, SpectralRegConfig
from smlib.experiments.spectral_regularisation.recipe import SpectralRegTask, formulation_for
from smlib.learning_bar import load_bars
from smlib.models.factory import build_backbone
from smlib.results import RunContext, pack_uint8, runs_root, unpack_uint8
from smlib.spectral.power import psd_log_error
from smlib.sweep import Metric, Sweep, load_families
from smlib.train import fit
from smlib.train.checkpoint import canonical_config
from smlib.train.logs import read_metrics

TOY_FLOOR = 1e-3        # PSD floor of the toy's error: 3 decades below the boards' strongest ring
#: a sample "is a board" when its best-matching board of the data's family correlates at least this much over
#: pixels (noise gets ~0.2 at 32 px, the data 1; our threshold)
BOARD_R = 0.9


def checkerboards(n: int, size: int = 32, squares=(4, 8), amplitude: float = 0.8, seed: int = 0) -> torch.Tensor:
    """n grayscale checkerboards (n, 1, size, size): square side drawn from ``squares``, offsets uniform in
    [0, 2 side) on each axis, values +-``amplitude``."""
    g = torch.Generator().manual_seed(int(seed))
    sides = torch.tensor(squares)[torch.randint(len(squares), (n,), generator=g)]
    ox = (torch.rand(n, generator=g) * 2 * sides).long()
    oy = (torch.rand(n, generator=g) * 2 * sides).long()
    r = torch.arange(size)
    row = ((r[None, :] + oy[:, None]) // sides[:, None]) % 2          # (n, size)
    col = ((r[None, :] + ox[:, None]) // sides[:, None]) % 2
    board = (row[:, :, None] ^ col[:, None, :]).float() * 2 - 1        # (n, size, size) in {-1, 1}
    return (amplitude * board)[:, None]


def every_board(size: int = 32, squares=(4, 8)) -> torch.Tensor:
    """Every distinct board of the data's family, (K, size, size) in {-1, 1}: each square side in ``squares`` at
    each offset in [0, 2 side) on each axis (a shift by 2 side repeats a board)."""
    r = torch.arange(size)
    out = []
    for side in squares:
        for oy in range(2 * side):
            for ox in range(2 * side):
                row, col = ((r + oy) // side) % 2, ((r + ox) // side) % 2
                out.append((row[:, None] ^ col[None, :]).float() * 2 - 1)
    return torch.stack(out)


def board_correlation(samples: torch.Tensor, squares=(4, 8)) -> torch.Tensor:
    """For each sample (n, 1, S, S), its largest Pearson correlation over pixels with any board of the data's family
    (:func:`every_board`): 1 for a data board (of either sign: a board shifted by one side is its negative), near 0
    for noise; a constant sample gets 0. Returns (n,) float64."""
    if samples.ndim != 4 or samples.shape[1] != 1 or samples.shape[2] != samples.shape[3]:
        raise ValueError(f"samples must be (n, 1, S, S) grayscale boards, got {tuple(samples.shape)}.")
    boards = every_board(samples.shape[-1], squares).double().flatten(1)
    x = samples.double().flatten(1)
    x = x - x.mean(dim=1, keepdim=True)
    b = boards - boards.mean(dim=1, keepdim=True)
    norm = x.norm(dim=1, keepdim=True) * b.norm(dim=1)[None, :]
    corr = torch.where(norm > 0, (x @ b.T) / norm.clamp_min(1e-300), torch.zeros_like(norm))
    return corr.max(dim=1).values


def exact_denoiser(modes: torch.Tensor, weights: torch.Tensor, x_t: torch.Tensor, alpha: torch.Tensor,
                   sigma: torch.Tensor) -> torch.Tensor:
    """The best possible x0 estimate E[x0 | x_t] when x0 is one of finitely many ``modes`` (K, d) with prior
    ``weights`` (K,) and x_t = alpha x0 + sigma eps: the posterior mean sum_k softmax_k(ln w_k - |x_t - alpha m_k|^2
    / (2 sigma^2)) m_k. x_t (B, d), alpha and sigma (B,) -> (B, d), in float64."""
    modes, x_t = modes.double(), x_t.double().flatten(1)
    a, s = alpha.double().reshape(-1, 1), sigma.double().reshape(-1, 1)
    dist2 = (x_t.square().sum(1, keepdim=True) - 2 * a * (x_t @ modes.T) + a.square() * modes.square().sum(1)[None])
    logits = weights.double().clamp_min(1e-300).log()[None] - dist2 / (2 * s.square())
    return torch.softmax(logits, dim=1) @ modes


def optimal_eps_mse(formulation, data: torch.Tensor, modes: torch.Tensor, n: int = 4096, seed: int = 0,
                    bands=(0.0, 0.1, 0.3, 0.6, 1.0)) -> dict:
    """The eps-MSE (per element) that the exact denoiser reaches on ``data`` (N, ...), whose every image is one of
    ``modes`` (K, ...): a floor for the toy's training loss, estimated from ``n`` draws of (image, t, eps) on the
    formulation's path (t drawn as in training), overall and within each band of t. Prior weights: how often each
    mode occurs in the data. Returns {"all": float, "bands": {"lo..hi": float}}."""
    g = torch.Generator().manual_seed(int(seed))
    flat, m = data.double().flatten(1), modes.double().flatten(1)
    which = (flat @ m.T - 0.5 * m.square().sum(1)[None]).argmax(1)          # nearest mode of every image
    if not torch.allclose(m[which], flat, atol=1e-6):
        raise ValueError("every data image must be one of the modes (the exact denoiser assumes a finite family).")
    weights = torch.bincount(which, minlength=len(m)).double() / len(flat)
    x0 = flat[torch.randint(len(flat), (n,), generator=g)]
    t = formulation.path.sample_t(n, g).double()
    a, s = formulation.alpha(t).double(), formulation.sigma(t).double()
    eps = torch.randn(x0.shape, generator=g, dtype=torch.float64)
    x_t = a[:, None] * x0 + s[:, None] * eps
    eps_hat = (x_t - a[:, None] * exact_denoiser(m, weights, x_t, a, s)) / s[:, None]
    err = (eps_hat - eps).square().mean(1)
    out = {"all": float(err.mean()), "bands": {}}
    for lo, hi in zip(bands[:-1], bands[1:]):
        inside = (t >= lo) & ((t < hi) if hi < bands[-1] else (t <= hi))
        if inside.any():
            out["bands"][f"{lo:g}..{hi:g}"] = float(err[inside].mean())
    return out


def toy_arms(cfg: SpectralRegConfig) -> dict[str, Arm]:
    """The toy's two arms: DDPM eps-MSE, and the same with ``toy_lam`` x the amplitude-and-phase term (unweighted,
    as the paper's DDPM form)."""
    return {"ddpm": Arm("DDPM eps-MSE"), "ddpm-ap": Arm(f"+ {cfg.toy_lam:g} amp-phase", "ddpm", AP, cfg.toy_lam)}


def board_share(samples: torch.Tensor, squares=(4, 8), threshold: float = BOARD_R) -> float:
    """The share of samples (n, 1, S, S) that are boards of the data's family: best-matching correlation
    (:func:`board_correlation`) at least ``threshold``."""
    return float((board_correlation(samples, squares) >= threshold).double().mean())


class ToyEvaluator:
    """``(model, step) -> {"psd_error", "board_share"}`` for :func:`smlib.train.fit` (so it sees the EMA model):
    ``n`` samples with a fixed seed, their radial PSD against the data's and the share that are boards of the data's
    family (:func:`board_share`); the latest samples and PSD are kept on the object."""

    def __init__(self, formulation, data: torch.Tensor, n: int, sampler: str, steps: int, seed: int,
                 squares=(4, 8)):
        self.formulation, self.data, self.n, self.sampler, self.steps, self.seed = (formulation, data, n, sampler,
                                                                                    steps, seed)
        self.squares = tuple(squares)
        self.samples: torch.Tensor | None = None
        self.psd: dict | None = None
        self.scores: dict = {}

    def __call__(self, model, step: int) -> dict:
        device = next(model.parameters()).device
        self.samples = sample(model, self.formulation, (self.n, *self.data.shape[1:]), sampler=self.sampler,
                              steps=self.steps, seed=self.seed, device=device).cpu().clamp(-1, 1)
        self.psd = psd_log_error(self.samples, self.data, floor=TOY_FLOOR)
        self.scores = {"psd_error": self.psd["error"], "board_share": board_share(self.samples, self.squares)}
        return dict(self.scores)


def run_toy_arm(arm_name: str, seed: int, cfg: SpectralRegConfig, ctx: RunContext) -> dict:
    """One toy arm (``toy-ddpm`` or ``toy-ddpm-ap``) and seed: train (resumable, in
    ``runs/spectral_regularisation/toy/<preset>/<arm>/seed<k>``), sample ``toy_samples`` boards from the final EMA
    model with the chapter's sampler, and compare their radial PSD with the data's; 8 samples kept, packed."""
    name = arm_name.removeprefix("toy-")
    arm = toy_arms(cfg)[name]
    data = checkerboards(cfg.toy_images, cfg.toy_size, cfg.toy_squares, seed=0)
    torch.manual_seed(int(seed))
    model = build_backbone(dict(cfg.toy_model), tuple(data.shape[1:]))
    formulation = formulation_for(arm)
    config = {"toy": name, "lam": arm.lam, "model": dict(cfg.toy_model), "size": cfg.toy_size,
              "squares": list(cfg.toy_squares), "images": cfg.toy_images}
    evaluator = ToyEvaluator(formulation, data, cfg.toy_samples, cfg.sampler, cfg.sample_steps, 1000 + int(seed),
                             cfg.toy_squares)
    task = SpectralRegTask(model, formulation, arm, config, hflip=False, evaluator=evaluator)
    out = runs_root(ctx.runs_dir) / "spectral_regularisation" / "toy" / cfg.preset / name / f"seed{seed}"
    train = cfg.train_config(seed=seed, device=ctx.device, out_dir=out, steps=cfg.toy_steps,
                             eval_every=cfg.toy_eval_every, ckpt_every=None,
                             batch_size=min(cfg.batch_size, cfg.toy_images))
    fitted = fit(task, train, (data, torch.zeros(len(data), dtype=torch.long)), progress=ctx.progress)
    result = {"arm": arm_name, "label": arm.label, "seed": seed, **evaluator.scores, "psd": evaluator.psd,
              "samples": pack_uint8(evaluator.samples[:8]), "steps": fitted.step, "completed": fitted.completed}
    if cfg.toy_eval_every:
        result["curve"] = read_metrics(fitted.metrics_csv, keys=("loss", "eval/psd_error", "eval/board_share"))
    return result


def toy_identity(cfg: SpectralRegConfig) -> dict:
    """What determines a toy run's result: the toy's knobs, the optimiser's and the sampler's."""
    keys = ("lr", "weight_decay", "betas", "grad_clip", "warmup_steps", "ema_decay", "batch_size", "sampler",
            "sample_steps", "toy_size", "toy_squares", "toy_images", "toy_lam", "toy_samples")
    # knobs added after the committed toy runs count only away from their earlier value, so those runs keep theirs
    added = {} if cfg.toy_eval_every is None else {"toy_eval_every": cfg.toy_eval_every}
    return canonical_config({"model": dict(cfg.toy_model), **{k: getattr(cfg, k) for k in keys}, **added})


TOY_ARMS = {"toy-ddpm": "DDPM eps-MSE", "toy-ddpm-ap": "+ amp-phase"}
TOY_SWEEP = Sweep(
    "spectral_regularisation", TOY_ARMS,
    (Metric("psd_error", "PSD error (decades)", lambda r: r.get("psd_error"), fmt=".3f"),
     Metric("board_share", f"share of samples that are boards (r >= {BOARD_R})", lambda r: r.get("board_share"),
            lower_is_better=False, fmt=".2f")),
    load_families(Path(__file__).with_name("declared.toml"), sweep="toy"),
    run_toy_arm, identity=lambda cfg, arm, seed: toy_identity(cfg), steps_of=lambda cfg: cfg.toy_steps,
    bars=load_bars(Path(__file__).with_name("declared.toml"), "toy"))
#: the first sweep's toy (its 2-block U-ViT, archived in small-v1), judged with the family it was declared with
FIRST_TOY_SWEEP = dataclasses.replace(
    TOY_SWEEP, families=load_families(Path(__file__).with_name("declared.toml"), sweep="toy-v1"), bars=())


def toy_samples(result: dict) -> torch.Tensor:
    """A toy result's kept samples (n, 1, S, S) in [-1, 1], from a live run or a committed shard."""
    s = result["samples"]
    return s if isinstance(s, torch.Tensor) else torch.from_numpy(unpack_uint8(s).copy()).float() / 127.5 - 1


__all__ = ["TOY_FLOOR", "TOY_MODEL", "BOARD_R", "checkerboards", "every_board", "board_correlation", "board_share",
           "exact_denoiser", "optimal_eps_mse",
           "toy_arms", "ToyEvaluator",
           "run_toy_arm", "toy_identity", "TOY_ARMS", "TOY_SWEEP", "FIRST_TOY_SWEEP", "toy_samples"]
