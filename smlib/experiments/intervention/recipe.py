"""Chapter 5b's recipe (notebook ``05b_intervention``): one autoencoder, its latent spectrum changed by an invertible
linear map, nothing else; the sweep of the arms and its declared comparisons.

    cfg = InterventionConfig.at("small")
    SWEEP.run(cfg, RunContext())          # results/intervention/small/<arm>-seed<k>.json
    python -m smlib intervention --preset small --arm all --seeds 0 1 2 3 4

A run is chapter 5's latent diffusion pipeline (:func:`smlib.pipelines.latent_diffusion.run`) on the latents of one
autoencoder (the lab's ``variant`` at ``ae_seed``), with every latent passing through the arm's map T
(:func:`smlib.spectral.latent_transforms.fit_transform`, fitted on the same seeded posterior draw of the training
cache that the normaliser is fitted on, and on the training images for the image-shaped targets): the model trains
on normalise(T z), its samples decode as D(T^-1 denormalise(u)), and its per-frequency errors are measured on T of
the held-out latents. T is applied in float64 after the posterior draw (T of a diagonal Gaussian is not diagonal,
so the cache keeps the moments of z). D(T^-1 T z) = D(z): the decoder, its floor and the reconstruction reference are
the same for every arm, which each run checks and records (``reconstruction_gap``).

**What was declared, and when**: ``declared.toml`` beside this module, committed before the first run.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from smlib.data import image_batch
from smlib.data.latents import LatentCache, fit_normalizer
from smlib.experiments.intervention.config import ARMS, InterventionConfig
from smlib.metrics.reconstruction_reference import reconstruct
from smlib.pipelines import latent_diffusion as ld
from smlib.provenance import resolve_repo_path
from smlib.results import RunContext, pack_uint8
from smlib.spectral.latent_transforms import LatentTransform, fit_transform
from smlib.sweep import Metric, Sweep, final, load_families


#: samples of the final EMA model kept in each run's file (uint8, packed), for the book's figures
N_SAMPLES = 8
#: held-out test images on which every run checks that its decoder reads the same latents (D(T^-1 T z) = D(z))
N_GAP_IMAGES = 64


class TransformedNormalizer:
    """The arm's map inside the normaliser: u = base.normalize(T z), z = T^-1 base.denormalize(u), T in float64 (the
    map's round trip is exact to float64 round-off, so the float32 latents come back bit for bit)."""

    def __init__(self, transform: LatentTransform, base):
        self.transform, self.base = transform, base

    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, d, h, w) -> u (B, d, h, w)."""
        return self.base.normalize(self.transform.forward(z.double()).to(z.dtype))

    def denormalize(self, u: torch.Tensor) -> torch.Tensor:
        """u (B, d, h, w) -> z (B, d, h, w), what the decoder takes."""
        return self.transform.inverse(self.base.denormalize(u).double()).to(u.dtype)

    def to_dict(self) -> dict:
        return {"base": self.base.to_dict(), "transform": self.transform.to_dict()}


def arm_transform(arm: str, cache: LatentCache, images: torch.Tensor, cfg: InterventionConfig) -> LatentTransform:
    """The arm's map, fitted on one seeded posterior draw of every cache entry (seed 0, as the normaliser) and, for
    the image-shaped targets, on the training ``images`` (N, 3, H, W)."""
    kind = ARMS[arm][0]
    z = cache.sample(torch.arange(len(cache)), torch.Generator().manual_seed(0)).double()
    return fit_transform(kind, z, images if kind in ("image", "esm", "steeper") else None,
                         per_channel=cfg.per_channel, level=cfg.transform_level, delta=cfg.delta,
                         steepen=cfg.steepen, order=cfg.scramble_order)


def normalizer_for(arm: str, cfg: InterventionConfig):
    """``(cache, images) -> TransformedNormalizer`` for :func:`smlib.pipelines.latent_diffusion.run`: the arm's map,
    then the config's normalisation fitted on the mapped draw (with ``level="preserve"`` the same for every arm)."""
    def make(cache: LatentCache, images: torch.Tensor) -> TransformedNormalizer:
        transform = arm_transform(arm, cache, images, cfg)
        mapped = MappedCache(cache, transform)
        return TransformedNormalizer(transform, fit_normalizer(mapped, cfg.norm_mode, seed=0))
    return make


