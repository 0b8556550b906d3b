"""What chapter 5b shows besides the sweep engine's tables: the arms' maps fitted live on the run's own latents,
what each map does to the spectrum (and to which band the scramble moves what), and the interval of each declared
effect read as the effects it rules out.

    cache, images = training_latents(cfg, ctx, ae)         # the run's own latent cache (same key, same file)
    maps = fit_arms(cache, images, cfg)                      # {arm: LatentTransform}, exactly as a run fits them
    spectra_rows(maps, fit_z, held_z)                        # each map's target reached, bin by bin
    band_moves(maps["scramble"])                             # how far the scramble moves content across bands
    (the intervals: smlib.verdicts.ruled_out_lines)

The verdict's sentences are :mod:`.verdict`'s.
"""
from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from smlib import book
from smlib.data import image_subset
from smlib.data.latents import build_latent_cache
from smlib.experiments.intervention.config import ARMS, InterventionConfig
from smlib.experiments.intervention.recipe import arm_transform, reconstruction_gap
from smlib.results import RunContext, runs_root, unpack_uint8
from smlib.spectral.latent_transforms import LatentTransform, ac_bins, band_counts, bin_frequencies, radial_power

#: the posterior draw of the held-out latents, as a run draws its frequency-analysis latents (seed 2)
HELD_OUT_SEED = 2


# ----------------------------------------------------------------------------------------------- the live maps
def _cache_args(cfg: InterventionConfig, ctx: RunContext, ae) -> dict:
    return dict(cache_dir=runs_root(ctx.runs_dir) / "latents", dataset=cfg.dataset, resolution=cfg.resolution,
                subset_seed=cfg.subset_seed, ae_checkpoint=ae.checkpoint, device=ctx.device,
                extra_meta={"variant": cfg.variant})


def training_latents(cfg: InterventionConfig, ctx: RunContext, ae):
    """(latent cache, training images (N, 3, H, W)) of a run at ``cfg``: the same ``n_images`` training images and
    flips, encoded by ``ae`` (an :class:`smlib.pipelines.latent_source.Autoencoder`) into the same cache file a run
    builds, so the maps fitted on it are the run's maps."""
    images, labels = image_subset(cfg.dataset, cfg.n_images, cfg.resolution, cfg.split, cfg.subset_seed,
                                  ctx.data_root)
    cache = build_latent_cache(ae.model, images, labels, split=cfg.split, flips=cfg.flips, store=cfg.store,
                               **_cache_args(cfg, ctx, ae))
    return cache, images


def held_out_latents(cfg: InterventionConfig, ctx: RunContext, ae) -> tuple[torch.Tensor, torch.Tensor]:
    """(latents z (n_freq, C, h, w), their test images): one posterior draw (seed :data:`HELD_OUT_SEED`) of the
    ``n_freq`` held-out test images a run measures its per-frequency error on."""
    images, labels = image_subset(cfg.dataset, cfg.n_freq, cfg.resolution, "test", cfg.subset_seed, ctx.data_root)
    cache = build_latent_cache(ae.model, images, labels, split="test", flips=False, store="moments",
                               **_cache_args(cfg, ctx, ae))
    return cache.sample(generator=torch.Generator().manual_seed(HELD_OUT_SEED)), images


def fit_arms(cache, images: torch.Tensor, cfg: InterventionConfig, arms: Sequence[str] | None = None
             ) -> dict[str, LatentTransform]:
    """{arm: its map} fitted by :func:`smlib.experiments.intervention.arm_transform`, the function a run calls."""
    return {a: arm_transform(a, cache, images, cfg) for a in (arms or ARMS)}


def spectrum_error(transform: LatentTransform, z: torch.Tensor) -> float:
    """Largest relative deviation of the radial power of T z from the map's target, over channels and occupied
    bins: 0 (to round-off) on the latents it was fitted on. z: (B, C, h, w)."""
    after = radial_power(transform.forward(z.double()), int(transform.info.get("n_bins", 16)))
    target = transform.target_power.expand_as(after) if transform.gains.shape[0] == 1 else transform.target_power
    occupied = band_counts(*transform.grid, int(transform.info.get("n_bins", 16))) > 0
    return float(((after - target).abs() / target)[:, occupied].max())


def spectra_rows(transforms: Mapping[str, LatentTransform], fit_z: torch.Tensor, held_z: torch.Tensor) -> list[dict]:
    """One row per arm: its gain range, and how closely T reaches the target on the fitting latents ``fit_z`` and
    on held-out latents ``held_z`` (largest relative deviation over channels and bins, :func:`spectrum_error`)."""
    return [{"arm": a, "label": ARMS[a][1], "gain_min": t.gain_range[0], "gain_max": t.gain_range[1],
             "fit_error": spectrum_error(t, fit_z), "held_error": spectrum_error(t, held_z)}
            for a, t in transforms.items()]


