"""Frechet distance (FID), kernel inception distance (KID), and a cache of reference statistics.

FID (Heusel et al., 2017) fits a Gaussian to each feature set and takes the Frechet (2-Wasserstein) distance

    FID = ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^{1/2}),

computed as pytorch-fid does: ``scipy.linalg.sqrtm`` of S1 S2 in float64, with ``eps * I`` added to both
covariances if the square root is not finite, and the (tiny) imaginary part dropped. FID is biased upward at small
sample counts and the bias depends on n, so **an FID is only comparable to another at the same n**: every
result here is a :class:`FIDResult` that carries its counts and prints as ``FID-500 = ...``.

KID (Binkowski et al., 2018) is the unbiased estimate of the squared MMD with the cubic polynomial kernel
``k(x, y) = (x.y / d + 1)^3``, averaged over random subsets. It is unbiased, so it can be compared across n and
is the better number when only a few hundred samples are affordable (as on a CPU).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import torch

from smlib.metrics.inception import INCEPTION_FEATURE_ID


# ------------------------------------------------------------------------------------------------ statistics
def feature_statistics(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of a feature set, as in pytorch-fid.

    feats: (N, D), N >= 2  ->  mu (D,) float64, sigma (D, D) float64 (unbiased, divides by N - 1).
    """
    feats = np.asarray(feats, dtype=np.float64)
    if feats.ndim != 2 or feats.shape[0] < 2:
        raise ValueError(f"feature_statistics needs an (N, D) array with N >= 2, got shape {feats.shape}.")
    return feats.mean(axis=0), np.cov(feats, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2).

    mu1, mu2: (D,);  sigma1, sigma2: (D, D) symmetric PSD.  Returns a float >= 0 (up to round-off).
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    d = mu1.shape[0]
    if mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(f"shape mismatch: mu {mu1.shape}/{mu2.shape}, sigma {sigma1.shape}/{sigma2.shape}; "
                         "both Gaussians must live in the same feature space.")
    diff = mu1 - mu2
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        # Singular product (e.g. fewer samples than dimensions): regularise both covariances, as pytorch-fid does.
        offset = np.eye(d) * eps
        covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        worst = np.abs(np.diagonal(covmean).imag).max()
        if worst > 1e-3:
            raise ValueError(f"sqrtm(sigma1 @ sigma2) has an imaginary part of {worst:.3g}; the covariances are "
                             "ill-conditioned: use more samples than feature dimensions.")
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