class MappedCache:
    """A latent cache seen through a map: ``sample`` draws from the cache, then applies T (float64)."""

    def __init__(self, cache: LatentCache, transform: LatentTransform):
        self.cache, self.transform = cache, transform

    def __len__(self) -> int:
        return len(self.cache)

    def sample(self, rows=None, generator=None) -> torch.Tensor:
        z = self.cache.sample(rows, generator)
        return self.transform.forward(z.double()).to(z.dtype)


@torch.no_grad()
def reconstruction_gap(ae, transform: LatentTransform, images: torch.Tensor) -> float:
    """max |D(T^-1 T z) - D(z)| over the reconstructions of ``images`` (one posterior draw, seed 0): 0 when every
    arm decodes exactly what the autoencoder always decoded."""
    plain = reconstruct(ae, images, seed=0)
    mapped = reconstruct(_Through(ae, transform), images, seed=0)
    return float((plain - mapped).abs().max())


class _Through(torch.nn.Module):
    """An autoencoder whose decoder first maps z -> T^-1 T z (float64): what every arm's samples go through."""

    def __init__(self, ae, transform: LatentTransform):
        super().__init__()
        self.ae, self.transform = ae, transform

    def encode(self, x):
        return self.ae.encode(x)

    def decode(self, z):
        t = self.transform
        return self.ae.decode(t.inverse(t.forward(z.double())).to(z.dtype))


def run_arm(arm: str, seed: int, cfg: InterventionConfig, ctx: RunContext) -> dict:
    """One arm and diffusion seed: the latent diffusion run through the arm's map, with its fitted map (``transform``)
    and the decoder's agreement across the map (``reconstruction_gap``) recorded; cached in
    ``<runs>/intervention/<preset>/<dataset>/<arm>/seed<k>``."""
    ae = ld.obtain_autoencoder(cfg.variant, cfg, ctx, int(cfg.ae_seed))
    out = ld.run_dir(ctx.runs_dir, "intervention", cfg.preset, cfg.dataset, arm, seed)
    r = ld.run(cfg.variant, cfg, seed, ctx, out_dir=out, ae=ae, normalizer_for=normalizer_for(arm, cfg))
    r.update(arm=arm, label=ARMS[arm][1], kind=ARMS[arm][0])
    grid = resolve_repo_path(r["grid"]) if r.get("grid") else None
    if grid is not None and grid.is_file() and "samples" not in r:   # a few samples in the file: runs/ is not committed
        r["samples"] = pack_uint8(torch.load(grid, weights_only=True)[:N_SAMPLES])
    if r.get("completed") and ctx.is_main and "reconstruction_gap" not in r:
        images = image_batch(cfg.dataset, N_GAP_IMAGES, cfg.resolution, split="test", seed=0, root=ctx.data_root)
        transform = LatentTransform.from_dict(r["normalizer"]["transform"])
        r["reconstruction_gap"] = reconstruction_gap(ae.model.to(ctx.device), transform, images)
        r["transform_key"] = hashlib.sha1(json.dumps(r["normalizer"]["transform"], sort_keys=True).encode()
                                          ).hexdigest()[:10]
        if cfg.n_fid:          # one decoder, so one floor for every arm (cached)
            r["floor"] = {k: v for k, v in ld.decoder_floor(ae, cfg, ctx).items() if k != "config"}
    return r


METRICS = (
    Metric("fid_recon", "gFID vs reconstructions", final("fid_recon")),
    Metric("fid", "gFID", final("fid")),
    Metric("kid", "KID x1e3", final("kid"), scale=1e3, fmt=".2f"),
    Metric("unrecovered_trained", "unrecovered (model)", lambda r: (r.get("frequency_summary") or {}).get(
        "unrecovered_trained"), fmt=".3f"),
)
FAMILIES = load_families(Path(__file__).with_name("declared.toml"))
SWEEP = Sweep("intervention", {a: label for a, (_, label) in ARMS.items()}, METRICS, FAMILIES, run_arm)

__all__ = ["TransformedNormalizer", "MappedCache", "arm_transform", "normalizer_for", "reconstruction_gap", "run_arm",
           "METRICS", "FAMILIES", "SWEEP"]
