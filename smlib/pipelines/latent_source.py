"""Where a latent diffusion run's latents come from, and what its decoder alone scores: the trained autoencoder
(the lab's variant at a seed, or a run folder of the user's), the real and the reconstruction reference sets, and the
decoder floor (chapters 5 and 6, through :mod:`smlib.pipelines.latent_diffusion`).

    ae    = obtain_autoencoder("esm", cfg, ctx, seed=0)     # the lab's ESM-AE at seed 0, trained or reused
    floor = decoder_floor(ae, cfg, ctx)                      # its reconstructions, scored like the samples
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field

import torch
from torch import nn

from smlib.data import image_subset
from smlib.data.latents import autoencoder_fingerprint
from smlib.metrics.generation import evaluate_generation
from smlib.metrics.reconstruction_reference import reconstruct, reconstruction_floors, reconstruction_reference
from smlib.metrics.reference import ReferenceSet, reference_set
from smlib.pipelines import autoencoder as lab
from smlib.pipelines.autoencoder import AutoencoderConfig
from smlib.provenance import provenance, recorded_path, repo_relative
from smlib.results import RunContext, read_result, runs_root, write_result
from smlib.metrics.bootstrap import bootstrap_intervals
from smlib.train.checkpoint import canonical_config

# ``cfg`` below is a :class:`smlib.pipelines.latent_diffusion.LatentDiffusionConfig` (not imported: that module
# imports this one)


@dataclass
class Autoencoder:
    """A trained autoencoder a run diffuses: the model (eval mode), its weights file, and what a result records of
    it (``info``: variant, seed, source, checkpoint and the lab run's scalar fields)."""

    model: nn.Module
    checkpoint: str
    info: dict = field(default_factory=dict)


def lab_config(cfg, dataset: str | None = None) -> AutoencoderConfig:
    """The lab preset whose autoencoders these runs diffuse (``cfg.ae_preset``), on the runs' dataset."""
    return AutoencoderConfig.at(cfg.ae_preset, dataset=dataset or cfg.dataset)


def obtain_autoencoder(variant: str, cfg, ctx: RunContext, seed: int,
                       folder=None) -> Autoencoder:
    """The autoencoder of ``variant`` trained at lab seed ``seed``: from an explicit lab run ``folder`` (its
    ``result.json`` and the weights beside it), else from :func:`smlib.pipelines.autoencoder.fit_autoencoder` at
    ``cfg.ae_preset``, which trains it or reuses the finished run under ``<runs>/autoencoders/``. There is no
    substitute: an unknown variant is an error."""
    if folder is not None:
        res, source = lab.read_run(folder), repo_relative(folder)
        model = lab.load_autoencoder(folder, ctx.device)
    else:
        res = lab.fit_autoencoder(variant, lab_config(cfg), data_root=ctx.data_root, device=ctx.device, seed=seed,
                                  runs_dir=ctx.runs_dir)
        source, model = "smlib.pipelines.autoencoder", lab.load_autoencoder(res, ctx.device)
    checkpoint = lab.weights_file(folder if folder is not None else res)
    info = {k: v for k, v in res.items() if isinstance(v, (str, int, float, bool))}
    info.update(variant=variant, source=source, checkpoint=recorded_path(checkpoint))
    return Autoencoder(model.eval(), str(checkpoint), info)


def real_reference(cfg, images: torch.Tensor, features) -> ReferenceSet:
    """The first ``n_reference`` training images of the subset, as Inception features (the one reference cache)."""
    return reference_set(cfg.dataset, cfg.split, cfg.resolution, cfg.n_reference, lambda: images[: cfg.n_reference],
                         features, subset=f"subset{cfg.subset_seed}")


def final_n(cfg) -> int:
    """The sample count of a run's final gFID: ``n_final_fid`` when it exceeds ``n_fid``, else ``n_fid``."""
    return int(cfg.n_final_fid) if cfg.n_final_fid and cfg.n_final_fid > cfg.n_fid else int(cfg.n_fid)


def recon_reference(ae: Autoencoder, cfg, images: torch.Tensor, features,
                    ctx: RunContext) -> ReferenceSet:
    """The autoencoder's reconstructions of the ``n_reference`` reference images as a reference set
    (:func:`smlib.metrics.reconstruction_reference.reconstruction_reference`), cached per autoencoder weights."""
    return reconstruction_reference(ae.model.to(ctx.device), images[: cfg.n_reference], features,
                                    dataset=cfg.dataset, split=cfg.split, resolution=cfg.resolution,
                                    subset=f"subset{cfg.subset_seed}",
                                    ae_key=autoencoder_fingerprint(checkpoint=ae.checkpoint))


def decoder_floor(ae: Autoencoder, cfg, ctx: RunContext) -> dict:
    """gFID-N and KID of the autoencoder's own reconstructions, scored exactly like the diffusion samples.

    N = the final gFID's sample count (``n_final_fid`` when it is larger than ``n_fid``, else ``n_fid``: FID-N is
    biased by N, so the floor is taken at the N it is compared with). N training images that are not in the
    reference set (``images[n_reference : n_reference + N]``) are encoded, one posterior sample each is drawn
    (seeded by 0, so every run of one autoencoder shares it) and decoded. A diffusion model that matched the latent
    distribution perfectly would score about this. With ``n_boot``, the floor carries its bootstrap interval; with
    ``recon_reference``, also ``fid_recon`` / ``kid_recon``, the same reconstructions against the reconstruction
    reference (an independent posterior draw): the floor of the reconstruction metric.
    Cached in ``<runs>/floors/`` under a key of the autoencoder's weights and the scoring settings."""
    n = final_n(cfg)
    key = canonical_config({"n_images": cfg.n_images, "n_reference": cfg.n_reference, "n_fid": n,
                            "kid_subset": cfg.kid_subset, "subset_seed": cfg.subset_seed, "resolution": cfg.resolution,
                            "dataset": cfg.dataset, "n_boot": cfg.n_boot, "autoencoder": repo_relative(ae.checkpoint),
                            "recon_reference": cfg.recon_reference})
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]
    path = runs_root(ctx.runs_dir) / "floors" / f"{ae.info.get('variant', 'ae')}-{digest}.json"
    done = read_result(path)
    if done is not None and done.get("config") == key:
        return done
    if cfg.n_images < cfg.n_reference + n:
        raise ValueError(f"the decoder floor needs n_images >= n_reference + N ({cfg.n_reference} + "
                         f"{n}), got {cfg.n_images}.")
    t0 = time.time()
    images, _ = image_subset(cfg.dataset, cfg.n_images, cfg.resolution, cfg.split, cfg.subset_seed, ctx.data_root)
    features = ctx.inception()
    reference = real_reference(cfg, images, features)
    held_out = images[cfg.n_reference: cfg.n_reference + n]
    if cfg.recon_reference:    # the decoder floor and the reconstruction metric's own floor, from one draw
        scores = reconstruction_floors(ae.model.to(ctx.device), held_out, features, reference,
                                       recon_reference(ae, cfg, images, features, ctx), seed=0,
                                       kid_subset=cfg.kid_subset)
        feats = scores.pop("sample_features")
    else:
        feats = features(reconstruct(ae.model.to(ctx.device), held_out, seed=0))
        scores = evaluate_generation(None, reference, sample_features=feats, kid_subset=cfg.kid_subset, seed=0)
    scores.update(bootstrap_intervals(feats, reference, cfg.n_boot, cfg.kid_subset, seed=0))
    out = {"variant": ae.info.get("variant"), "ae_seed": ae.info.get("seed"), "config": key, **scores,
           "wall_time_s": round(time.time() - t0, 2), "provenance": provenance()}
    write_result(path, out)
    return out


__all__ = ["Autoencoder", "lab_config", "obtain_autoencoder", "real_reference", "final_n", "recon_reference",
           "decoder_floor"]
