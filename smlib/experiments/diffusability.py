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
the latent PSD (:mod:`smlib.theory`).

Presets (``ci``/``small``/``paper``) are registered with :mod:`smlib.presets` as chapter ``"diffusability"``;
the paper preset has two settings (``setting="imagenet256"``: SiT-B/2 on f16d16 latents, REPA's optimisation;
``setting="celebahq256"``: U-ViT on f8d4 latents, DDPM eps-prediction).
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn

from smlib import presets, spectral, theory
from smlib.device import resolve_device
from smlib.diffusion import Formulation, make_formulation, sample
from smlib.experiments.variants import VARIANTS as LAB_VARIANTS
from smlib.experiments.latents import (LatentCache, LatentNormalizer, build_latent_cache, fit_normalizer,
                                       posterior_sample)
from smlib.metrics.fid import FIDResult, ReferenceStats, kid, reference_key
from smlib.train import TrainConfig, fit, provenance, write_json
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
    ae_seed=None, n_freq=256, freq_ts=(0.1, 0.3, 0.5, 0.7, 0.9), n_grid=16, precision_recall=False,
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


# ----------------------------------------------------------------------------------------------- generation
@torch.no_grad()
def sample_latents(model: nn.Module, formulation: Formulation, n: int, latent_shape, *, sampler: str = "heun",
                   steps: int = 25, seed: int = 0, batch_size: int = 256, labels: torch.Tensor | None = None,
                   cfg_scale: float = 1.0, device=None) -> torch.Tensor:
    """n normalised latents (n, d, h, w) on the CPU; noise from a CPU generator seeded with ``seed`` (the same
    latents on every device). labels: (n,) long for a class-conditional model, else None."""
    g = torch.Generator().manual_seed(int(seed))
    out = []
    for i in range(0, n, batch_size):
        b = min(batch_size, n - i)
        y = labels[i:i + b] if labels is not None else None
        out.append(sample(model, formulation, (b, *latent_shape), sampler=sampler, steps=steps, generator=g, y=y,
                          cfg_scale=cfg_scale, device=device).cpu())
    return torch.cat(out)


@torch.no_grad()
def decode_latents(autoencoder: nn.Module, u: torch.Tensor, normalizer: LatentNormalizer,
                   batch_size: int = 128) -> torch.Tensor:
    """Normalised latents u (n, d, h, w) -> images (n, 3, H, W) in [-1, 1] on the CPU (clamped)."""
    device = next(autoencoder.parameters()).device
    was = autoencoder.training
    autoencoder.eval()
    try:
        out = [autoencoder.decode(normalizer.denormalize(u[i:i + batch_size].to(device))).clamp(-1, 1).cpu()
               for i in range(0, u.shape[0], batch_size)]
    finally:
        autoencoder.train(was)
    return torch.cat(out)


@dataclass
class ReferenceSet:
    """Inception features (N, D) of reference images and their Gaussian statistics; ``key`` names the cache."""

    features: np.ndarray
    stats: ReferenceStats
    key: str

    @property
    def n(self) -> int:
        return int(self.features.shape[0])


def reference_set(dataset: str, split: str, resolution: int, n: int, images, features, cache_dir,
                  subset_seed: int = 0) -> ReferenceSet:
    """Reference features of n images (computed once, cached atomically as ``<key>.npz`` in ``cache_dir``).

    images: (n, 3, R, R) in [-1, 1] or a zero-argument callable returning them (called on a cache miss only).
    features: images -> (B, D) numpy with a ``feature_id`` (e.g. :class:`smlib.metrics.InceptionFeatures`).
    The key names dataset, split, resolution, n, the subset seed and the feature extractor."""
    feature = getattr(features, "feature_id", "features")
    key = reference_key(f"{dataset}-subset{subset_seed}", split, resolution, n, feature)
    path = Path(cache_dir) / f"{key}.npz"
    if path.is_file():
        with np.load(path) as z:
            if str(z["key"]) != key:
                raise ValueError(f"{path} holds {str(z['key'])!r}, not {key!r}; delete the file.")
            feats = z["features"]
    else:
        x = images() if callable(images) else images
        if x.shape[0] != n:
            raise ValueError(f"reference_set got {x.shape[0]} images for n={n}.")
        feats = features(x)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
        np.savez(tmp, features=feats.astype(np.float64), key=np.str_(key))
        os.replace(tmp, path)
    return ReferenceSet(feats, ReferenceStats.from_features(feats, feature, key), key)


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019) with k-NN balls in feature space.

    real: (N, D), fake: (M, D). Precision = share of fake points inside some real point's k-NN ball; recall = share
    of real points inside some fake point's ball. Brute-force distances: for a few thousand points."""
    real, fake = torch.as_tensor(real, dtype=torch.float64), torch.as_tensor(fake, dtype=torch.float64)

    def radii(x):  # distance to the k-th nearest other point
        return torch.cdist(x, x).kthvalue(k + 1, dim=1).values

    r_real, r_fake = radii(real), radii(fake)
    d = torch.cdist(fake, real)                                   # (M, N)
    precision = (d <= r_real[None, :]).any(dim=1).double().mean().item()
    recall = (d.T <= r_fake[None, :]).any(dim=1).double().mean().item()
    return precision, recall


