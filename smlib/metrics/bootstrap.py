"""The sampling noise of one generation score: bootstrap resamples of the N sample rows of gFID-N and KID against
a fixed reference (the spread a run records beside its final score, ``fid_boot_std``).

    spread = bootstrap_intervals(sample_features, reference, n_boot=50, kid_subset=250)
"""
from __future__ import annotations

import numpy as np

from smlib.metrics.fid import frechet_distance_fast, kid_full_reference


def _percentile_interval(samples: np.ndarray, level: float) -> tuple[float, float]:
    lo, hi = np.percentile(samples, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)


def bootstrap_fid(sample_features: np.ndarray, ref_mu: np.ndarray, ref_sigma: np.ndarray, *, n_boot: int = 200,
                  seed: int = 0, level: float = 0.95) -> dict:
    """FID-N against fixed reference statistics, and its spread over bootstrap resamples of the N sample rows:
    {"fid", "low", "high" (percentile interval), "std", "n_boot", "n_samples"}. A resample repeats rows (about 63%
    of them distinct), which inflates FID-N's small-sample bias, so the interval sits above the point estimate and at
    N = 1,000 can lie wholly above it (gFID 154 with [163, 168] in a chapter 5b run): read ``std`` as the sampling
    spread; the interval is not a confidence interval for the estimate, and the book uses only the spread."""
    x = np.asarray(sample_features, np.float64)
    rng = np.random.default_rng(seed)
    boots = np.array([frechet_distance_fast(x[rng.integers(0, len(x), len(x))], ref_mu, ref_sigma)
                      for _ in range(int(n_boot))])
    low, high = _percentile_interval(boots, level)
    return {"fid": float(frechet_distance_fast(x, ref_mu, ref_sigma)), "low": low, "high": high,
            "std": float(boots.std(ddof=1)), "n_boot": int(n_boot), "n_samples": int(len(x))}


def bootstrap_kid(sample_features: np.ndarray, reference_features: np.ndarray, *, n_boot: int = 200, seed: int = 0,
                  level: float = 0.95, subset_size: int | None = None) -> dict:
    """KID over the whole reference set (:func:`~smlib.metrics.fid.kid_full_reference`) and its spread over
    bootstrap resamples of the sample rows: {"kid", "low", "high", "std", "n_boot", "n_samples"}."""
    x, y = np.asarray(sample_features, np.float64), np.asarray(reference_features, np.float64)
    rng = np.random.default_rng(seed)
    boots = np.array([kid_full_reference(x[rng.integers(0, len(x), len(x))], y, subset_size=subset_size)[0]
                      for _ in range(int(n_boot))])
    low, high = _percentile_interval(boots, level)
    return {"kid": kid_full_reference(x, y, subset_size=subset_size)[0], "low": low, "high": high,
            "std": float(boots.std(ddof=1)), "n_boot": int(n_boot), "n_samples": int(len(x))}


def bootstrap_intervals(features: np.ndarray, reference, n_boot: int, kid_subset: int | None, seed: int = 0) -> dict:
    """Bootstrap spreads and percentile intervals of gFID-N and KID over the N sample rows against a
    :class:`smlib.metrics.reference.ReferenceSet` (:func:`bootstrap_fid`, whose interval sits above the estimate, and
    :func:`bootstrap_kid`): ``fid_low``, ``fid_high``, ``fid_boot_std``, ``kid_low``, ``kid_high``, ``n_boot``; {}
    when ``n_boot`` is 0."""
    if not n_boot:
        return {}
    subset = min(kid_subset or len(features), reference.n)
    f = bootstrap_fid(features, reference.stats.mu, reference.stats.sigma, n_boot=n_boot, seed=seed)
    k = bootstrap_kid(features, reference.features, n_boot=n_boot, seed=seed, subset_size=subset)
    return {"fid_low": f["low"], "fid_high": f["high"], "fid_boot_std": f["std"], "kid_low": k["low"],
            "kid_high": k["high"], "n_boot": int(n_boot)}


__all__ = ["bootstrap_fid", "bootstrap_kid", "bootstrap_intervals"]
