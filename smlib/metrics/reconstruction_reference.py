"""FID and KID against the decoder's reconstructions: a generation score that the decoder's blur cannot move.

Raw gFID compares decoded samples D(z), z ~ p_model, with real images x. Even a diffusion model that learned the
latent distribution exactly pays for the decoder: its images are as blurred as the autoencoder's reconstructions,
so raw gFID sits at the *decoder floor* (reconstructions against real images) and, across autoencoders, mostly
tracks it. This module moves the reference instead of subtracting the floor:

    gFID_recon = FID( features of D(z), z ~ p_model ,  features of D(z'), z' ~ q(z | x_ref) )

with the *same* autoencoder, the *same* N reference images x_ref, the same feature extractor and the same scoring
code (:func:`smlib.metrics.generation.evaluate_generation`). If p_model equals the aggregate posterior
q(z) = E_x q(z | x), both sets are reconstructions of independent draws from the data and gFID_recon is at its own
sampling floor, whatever the decoder does; it grows only as p_model departs from q(z).

Which reconstructions: one **posterior sample** per image, decoded (not the posterior mean). The diffusion model is
trained on posterior samples (:class:`smlib.experiments.diffusability.recipe.LatentDiffusionTask` draws
z = mean + std * eps every step), so the best it can do is sample q(z); decoding the means instead would give a
sharper set that no model of q(z) can reach, and the metric would charge the model for the posterior noise. This is
also what :func:`smlib.experiments.diffusability.recipe.decoder_floor` decodes: :func:`reconstruct` is that code
(:func:`~smlib.data.latents.encode_images` -> :func:`~smlib.data.latents.posterior_sample` with a seeded CPU
generator -> :func:`~smlib.metrics.generation.decode_latents`).

What it does not measure. It is blind to any error of the latent distribution that the decoder maps to the same
image (latents the decoder ignores: a channel it reads weakly, energy it smooths away); it inherits the feature
extractor's biases (TF-Inception here); and it has a floor of its own, the FID between two independent sets of N
reconstructions (:func:`reconstruction_floors`), which is not 0 and is biased by N like every FID-N.

The reconstruction reference is a :class:`~smlib.metrics.reference.ReferenceSet` in the one reference cache, keyed
by the real reference's key plus the autoencoder's weights fingerprint and the posterior seed, so it is computed
once per autoencoder:

    real  = reference_set("cifar10", "train", 32, 1000, images, features, subset="subset0")
    recon = reconstruction_reference(ae, images[:1000], features, dataset="cifar10", split="train", resolution=32,
                                     subset="subset0", ae_key=autoencoder_fingerprint(checkpoint=ckpt))
    scores = evaluate_against_reconstructions(sample_features, recon, real=real)    # fid, kid, fid_recon, kid_recon
"""
from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn

from smlib.data.latents import LatentNormalizer, encode_images, posterior_sample
from smlib.metrics.generation import decode_latents, evaluate_generation
from smlib.metrics.reference import ReferenceSet, reference_set

#: decode_latents takes normalised latents; reconstructions decode raw posterior samples
IDENTITY = LatentNormalizer((0.0,), (1.0,))
#: the reference's posterior seed. decoder_floor draws the held-out reconstructions with seed 0 (the sharded sweep's
#: floor); a different seed here keeps the two draws independent (the same seed would give row i of both sets the
#: same eps)
REFERENCE_SEED = 1


@torch.no_grad()
def reconstruct(autoencoder: nn.Module, images: torch.Tensor, *, seed: int = 0, batch_size: int = 256,
                device=None) -> torch.Tensor:
    """The autoencoder's reconstructions of ``images`` (N, 3, H, W) in [-1, 1]: one posterior sample per image,
    drawn at once from a CPU generator seeded with ``seed`` (the same z on every device), decoded and clamped.
    Returns (N, 3, H, W) on the CPU. ``device`` defaults to where the autoencoder's parameters are."""
    if images.ndim != 4 or images.shape[0] < 1:
        raise ValueError(f"reconstruct needs images (N, 3, H, W) with N >= 1, got shape {tuple(images.shape)}.")
    if device is None:   # like decode_latents: the parameters', else the buffers', else the CPU
        tensors = [*autoencoder.parameters(), *autoencoder.buffers()]
        device = tensors[0].device if tensors else torch.device("cpu")
    batches = [images[i:i + batch_size] for i in range(0, images.shape[0], batch_size)]
    moments = encode_images(autoencoder, batches, flips=False, device=device)[0]
    z = posterior_sample(moments, torch.Generator().manual_seed(int(seed)))
    return decode_latents(autoencoder, z, IDENTITY, batch_size=batch_size)


def reconstruction_subset(subset: str, ae_key: str, seed: int = REFERENCE_SEED) -> str:
    """The reference-cache ``subset`` of a reconstruction reference: the real one's (``"subset0"``), then
    ``recon-<first 12 characters of ae_key>-post<seed>``, e.g. ``subset0-recon-3fa2b1c09d4e-post1``."""
    if not ae_key:
        raise ValueError("name the autoencoder: pass ae_key=autoencoder_fingerprint(checkpoint=...) (or of the model).")
    return "-".join(p for p in (subset, f"recon-{ae_key[:12]}", f"post{int(seed)}") if p)