def frechet_distance_fast(feats: np.ndarray, mu_ref: np.ndarray, sigma_ref: np.ndarray) -> float:
    """FID of features (N, D) against N(mu_ref, sigma_ref), with tr sqrt(S1 S2) from a symmetric eigenproblem.

    With A = (feats - mean) / sqrt(N - 1), S1 = A^T A and S1 S2 has the nonzero eigenvalues of A S2 A^T (N x N),
    so for N <= D the trace is sum sqrt(eig(A S2 A^T)): exact, and seconds instead of scipy's sqrtm of a 2048 x
    2048 product (~a minute per call on 2 cores). For N > D it uses eig(R S2 R), R = S1^(1/2) by eigh. Agrees
    with :func:`smlib.metrics.frechet_distance` (tests) up to the latter's eps regularisation of singular S1."""
    x = np.asarray(feats, dtype=np.float64)
    n, d = x.shape
    if n < 2:
        raise ValueError(f"need at least 2 samples for FID, got {n}.")
    mu = x.mean(axis=0)
    a = (x - mu) / math.sqrt(n - 1)
    sigma_ref = np.asarray(sigma_ref, dtype=np.float64)
    if n <= d:
        m = a @ sigma_ref @ a.T
    else:
        w, v = np.linalg.eigh(a.T @ a)
        r = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
        m = r @ sigma_ref @ r
    eig = np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)
    diff = mu - np.asarray(mu_ref, dtype=np.float64)
    return float(diff @ diff + (a * a).sum() + np.trace(sigma_ref) - 2 * np.sqrt(eig).sum())


def evaluate_generation(images: torch.Tensor | None, reference: ReferenceSet, features=None, *,
                        sample_features: np.ndarray | None = None, kid_subset: int | None = None,
                        with_precision_recall: bool = False, seed: int = 0) -> dict:
    """gFID-N and KID of generated images against a reference set; N is always in the result.

    images: (N, 3, H, W) in [-1, 1] (or pass ``sample_features`` (N, D) directly); features: the extractor used for
    the reference. Returns ``fid``, ``fid_label`` ("FID-N"), ``n_samples``, ``n_reference``, ``kid`` and
    ``kid_std`` (subsets of ``kid_subset``, default min(N, N_ref, 1000)), and ``precision``/``recall`` on request.
    """
    if sample_features is None:
        if images is None or features is None:
            raise ValueError("pass images and the feature extractor, or sample_features.")
        sample_features = features(images)
    feats = np.asarray(sample_features, dtype=np.float64)
    fid = FIDResult(frechet_distance_fast(feats, reference.stats.mu, reference.stats.sigma), feats.shape[0],
                    reference.n, reference.stats.feature)
    m = min(feats.shape[0], reference.n)
    subset = min(kid_subset or 1000, m)
    kid_mean, kid_std = kid(feats, reference.features, subset_size=subset, n_subsets=100 if subset < m else 1,
                            seed=seed)
    out = {"fid": fid.fid, "fid_label": fid.label, "n_samples": fid.n_samples, "n_reference": fid.n_reference,
           "kid": kid_mean, "kid_std": kid_std, "kid_subset": subset}
    if with_precision_recall:
        out["precision"], out["recall"] = precision_recall(reference.features, feats)
    return out


