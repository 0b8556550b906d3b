"""Generation in latent space and its score: sample latents, decode them, and compare Inception features with a
cached reference set (gFID-N and KID; N is always reported, since FID is only comparable at equal N).

    reference = reference_set("cifar10", "train", 32, 1000, images, InceptionFeatures("cpu"), subset="subset0")
    u = sample_latents(model, formulation, 250, (4, 8, 8), sampler="heun", steps=25, seed=0)
    scores = evaluate_generation(decode_latents(autoencoder, u, normalizer), reference, features)

:class:`GenerationEvaluator` wraps the three for :func:`smlib.train.fit`'s periodic evaluation.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch
from torch import nn

from smlib.data.latents import LatentNormalizer
from smlib.diffusion import Formulation, sample
from smlib.metrics.fid import FIDResult, frechet_distance_fast, kid_full_reference, precision_recall
from smlib.metrics.reference import ReferenceSet

@torch.no_grad()
def iter_sample_latents(model: nn.Module, formulation: Formulation, n: int, latent_shape, *, sampler: str = "heun",
                        steps: int = 25, seed: int = 0, batch_size: int = 256, labels: torch.Tensor | None = None,
                        cfg_scale: float = 1.0, device=None) -> Iterator[torch.Tensor]:
    """:func:`sample_latents` one batch at a time: yields (b, d, h, w) CPU tensors, b <= batch_size, n in all, so
    a large evaluation (50k samples) never holds every sample in memory."""
    g = torch.Generator().manual_seed(int(seed))
    for i in range(0, n, batch_size):
        b = min(batch_size, n - i)
        y = labels[i:i + b] if labels is not None else None
        yield sample(model, formulation, (b, *latent_shape), sampler=sampler, steps=steps, generator=g, y=y,
                     cfg_scale=cfg_scale, device=device).cpu()


def sample_latents(model: nn.Module, formulation: Formulation, n: int, latent_shape, **kwargs) -> torch.Tensor:
    """n normalised latents (n, d, h, w) on the CPU; noise from a CPU generator seeded with ``seed`` (the same
    latents on every device). Keywords as :func:`iter_sample_latents` (sampler, steps, seed, batch_size,
    labels: (n,) long for a class-conditional model, cfg_scale, device)."""
    return torch.cat(list(iter_sample_latents(model, formulation, n, latent_shape, **kwargs)))


@torch.no_grad()
def decode_latents(autoencoder: nn.Module, u: torch.Tensor, normalizer: LatentNormalizer,
                   batch_size: int = 128) -> torch.Tensor:
    """Normalised latents u (n, d, h, w) -> images (n, 3, H, W) in [-1, 1] on the CPU (clamped)."""
    # a decoder may have no parameters (DCT tokens -> pixels); then its buffers, else the CPU, say where it runs
    tensors = [*autoencoder.parameters(), *autoencoder.buffers()]
    device = tensors[0].device if tensors else torch.device("cpu")
    was = autoencoder.training
    autoencoder.eval()
    try:
        out = [autoencoder.decode(normalizer.denormalize(u[i:i + batch_size].to(device))).clamp(-1, 1).cpu()
               for i in range(0, u.shape[0], batch_size)]
    finally:
        autoencoder.train(was)
    return torch.cat(out)


def evaluate_generation(images: torch.Tensor | None, reference: ReferenceSet, features=None, *,
                        sample_features: np.ndarray | None = None, kid_subset: int | None = None,
                        with_precision_recall: bool = False, seed: int = 0) -> dict:
    """gFID-N and KID of generated images against a reference set; N is always in the result.

    images: (N, 3, H, W) in [-1, 1] (or pass ``sample_features`` (N, D) directly); features: the extractor used for
    the reference. Returns ``fid``, ``fid_label`` ("FID-N"), ``n_samples``, ``n_reference``, ``kid`` and
    ``kid_std`` over disjoint blocks of the *whole* reference set (:func:`~smlib.metrics.fid.kid_full_reference`,
    blocks of ``kid_subset`` rows, default min(N, N_ref)), and ``precision``/``recall`` on request.
    """
    if sample_features is None:
        if images is None or features is None:
            raise ValueError("pass images and the feature extractor, or sample_features.")
        sample_features = features(images)
    feats = np.asarray(sample_features, dtype=np.float64)
    fid = FIDResult(frechet_distance_fast(feats, reference.stats.mu, reference.stats.sigma), feats.shape[0],
                    reference.n, reference.stats.feature)
    subset = min(kid_subset or feats.shape[0], reference.n)
    kid_mean, kid_std = kid_full_reference(feats, reference.features, subset_size=subset, seed=seed)
    out = {"fid": fid.fid, "fid_label": fid.label, "n_samples": fid.n_samples, "n_reference": fid.n_reference,
           "kid": kid_mean, "kid_std": kid_std, "kid_subset": subset}
    if with_precision_recall:
        out["precision"], out["recall"] = precision_recall(reference.features, feats)
    return out


class GenerationEvaluator:
    """``(model, step) -> dict`` for :func:`smlib.train.fit`: sample N latents with a fixed seed (the same noise at
    every evaluation, so a curve moves only with the weights), decode, score against the reference.

    Works in batches of ``batch_size``: each is sampled, decoded and turned into Inception features before the
    next, so memory does not grow with N. Non-main ranks return {} (fit records rank 0 only). Without an
    autoencoder/reference, or with ``n=0``, it returns {}. ``last_images`` keeps the first ``keep_images`` decoded
    samples of the latest call (CPU, (k, 3, H, W) in [-1, 1]) for sample grids."""

    def __init__(self, autoencoder, normalizer, formulation, reference: ReferenceSet | None, features, n: int,
                 latent_shape, *, sampler="heun", steps=25, seed=0, batch_size=256, num_classes=0, cfg_scale=1.0,
                 kid_subset=None, with_precision_recall=False, rank=0, keep_images=64):
        self.ae, self.normalizer, self.formulation = autoencoder, normalizer, formulation
        self.reference, self.features, self.n, self.latent_shape = reference, features, int(n), tuple(latent_shape)
        self.sampler, self.steps, self.seed, self.batch_size = sampler, steps, seed, batch_size
        self.num_classes, self.cfg_scale, self.kid_subset = num_classes, cfg_scale, kid_subset
        self.with_precision_recall, self.rank, self.keep_images = with_precision_recall, rank, int(keep_images)
        self.last_images: torch.Tensor | None = None

    def to(self, device):
        if self.ae is not None:
            self.ae.to(device)
        return self

    def labels(self, n: int | None = None) -> torch.Tensor | None:
        """Balanced class labels 0..K-1 repeated (n,), or None for an unconditional model."""
        n = self.n if n is None else n
        return torch.arange(n) % self.num_classes if self.num_classes else None

    def __call__(self, model, step: int, n: int | None = None) -> dict:
        """Scores of ``n`` samples (default: the evaluator's N) of ``model``; the noise depends on the seed only.
        The samples' features stay in ``last_features`` (N, D) for intervals computed after the call."""
        n = self.n if n is None else int(n)
        if self.rank != 0 or n <= 0 or self.ae is None or self.reference is None:
            return {}
        feats, kept = [], []
        for u in iter_sample_latents(model, self.formulation, n, self.latent_shape, sampler=self.sampler,
                                     steps=self.steps, seed=self.seed, batch_size=self.batch_size,
                                     labels=self.labels(n), cfg_scale=self.cfg_scale):
            images = decode_latents(self.ae, u, self.normalizer)
            feats.append(self.features(images))
            room = self.keep_images - sum(k.shape[0] for k in kept)
            if room > 0:
                kept.append(images[:room])
        self.last_images = torch.cat(kept)
        self.last_features = np.concatenate(feats)
        scores = evaluate_generation(None, self.reference, sample_features=self.last_features,
                                     kid_subset=self.kid_subset, with_precision_recall=self.with_precision_recall,
                                     seed=self.seed)
        return {k: v for k, v in scores.items() if isinstance(v, (int, float))}

__all__ = ["iter_sample_latents", "sample_latents", "decode_latents", "evaluate_generation", "GenerationEvaluator"]