# ------------------------------------------------------------------------------------------------------- KID
def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """KID's kernel ``(x.y / d + 1)^3``: x (M, D), y (N, D) -> (M, N) float64."""
    d = x.shape[1]
    return (x @ y.T / d + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with :func:`polynomial_kernel` (diagonal terms of k(x, x), k(y, y) excluded).

    x: (M, D), y: (N, D), M, N >= 2.  Returns a float whose expectation is 0 when x and y share a distribution.
    """
    m, n = x.shape[0], y.shape[0]
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    term_xx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    term_yy = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(term_xx + term_yy - 2.0 * kxy.mean())


def kid(feats1: np.ndarray, feats2: np.ndarray, subset_size: int = 1000, n_subsets: int = 100,
        seed: int = 0) -> tuple[float, float]:
    """Kernel inception distance: mean and standard deviation of unbiased MMD^2 over random subsets.

    feats1: (N1, D), feats2: (N2, D).  Each of ``n_subsets`` rounds draws ``subset_size`` rows from each set
    without replacement (seeded, so the result is reproducible). Returns (mean, std) with std over subsets
    (ddof 0, as in torch-fidelity); the standard error of the mean is ``std / sqrt(n_subsets)`` only if the
    subsets were independent, which they are not when they overlap.
    """
    feats1, feats2 = np.asarray(feats1, np.float64), np.asarray(feats2, np.float64)
    if feats1.ndim != 2 or feats2.ndim != 2 or feats1.shape[1] != feats2.shape[1]:
        raise ValueError(f"kid needs two (N, D) arrays with the same D, got {feats1.shape} and {feats2.shape}.")
    smallest = min(feats1.shape[0], feats2.shape[0])
    if not 2 <= subset_size <= smallest:
        raise ValueError(f"subset_size={subset_size} must be between 2 and the smaller set size {smallest}; "
                         f"pass subset_size={smallest} or more samples.")
    rng = np.random.default_rng(seed)
    values = [mmd2_unbiased(feats1[rng.choice(feats1.shape[0], subset_size, replace=False)],
                            feats2[rng.choice(feats2.shape[0], subset_size, replace=False)])
              for _ in range(n_subsets)]
    return float(np.mean(values)), float(np.std(values))


def kid_full_reference(sample_feats: np.ndarray, reference_feats: np.ndarray, *, subset_size: int | None = None,
                       n_rounds: int = 1, seed: int = 0) -> tuple[float, float]:
    """KID that uses every reference row: the reference set is shuffled (seeded) and cut into
    ceil(N_ref / m) disjoint blocks of about m rows (m = ``subset_size``, default min(N, N_ref)); each block is
    scored against *all* N samples with :func:`mmd2_unbiased`, and the mean and std (ddof 0) over blocks are
    returned. ``n_rounds`` > 1 repeats with new shuffles (more blocks, the same rows).

    sample_feats: (N, D), reference_feats: (N_ref, D). With N_ref = m this is the plain unbiased MMD^2 of the two
    sets; unlike :func:`kid` with one random subset it never leaves reference rows unused."""
    x, y = np.asarray(sample_feats, np.float64), np.asarray(reference_feats, np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1] or min(len(x), len(y)) < 2:
        raise ValueError(f"kid_full_reference needs two (N, D) arrays with the same D and N >= 2, got {x.shape} "
                         f"and {y.shape}.")
    m = int(subset_size or min(len(x), len(y)))
    if not 2 <= m <= len(y):
        raise ValueError(f"subset_size={m} must be between 2 and the reference size {len(y)}.")
    rng = np.random.default_rng(seed)
    n_blocks = -(-len(y) // m)
    values = [mmd2_unbiased(x, y[block]) for _ in range(int(n_rounds))
              for block in np.array_split(rng.permutation(len(y)), n_blocks)]
    return float(np.mean(values)), float(np.std(values))


# --------------------------------------------------------------------------------------------------- results
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


def _count(n: int) -> str:
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


@dataclass(frozen=True)
class FIDResult:
    """An FID value with the sample counts it depends on. ``str(r)`` -> ``'FID-500 = 31.42 (500 vs 10k ...)'``."""

    fid: float
    n_samples: int
    n_reference: int
    feature: str = INCEPTION_FEATURE_ID

    @property
    def label(self) -> str:
        """``FID-<n_samples>``, e.g. ``FID-500`` or ``FID-50k``."""
        return f"FID-{_count(self.n_samples)}"

    def __float__(self) -> float:
        return float(self.fid)

    def __str__(self) -> str:
        return (f"{self.label} = {self.fid:.2f} ({self.n_samples} samples vs {self.n_reference} reference images, "
                f"{self.feature})")


@dataclass(frozen=True)
class ReferenceStats:
    """Gaussian statistics of a reference set: mu (D,), sigma (D, D), the image count n and a cache key."""

    mu: np.ndarray
    sigma: np.ndarray
    n: int
    feature: str
    key: str = ""

    @classmethod
    def from_features(cls, feats: np.ndarray, feature: str = INCEPTION_FEATURE_ID, key: str = "") -> "ReferenceStats":
        """Statistics of feats (N, D)."""
        mu, sigma = feature_statistics(feats)
        return cls(mu, sigma, int(np.asarray(feats).shape[0]), feature, key)


def fid_from_features(feats: np.ndarray, reference: ReferenceStats | np.ndarray,
                      feature: str = INCEPTION_FEATURE_ID) -> FIDResult:
    """FID of generated features (N, D) against reference statistics (or raw reference features (M, D))."""
    if not isinstance(reference, ReferenceStats):
        reference = ReferenceStats.from_features(reference, feature)
    if reference.feature != feature:
        raise ValueError(f"reference statistics use {reference.feature!r} features but the samples use "
                         f"{feature!r}; recompute one of them with the same extractor.")
    mu, sigma = feature_statistics(feats)
    value = frechet_distance(mu, sigma, reference.mu, reference.sigma)
    return FIDResult(value, int(np.asarray(feats).shape[0]), reference.n, feature)


__all__ = ["feature_statistics", "frechet_distance", "polynomial_kernel", "mmd2_unbiased", "kid", "FIDResult",
           "ReferenceStats", "fid_from_features", "precision_recall", "frechet_distance_fast", "kid_full_reference"]