class GenerationEvaluator:
    """``(model, step) -> dict`` for :func:`smlib.train.fit`: sample N latents with a fixed seed (the same noise at
    every evaluation, so a curve moves only with the weights), decode, score against the reference.

    Non-main ranks return {} (fit records rank 0 only). Without an autoencoder/reference, or with ``n=0``, it
    returns {}. ``last_images`` keeps the decoded samples of the latest call (CPU) for sample grids."""

    def __init__(self, autoencoder, normalizer, formulation, reference: ReferenceSet | None, features, n: int,
                 latent_shape, *, sampler="heun", steps=25, seed=0, batch_size=256, num_classes=0, cfg_scale=1.0,
                 kid_subset=None, with_precision_recall=False, rank=0):
        self.ae, self.normalizer, self.formulation = autoencoder, normalizer, formulation
        self.reference, self.features, self.n, self.latent_shape = reference, features, int(n), tuple(latent_shape)
        self.sampler, self.steps, self.seed, self.batch_size = sampler, steps, seed, batch_size
        self.num_classes, self.cfg_scale, self.kid_subset = num_classes, cfg_scale, kid_subset
        self.with_precision_recall, self.rank = with_precision_recall, rank
        self.last_images: torch.Tensor | None = None

    def to(self, device):
        if self.ae is not None:
            self.ae.to(device)
        return self

    def labels(self) -> torch.Tensor | None:
        """Balanced class labels 0..K-1 repeated (n,), or None for an unconditional model."""
        return torch.arange(self.n) % self.num_classes if self.num_classes else None

    def __call__(self, model, step: int) -> dict:
        if self.rank != 0 or self.n <= 0 or self.ae is None or self.reference is None:
            return {}
        u = sample_latents(model, self.formulation, self.n, self.latent_shape, sampler=self.sampler, steps=self.steps,
                           seed=self.seed, batch_size=self.batch_size, labels=self.labels(), cfg_scale=self.cfg_scale)
        images = decode_latents(self.ae, u, self.normalizer)
        self.last_images = images
        scores = evaluate_generation(images, self.reference, self.features, kid_subset=self.kid_subset,
                                     with_precision_recall=self.with_precision_recall, seed=self.seed)
        return {k: v for k, v in scores.items() if isinstance(v, (int, float))}


# ----------------------------------------------------------------------------------------------- Prop. 3.1
@dataclass
class FrequencyErrors:
    """Per-frequency denoising error of a trained model on normalised latents, against the Gaussian theory.

    freqs (K,) cycles per latent pixel; ts (T,) diffusion times; signal (K,) radial PSD S(f) of the held-out
    latents; trained / wiener / predicted (T, K): error power E|X0_hat - X0|^2 per ring of the trained model, of
    the Wiener filter (the Gaussian-optimal linear denoiser, a check of the closed form) and the prediction
    S(f) / (1 + SNR_t(f)) from the training latents' per-channel PSD."""

    freqs: np.ndarray
    ts: np.ndarray
    signal: np.ndarray
    trained: np.ndarray
    wiener: np.ndarray
    predicted: np.ndarray
    counts: np.ndarray

    def learned_fraction(self, which: str = "trained") -> np.ndarray:
        """1 - error / S per ring, (T, K)."""
        return 1.0 - getattr(self, which) / self.signal[None, :]

    def unrecovered_share(self, which: str = "trained") -> np.ndarray:
        """Share of the latent variance (DC excluded) left unrecovered at each t: sum_f err / sum_f S, (T,)."""
        w = self.counts[None, :]
        return (getattr(self, which) * w).sum(1) / (self.signal[None, :] * w).sum(1)

    def high_band_share(self, cutoff: float = 0.25) -> float:
        """Share of the latent power (DC excluded) at |f| > cutoff cycles/latent-pixel (half of Nyquist)."""
        p = self.signal * self.counts
        return float(p[self.freqs > cutoff].sum() / p.sum())

    def summary(self) -> dict:
        """Scalars for tables: t-averaged unrecovered shares (trained, predicted, Wiener), their ratio, the
        high-band share of the latent power, and the trained/predicted error ratio in the top ring."""
        top = self.trained[:, -1] / self.predicted[:, -1]
        return {"unrecovered_trained": float(self.unrecovered_share("trained").mean()),
                "unrecovered_predicted": float(self.unrecovered_share("predicted").mean()),
                "unrecovered_wiener": float(self.unrecovered_share("wiener").mean()),
                "high_band_share": self.high_band_share(),
                "top_ring_error_ratio": float(np.mean(top))}

    def to_dict(self) -> dict:
        return {k: np.asarray(getattr(self, k)).tolist() for k in
                ("freqs", "ts", "signal", "trained", "wiener", "predicted", "counts")}

    @classmethod
    def from_dict(cls, d: dict) -> "FrequencyErrors":
        return cls(**{k: np.asarray(v, dtype=float) for k, v in d.items()})