def reconstruction_gaps(ae_model, transforms: Mapping[str, LatentTransform], images: torch.Tensor) -> dict:
    """{arm: max |D(T^-1 T z) - D(z)|} over the reconstructions of ``images`` (:func:`reconstruction_gap`)."""
    return {a: reconstruction_gap(ae_model, t, images) for a, t in transforms.items()}


def band_moves(transform: LatentTransform) -> dict:
    """Where a map's permutation moves content across radial bins (DC excluded): ``moved_share`` (share of AC
    positions whose content comes from another bin), ``mean_shift`` (mean |bin of origin - bin|), and ``low_from``
    / ``high_from``: the mean bin of origin of the content now in the lowest / highest occupied bin. A map without a
    permutation moves nothing (0, 0, and each bin its own)."""
    h, w = transform.grid
    n_bins = int(transform.info.get("n_bins", 16))
    bins = ac_bins(h, w, n_bins).reshape(-1)
    perm = transform.perm if transform.perm is not None else torch.arange(h * w)
    dest, src = bins[1:], bins[perm][1:]
    occupied = [b for b in range(n_bins) if bool((dest == b).any())]
    return {"moved_share": float((dest != src).double().mean()),
            "mean_shift": float((dest - src).abs().double().mean()),
            "low_bin": occupied[0], "low_from": float(src[dest == occupied[0]].double().mean()),
            "high_bin": occupied[-1], "high_from": float(src[dest == occupied[-1]].double().mean())}


def radial_kept(transform: LatentTransform, z: torch.Tensor) -> float:
    """Largest relative change of the per-channel radial power that T makes to ``z`` (B, C, h, w), over occupied
    bins: 0 (to round-off) for the scramble on its fitting latents."""
    n_bins = int(transform.info.get("n_bins", 16))
    before = radial_power(z.double(), n_bins)
    after = radial_power(transform.forward(z.double()), n_bins)
    occupied = band_counts(*transform.grid, n_bins) > 0
    return float(((after - before).abs() / before)[:, occupied].max())


def spectral_slope(power, frequency) -> float:
    """Least-squares slope of log power against log frequency over the bins where both are finite and positive:
    power, frequency (n_bins,) (a channel-mean radial spectrum and :func:`smlib.spectral.latent_transforms.
    bin_frequencies`). 0 for a flat spectrum; the more negative, the steeper. NaN with fewer than two bins."""
    p, f = np.asarray(power, dtype=float), np.asarray(frequency, dtype=float)
    keep = np.isfinite(p) & np.isfinite(f) & (p > 0) & (f > 0)
    if keep.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(f[keep]), np.log(p[keep]), 1)[0])


def slopes(transforms: Mapping[str, LatentTransform]) -> dict[str, float]:
    """{"as trained": the latent's own slope, arm: its target's slope} of channel-mean radial spectra, from the
    maps' records (:attr:`LatentTransform.source_power` / ``target_power``), rounded to 1e-6; the book reads them
    from its runs."""
    first = next(iter(transforms.values()))
    freq = bin_frequencies(*first.grid, int(first.info.get("n_bins", 16))).numpy()
    out = {"as trained": spectral_slope(first.source_power.mean(0).numpy(), freq)}
    out.update({a: spectral_slope(t.target_power.mean(0).numpy(), freq) for a, t in transforms.items()})
    return {k: round(v, 6) + 0.0 for k, v in out.items()}     # a flat target's round-off slope prints as +0.00


# ----------------------------------------------------------------------------------------------- the book's runs
def run_samples(run: Mapping) -> np.ndarray | None:
    """A run's samples as (n, 3, H, W) uint8: the packed ``samples`` its file holds, else its ``grid`` file when
    that is on this machine (``runs/`` is not committed), else None."""
    if run.get("samples"):
        return unpack_uint8(run["samples"])
    if run.get("grid"):
        from smlib.provenance import resolve_repo_path
        path = resolve_repo_path(run["grid"])
        if path.is_file():
            return torch.load(path, weights_only=True).numpy()
    return None


def source_excerpt(obj, first: str, last: str) -> book.Source:
    """The lines of a library function from the first line containing ``first`` to the next line containing
    ``last`` (both kept), as a :class:`smlib.book.Source` with their true line numbers: the core of a long
    function, quoted from the file the notebook runs. A marker that is not found is a one-line error."""
    src = book.show_source(obj)
    lines = src.code.splitlines()
    try:
        i = next(n for n, line in enumerate(lines) if first in line)
        j = next(n for n in range(i, len(lines)) if last in lines[n])
    except StopIteration:
        raise ValueError(f"{src.name} has no line containing {first!r} followed by one containing {last!r}; "
                         "pick markers from its source.") from None
    return book.Source(src.name, src.path, src.first + i, src.first + i + (j - i),
                       textwrap.dedent("\n".join(lines[i: j + 1])))


__all__ = ["HELD_OUT_SEED", "training_latents", "held_out_latents", "fit_arms", "spectrum_error", "spectra_rows",
           "reconstruction_gaps", "band_moves", "radial_kept", "spectral_slope", "slopes", "run_samples",
           "source_excerpt"]