def reconstruction_reference(autoencoder: nn.Module, images: torch.Tensor, features, *, dataset: str, split: str,
                             resolution: int, ae_key: str, subset: str = "", seed: int = REFERENCE_SEED,
                             cache_dir: str | os.PathLike | None = None, feature: str | None = None,
                             batch_size: int = 256, device=None) -> ReferenceSet:
    """The reference set of the autoencoder's reconstructions (:func:`reconstruct`) of the N reference ``images``
    (N, 3, H, W) in [-1, 1]: the images of the real reference set of the same (dataset, split, resolution, N,
    subset), so both references hold the same N and the same extractor's features.

    Cached by :func:`smlib.metrics.reference.reference_set` under the real key's fields with ``subset`` =
    :func:`reconstruction_subset` (``ae_key`` fingerprints the autoencoder's weights, ``seed`` the posterior
    draw): once per autoencoder; the images are encoded and decoded only on a cache miss."""
    n = int(images.shape[0])
    return reference_set(dataset, split, resolution, n,
                         lambda: reconstruct(autoencoder, images, seed=seed, batch_size=batch_size, device=device),
                         features, subset=reconstruction_subset(subset, ae_key, seed), cache_dir=cache_dir,
                         feature=feature)


def _check_pair(real: ReferenceSet, recon: ReferenceSet) -> None:
    if real.stats.feature != recon.stats.feature:
        raise ValueError(f"the references hold different features ({real.stats.feature!r} vs "
                         f"{recon.stats.feature!r}); build both with the same extractor.")
    if real.n != recon.n:
        raise ValueError(f"the references hold different N ({real.n} real vs {recon.n} reconstructed); "
                         "reconstruct exactly the real reference's images.")


def evaluate_against_reconstructions(sample_features: np.ndarray, recon: ReferenceSet, *,
                                     real: ReferenceSet | None = None, kid_subset: int | None = None,
                                     seed: int = 0) -> dict:
    """FID-N and KID of generated samples against the reconstruction reference, and (with ``real``) against the
    real images, scored by the same :func:`~smlib.metrics.generation.evaluate_generation`.

    sample_features: (N, D), the generated images' features from the references' extractor. Returns ``fid_recon``,
    ``kid_recon``, ``kid_recon_std``, ``fid_recon_label`` ("FID-N vs reconstructions"), ``n_samples``,
    ``n_reference``, and with ``real`` also ``fid``, ``kid``, ``kid_std``, ``fid_label`` (raw gFID-N). ``real`` and
    ``recon`` must hold the same N and feature."""
    if real is not None:
        _check_pair(real, recon)
    r = evaluate_generation(None, recon, sample_features=sample_features, kid_subset=kid_subset, seed=seed)
    out = {"fid_recon": r["fid"], "kid_recon": r["kid"], "kid_recon_std": r["kid_std"],
           "fid_recon_label": f"{r['fid_label']} vs reconstructions", "n_samples": r["n_samples"],
           "n_reference": r["n_reference"], "kid_subset": r["kid_subset"]}
    if real is not None:
        raw = evaluate_generation(None, real, sample_features=sample_features, kid_subset=kid_subset, seed=seed)
        out.update(fid=raw["fid"], kid=raw["kid"], kid_std=raw["kid_std"], fid_label=raw["fid_label"])
    return out


def reconstruction_floors(autoencoder: nn.Module, held_out: torch.Tensor, features, real: ReferenceSet,
                          recon: ReferenceSet, *, seed: int = 0, kid_subset: int | None = None, batch_size: int = 256,
                          device=None) -> dict:
    """Both floors at N = len(held_out): what a diffusion model that sampled q(z) exactly would score.

    held_out: (N, 3, H, W) images from the same source as the references but not in them. They are reconstructed
    (:func:`reconstruct`, posterior ``seed``, default 0 as decoder_floor's; not the reference's
    :data:`REFERENCE_SEED`, so the two draws are independent) and scored against ``real`` (``fid``/``kid``: the decoder floor, as
    :func:`~smlib.experiments.diffusability.recipe.decoder_floor`) and against ``recon`` (``fid_recon``/
    ``kid_recon``: the sampling floor of the reconstruction metric). Also returns the reconstructions' features
    ``sample_features`` (N, D) for bootstrap intervals."""
    feats = np.asarray(features(reconstruct(autoencoder, held_out, seed=seed, batch_size=batch_size, device=device)),
                       dtype=np.float64)
    out = evaluate_against_reconstructions(feats, recon, real=real, kid_subset=kid_subset, seed=seed)
    out["sample_features"] = feats
    return out


__all__ = ["IDENTITY", "REFERENCE_SEED", "reconstruct", "reconstruction_subset", "reconstruction_reference",
           "evaluate_against_reconstructions", "reconstruction_floors"]
