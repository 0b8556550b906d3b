"""Dead leaves: a synthetic image model with a power-law spectrum that needs no files.

Opaque discs ("leaves") fall on the plane and occlude each other. With radii distributed as p(r) ~ r^-3 between
``rmin`` and ``rmax`` the model is scale invariant over that range (Lee, Mumford & Huang, 2001), and its radially
averaged power spectrum falls roughly as f^-2 at frequencies between 1/rmax and 1/rmin, like photographs of natural
scenes. That makes it a controlled stand-in for natural images in the spectral chapters.

We render the view from above: discs are drawn in falling order and the first one that covers a pixel colours it.
Only discs that can touch the image matter; for the stationary process, a disc of radius r touches the
(1 + 2r)-wide square around a unit image with probability proportional to (1 + 2r)^2, so we sample radii from
p(r) ~ r^-3 (1 + 2r)^2 (radii in units of the image side) and centres uniformly in [-r, 1 + r]^2. This is the same
picture as sampling the whole plane, without the discs that could never be seen. Drawing stops when every pixel
is covered or after ``n_discs`` discs; pixels still bare (expected fraction 1e-3 with the default ``n_discs``) take
the colour of one more, infinitely large, leaf underneath.

Item j of a split is a pure function of (seed, split, j), so it is the same image in any process, in any order.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from smlib.data.base import ImageDataset

_SPLIT_STREAM = {"train": 0, "test": 1, "validation": 2}


def _radius_mixture(rmin: float, rmax: float) -> np.ndarray:
    """Unnormalised weights of r^-3, 4 r^-2 and 4 r^-1 on [rmin, rmax]: the three terms of r^-3 (1 + 2r)^2."""
    return np.array([(rmin ** -2 - rmax ** -2) / 2, 4 * (1 / rmin - 1 / rmax), 4 * math.log(rmax / rmin)])


def discs_for_coverage(rmin: float, rmax: float, bare: float = 1e-3) -> int:
    """Number of visible-candidate discs after which a pixel is still bare with probability ``bare``.

    rmin, rmax: radii in units of the image side. One disc covers a given pixel with probability
    E[pi r^2 / (1 + 2r)^2] = pi ln(rmax / rmin) / Z under the sampling law above (Z = its normaliser), so
    P(bare after n) = (1 - p)^n.
    """
    p = math.pi * math.log(rmax / rmin) / _radius_mixture(rmin, rmax).sum()
    return math.ceil(math.log(bare) / math.log1p(-p))


def render_dead_leaves(rng: np.random.Generator, resolution: int, rmin: float, rmax: float, n_discs: int,
                       chunk: int = 64) -> np.ndarray:
    """One dead-leaves image: (3, R, R) float32 in [-1, 1]; radii ``rmin``, ``rmax`` in pixels.

    Vectorised over pixels and over chunks of discs: each chunk tests only the pixels still bare, so the cost
    falls as the image fills up (a 32x32 image takes about a millisecond).
    """
    R = int(resolution)
    lo, hi = rmin / R, rmax / R
    u = rng.random((n_discs, 5))  # one stream of uniforms: its values do not depend on numpy's sampler versions
    w = _radius_mixture(lo, hi)
    cum = np.cumsum(w / w.sum())
    v = u[:, 1]
    r = np.where(u[:, 0] < cum[0], (lo ** -2 - v * (lo ** -2 - hi ** -2)) ** -0.5,        # inverse CDF of r^-3
                 np.where(u[:, 0] < cum[1], 1 / (1 / lo - v * (1 / lo - 1 / hi)),        # of r^-2
                          lo * (hi / lo) ** v))                                           # of r^-1
    cx, cy = u[:, 2] * (1 + 2 * r) - r, u[:, 3] * (1 + 2 * r) - r
    colours = rng.random((n_discs + 1, 3)).astype(np.float32) * 2 - 1  # last row: the leaf underneath everything

    g = (np.arange(R) + 0.5) / R  # pixel centres
    py, px = np.repeat(g, R), np.tile(g, R)
    top = np.full(R * R, n_discs, dtype=np.int64)
    bare = np.arange(R * R)
    r2 = r * r
    for s in range(0, n_discs, chunk):
        e = min(n_discs, s + chunk)
        inside = (py[bare][None] - cy[s:e, None]) ** 2 + (px[bare][None] - cx[s:e, None]) ** 2 < r2[s:e, None]
        hit = inside.any(0)
        top[bare[hit]] = s + inside[:, hit].argmax(0)  # the first disc to fall on a pixel is the one seen
        bare = bare[~hit]
        if bare.size == 0:
            break
    return colours[top].T.reshape(3, R, R)


class DeadLeaves(ImageDataset):
    """Synthetic dead-leaves images, generated on the fly: item j is a pure function of (seed, split, j).

    size: number of images in the split. rmin, rmax: disc radii in pixels of the output (default 1 and R / 2:
    leaves from pixel size to half the image, so the f^-2 range covers the whole band the spectral chapters fit).
    n_discs: the most discs drawn per image (default: enough to leave 1e-3 of the pixels bare in expectation).
    Labels are -1. Colours are uniform in [-1, 1]^3 per disc.
    """

    def __init__(self, split: str = "train", resolution: int = 32, *, size: int = 10000, seed: int = 0,
                 rmin: float = 1.0, rmax: float | None = None, n_discs: int | None = None, hflip: bool = False,
                 limit: int | None = None):
        if split not in _SPLIT_STREAM:
            raise ValueError(f"deadleaves split={split!r}: use one of {sorted(_SPLIT_STREAM)}.")
        rmax = resolution / 2 if rmax is None else float(rmax)
        if not 0 < rmin < rmax:
            raise ValueError(f"deadleaves needs 0 < rmin < rmax (pixels), got rmin={rmin}, rmax={rmax}.")
        if int(size) != size or size < 1:
            raise ValueError(f"deadleaves size={size!r} must be a positive integer (the number of images).")
        self.seed, self.rmin, self.rmax = int(seed), float(rmin), rmax
        self.n_discs = int(n_discs) if n_discs is not None else discs_for_coverage(rmin / resolution,
                                                                                   rmax / resolution)
        source = f"synthetic dead leaves (seed={self.seed}, r^-3 on [{self.rmin:g}, {self.rmax:g}] px)"
        super().__init__("deadleaves", split, resolution, _NoLabels(int(size)), hflip=hflip, source=source,
                         limit=limit)

    def _read(self, j: int) -> torch.Tensor:
        rng = np.random.default_rng([self.seed, _SPLIT_STREAM[self.split], j])
        return torch.from_numpy(render_dead_leaves(rng, self.resolution, self.rmin, self.rmax, self.n_discs))


class _NoLabels:
    """A length-n sequence of -1 without storing n ints."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, j: int) -> int:
        return -1


__all__ = ["DeadLeaves", "render_dead_leaves", "discs_for_coverage"]