def channel_power(x: torch.Tensor) -> torch.Tensor:
    """Per-channel periodogram |FFT|^2 / (h w) of each image's centred channels, averaged over the batch:
    x (B, d, h, w) -> (d, h, w) (the convention of :func:`smlib.spectral.fft_power`; white noise has power 1)."""
    b, d, h, w = x.shape
    return spectral.fft_power(x.reshape(b * d, 1, h, w)).reshape(b, d, h, w).mean(0)


def ring_counts(h: int, w: int) -> np.ndarray:
    """Number of FFT coefficients in each ring of :func:`smlib.spectral.radial_average` (rings 1..N/2), (K,)."""
    ring = torch.round(spectral.radial_frequency_grid(h, w) * max(h, w)).long()
    return np.array([int((ring == k).sum()) for k in range(1, max(h, w) // 2 + 1)], dtype=float)


@torch.no_grad()
def frequency_errors(model: nn.Module, formulation: Formulation, test_u: torch.Tensor, train_u: torch.Tensor,
                     ts=(0.1, 0.3, 0.5, 0.7, 0.9), seed: int = 0, batch_size: int = 256,
                     labels: torch.Tensor | None = None) -> FrequencyErrors:
    """Per-ring error power of the model's x0 estimate at several t, with the Gaussian prediction of Prop. 3.1.

    test_u: (N, d, h, w) held-out normalised latents the model is scored on; train_u: (M, d, h, w) normalised
    training latents whose per-channel PSD S_c(f) gives the prediction S_c(f) / (1 + alpha_t^2 S_c(f) / sigma_t^2)
    (channels treated as independent, then averaged, like the errors). The same noise (``seed``) is used for the
    model and the Wiener filter. Everything is reduced in float64 on the CPU."""
    device = next(model.parameters()).device
    was = model.training
    model.eval()
    power2d = channel_power(train_u.double())                          # (d, h, w)
    mean = train_u.double().mean(dim=(0, 2, 3)).reshape(1, -1, 1, 1)    # the stationary model's per-channel mean
    freqs, signal = spectral.radial_average(channel_power(test_u.double()).mean(0))
    g = torch.Generator().manual_seed(int(seed))
    trained, wiener, predicted = [], [], []
    try:
        for t in ts:
            tt = torch.tensor([float(t)], dtype=torch.float64)
            a, s = float(formulation.alpha(tt)[0]), float(formulation.sigma(tt)[0])
            err_t = torch.zeros_like(power2d)
            err_w = torch.zeros_like(power2d)
            for i in range(0, test_u.shape[0], batch_size):
                x0 = test_u[i:i + batch_size].double()
                eps = torch.randn(x0.shape, generator=g, dtype=torch.float64)
                x_t = a * x0 + s * eps
                tb = torch.full((x0.shape[0],), float(t), device=device)
                y = labels[i:i + batch_size].to(device) if labels is not None else None
                out = model(x_t.float().to(device), tb, y)
                x0_hat, _ = formulation.to_x0_eps(out[:, : x0.shape[1]].double().cpu(), x_t, tt.expand(x0.shape[0]))
                err_t += channel_power(x0_hat - x0) * x0.shape[0]
                w_hat = theory.wiener_denoise(x_t - a * mean, power2d, a, s) + mean
                err_w += channel_power(w_hat - x0) * x0.shape[0]
            n = test_u.shape[0]
            trained.append(spectral.radial_average((err_t / n).mean(0))[1])
            wiener.append(spectral.radial_average((err_w / n).mean(0))[1])
            predicted.append(spectral.radial_average(theory.residual_power(power2d, a, s).mean(0))[1])
    finally:
        model.train(was)
    stack = lambda rows: torch.stack(rows).numpy()  # noqa: E731
    return FrequencyErrors(freqs.numpy(), np.asarray(ts, dtype=float), signal.numpy(), stack(trained), stack(wiener),
                           stack(predicted), ring_counts(*test_u.shape[-2:]))


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
    if result_path.is_file() and not keep_models and max_steps_this_call is None:
        done = json.loads(result_path.read_text())
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
    reference = None
    if features is not None:
        reference = reference_set(cfg.dataset, cfg.split, cfg.resolution, cfg.n_reference,
                                  lambda: images[: cfg.n_reference], features, runs_dir / "fid_refs",
                                  cfg.subset_seed)
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
              "sample_steps": cfg.sample_steps, "batch_size": cfg.batch_size, "lr": cfg.lr}
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
        result["final"] = {k: v for k, v in fitted["metrics"].items()}
        if result["final"]:
            result["final"]["fid_label"] = f"FID-{int(result['final']['n_samples'])}"
        curve = read_curve(fitted["metrics_csv"])
        result["curve"] = {k: v for k, v in curve.items()}
        evaluator = fitted["evaluator"]
        grid = evaluator.last_images[: cfg.n_grid] if evaluator is not None and evaluator.last_images is not None \
            else decode_latents(ae, sample_latents(ema, fitted["formulation"], cfg.n_grid, cache.latent_shape,
                                                   sampler=cfg.sampler, steps=cfg.sample_steps, seed=seed),
                                normalizer)
        torch.save(((grid + 1) * 127.5).round().clamp(0, 255).to(torch.uint8), out / "grid.pt")
        result["grid"] = str(out / "grid.pt")
        result["provenance"] = provenance()
        write_json(result_path, result)
    if keep_models:
        result["models"] = {"ema": fitted["ema_model"], "autoencoder": ae, "normalizer": normalizer,
                            "formulation": fitted["formulation"], "cache": cache}
    return result


# ----------------------------------------------------------------------------------------------- sweeps
def aggregate(rows: list[dict]) -> dict:
    """Per-variant mean, std (ddof 1) and min/max over seeds of the final FID/KID and frequency summaries."""
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
        table[v] = entry
    return table


def run_sweep(preset: str = "small", variants=None, seeds=None, *, results_path=None, **kwargs) -> dict:
    """Every (variant, seed) with :func:`run_variant` (each cached/resumable), then one results file with per-run
    rows, the per-variant table and provenance, rewritten after each run (an interrupted sweep keeps what it
    finished). Returns the file's content."""
    cfg = resolve_config(preset, dataset=kwargs.get("dataset"), setting=kwargs.get("setting"))
    variants = list(variants or cfg.variants)
    seeds = list(cfg.seeds if seeds is None else seeds)
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise KeyError(f"unknown variant(s) {unknown}; choose from {', '.join(VARIANTS)} or 'all'.")
    results_path = Path(results_path) if results_path else REPO_ROOT / "results" / "diffusability" / f"{preset}.json"
    rows, t0 = [], time.time()
    info = init_distributed()
    for v in variants:
        for s in seeds:
            r = run_variant(v, preset, seed=s, **kwargs)
            r.pop("models", None)
            rows.append(r)
            if info.is_main and all(x.get("completed") for x in rows):
                _write_results(results_path, preset, cfg, rows, variants, seeds, time.time() - t0)
    return json.loads(results_path.read_text()) if results_path.is_file() else {"runs": rows}


def _write_results(path: Path, preset, cfg, rows, variants, seeds, wall) -> None:
    write_json(path, {"chapter": "diffusability", "preset": preset, "setting": cfg.setting, "dataset": cfg.dataset,
                      "variants_planned": variants, "seeds_planned": seeds,
                      "complete": len(rows) == len(variants) * len(seeds),
                      "table": aggregate(rows), "runs": rows, "sweep_wall_time_s": round(wall, 1),
                      "provenance": provenance()})


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


__all__ = ["VARIANTS", "PRESET_TABLE", "PAPER_SETTINGS", "resolve_config", "build_model", "LatentDiffusionTask",
           "sample_latents", "decode_latents", "ReferenceSet", "reference_set", "precision_recall",
           "evaluate_generation", "frechet_distance_fast", "GenerationEvaluator", "FrequencyErrors", "frequency_errors", "channel_power",
           "fit_latent_diffusion", "read_curve", "load_subset", "obtain_autoencoder", "run_variant", "run_sweep",
           "aggregate", "load_results", "cli"]
