"""One cache of reference features for every FID, KID and precision/recall in the book.

A reference set is the feature matrix (N, D) of N real images and its Gaussian statistics. It is computed once
and stored as ``<cache>/references/<key>.npz``; the key spells out everything the features depend on:

    cifar10_train_32px_n1000_subset0_inception-pool3-tf          dataset, split, resolution, N, which images, extractor
    cifar10_test_32px_n500_seed0-lowpass-b8-k10_inception-pool3-tf    ... and a transform applied to them

Features are kept (not only mu and Sigma) because KID, precision/recall and the bootstrap intervals of
:mod:`smlib.stats` need the rows. The default cache is the smlib cache (``$SMLIB_CACHE`` or ``~/.cache/smlib``),
shared by all checkouts: the key, not the folder, identifies the content. A file whose stored key differs from
the one asked for is refused with one line.
"""
from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from smlib.atomic import atomic_path
from smlib.metrics.fid import ReferenceStats


@dataclass
class ReferenceSet:
    """Features (N, D) of reference images, their Gaussian statistics, and the cache key naming them."""

    features: np.ndarray
    stats: ReferenceStats
    key: str

    @property
    def n(self) -> int:
        return int(self.features.shape[0])


def reference_key(dataset: str, split: str, resolution: int, n: int, feature: str, subset: str = "") -> str:
    """File-name-safe key, e.g. ``cifar10_train_32px_n1000_subset0_inception-pool3-tf``; ``subset`` says which
    images of the split (a seed, a transform), empty for the first n."""
    parts = [dataset, split, f"{int(resolution)}px", f"n{int(n)}"] + ([subset] if subset else []) + [feature]
    return re.sub(r"[^A-Za-z0-9._-]+", "-", "_".join(parts))


def default_reference_dir() -> Path:
    """``<smlib cache>/references``."""
    from smlib.data import cache_dir

    return cache_dir() / "references"


def _as_batches(images) -> Iterable[torch.Tensor]:
    source = images() if callable(images) else images
    if isinstance(source, torch.Tensor):
        return [source]
    return (b[0] if isinstance(b, (tuple, list)) else b for b in source)


def reference_set(dataset: str, split: str, resolution: int, n: int,
                  images: torch.Tensor | Iterable | Callable[[], torch.Tensor | Iterable],
                  features: Callable[[torch.Tensor], np.ndarray], *, subset: str = "",
                  cache_dir: str | os.PathLike | None = None, feature: str | None = None) -> ReferenceSet:
    """The reference set of ``n`` images, from the cache or computed now and cached atomically.

    images: (n, 3, H, W) in [-1, 1], an iterable of such batches (or (images, labels) tuples), or a zero-argument
        callable returning either; consumed only on a cache miss, and exactly ``n`` images are used.
    features: images -> (B, D) numpy, e.g. :class:`~smlib.metrics.inception.InceptionFeatures`; its
        ``feature_id`` names the features unless ``feature`` is given.
    subset: which images of the split these are (``"subset0"``, ``"seed0-lowpass-b8-k10"``), part of the key.
    """
    feature = feature or getattr(features, "feature_id", None)
    if not feature:
        raise ValueError("name the feature extractor: pass feature='...' or a features object with .feature_id.")
    key = reference_key(dataset, split, resolution, n, feature, subset)
    path = Path(cache_dir) if cache_dir is not None else default_reference_dir()
    path = path / f"{key}.npz"
    if path.is_file():
        with np.load(path) as z:
            if str(z["key"]) != key:
                raise ValueError(f"{path} holds {str(z['key'])!r}, not {key!r}; delete the file.")
            feats = z["features"]
    else:
        chunks, seen = [], 0
        for x in _as_batches(images):
            x = x[: n - seen]
            chunks.append(np.asarray(features(x), dtype=np.float64))
            seen += x.shape[0]
            if seen >= n:
                break
        if seen < n:
            raise ValueError(f"the reference images ran out after {seen} of n={n}; lower n or pass more images.")
        feats = np.concatenate(chunks)
        with atomic_path(path) as tmp:   # the suffix is kept, so np.savez adds none
            np.savez(tmp, features=feats, key=np.str_(key), dataset=np.str_(dataset), split=np.str_(split),
                     resolution=np.int64(resolution), feature=np.str_(feature))
    return ReferenceSet(feats, ReferenceStats.from_features(feats, feature, key), key)


__all__ = ["ReferenceSet", "reference_key", "reference_set", "default_reference_dir"]
