"""The one Dataset shape every smlib dataset has: items ``(image, label)``, a fixed order, an optional limit."""
from __future__ import annotations

import operator
from collections.abc import Sequence

import torch
from torch.utils.data import Dataset

from smlib.data.transforms import random_hflip


def evenly_spaced(n: int, limit: int | None) -> list[int]:
    """Indices ``floor(i * n / limit)``, i < limit: a subset spread over the whole order, so a small limit of a
    class-sorted dataset still holds every class in proportion. ``limit=None`` (or >= n) keeps all n."""
    if limit is None or limit >= n:
        return list(range(n))
    if int(limit) != limit or limit < 1:
        raise ValueError(f"limit={limit!r} must be a positive integer (or None for the whole split).")
    return [i * n // int(limit) for i in range(int(limit))]


class ImageDataset(Dataset):
    """Map-style dataset of ``(image, label)``: image (C, R, R) float32 in [-1, 1], label an int (-1: none).

    Subclasses implement ``_read(j) -> (C, R, R)`` for position j of the full split; this class applies the order
    and the limit, the optional random horizontal flip (torch's global generator, seeded per worker by the
    DataLoader), and carries what a result needs to name its data: ``name``, ``split``, ``resolution``,
    ``classes`` (tuple of names or None) and ``source`` (a path, or a description of a synthetic source).
    """

    def __init__(self, name: str, split: str, resolution: int, labels: Sequence[int], *, hflip: bool = False,
                 classes: Sequence[str] | None = None, source: str = "", limit: int | None = None):
        self.name, self.split, self.resolution, self.hflip = name, split, int(resolution), bool(hflip)
        self.classes = tuple(classes) if classes is not None else None
        self.source = str(source)
        self._labels = labels
        self._order = evenly_spaced(len(labels), limit)

    def _read(self, j: int) -> torch.Tensor:
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self._order)

    def label(self, i: int) -> int:
        """Label of item i without reading its image (-1 when the dataset has none)."""
        return int(self._labels[self._order[operator.index(i)]])

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        j = self._order[operator.index(i)]  # list indexing: negative ok, out of range -> IndexError
        x = self._read(j)
        if self.hflip:
            x = random_hflip(x)
        return x, int(self._labels[j])

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(name={self.name!r}, split={self.split!r}, n={len(self)}, "
                f"resolution={self.resolution}, hflip={self.hflip}, source={self.source!r})")


__all__ = ["ImageDataset", "evenly_spaced"]
