"""Datasets by name, a seeded batch of images, and a seeded DataLoader."""
from __future__ import annotations

import inspect

import torch
from torch.utils.data import DataLoader, Dataset

from smlib.data.deadleaves import DeadLeaves
from smlib.data.files import find_celeba, find_cifar10, find_folder, find_mnist


def _deadleaves(split="train", resolution=32, root=None, download=False, limit=None, hflip=False, **kw):
    return DeadLeaves(split, resolution, hflip=hflip, limit=limit, **kw)


_DATASETS = {
    "cifar10": find_cifar10,
    "celeba": find_celeba,
    "mnist": find_mnist,
    "folder": find_folder,
    "deadleaves": _deadleaves,
}
_OPTIONS = {"deadleaves": ("size", "seed", "rmin", "rmax", "n_discs")}  # the rest: read from the signatures


def list_datasets() -> list[str]:
    """The names ``load_dataset`` knows: ``['cifar10', 'celeba', 'mnist', 'folder', 'deadleaves']``."""
    return list(_DATASETS)


def _options(name: str) -> tuple[str, ...]:
    if name in _OPTIONS:
        return _OPTIONS[name]
    common = {"split", "resolution", "root", "download", "limit", "hflip"}
    return tuple(p for p in inspect.signature(_DATASETS[name]).parameters if p not in common)


def load_dataset(name: str, split: str = "train", resolution: int = 32, root=None, download: bool = False,
                 limit: int | None = None, hflip: bool = False, **kw) -> Dataset:
    """A dataset by name; items are ``(image, label)``, image (C, R, R) float32 in [-1, 1], label an int (-1: none).

    name: one of :func:`list_datasets`:
      - ``cifar10``: torchvision's ``cifar-10-batches-py`` or the JPEG layout ``cifar10-jpeg/{train,test}/<class>/``
        (or its archive ``cifar10-jpeg.tar.gz``); ordered by class (canonical order), then official position.
      - ``celeba``: aligned faces ``img_align_celeba/`` with ``split.csv`` or ``list_eval_partition.txt``; central
        140 px crop (option ``crop``); splits train / validation / test / all; label = identity index.
      - ``mnist``: ``torchvision.datasets.MNIST(root)``; 3 identical channels unless ``channels=1``.
      - ``folder``: every image under ``root`` (required), recursively, sorted; label -1; splits from ``train/``
        and ``test/`` subfolders where it has them (else one split, ``train``).
      - ``deadleaves``: synthetic, needs no files (options ``size``, ``seed``, ``rmin``, ``rmax``, ``n_discs``).
    split: "train" | "test" (| "validation" | "all" where the dataset has them).
    resolution: R; images are resized so the shorter side is R (bicubic, antialiased) and center-cropped to R x R.
    root: the data root; default ``$SMLIB_DATA``, then ``~/.cache/smlib/data`` (``$SMLIB_CACHE``/data). Archives
        there are unpacked once into ``<cache>/extracted/``; the root itself is never written to.
    download: let torchvision fetch cifar10 / mnist into ``<cache>/data`` when they are not found.
    limit: keep this many items, evenly spaced over the full order (so every class stays represented).
    hflip: random horizontal flip (p = 0.5) on every read; off by default.

    Missing data raises :class:`DatasetNotFoundError` (a FileNotFoundError) naming the paths looked at; nothing
    ever falls back to another dataset.
    """
    if name not in _DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(_DATASETS)}.")
    if int(resolution) != resolution or resolution < 1:
        raise ValueError(f"resolution={resolution!r} must be a positive integer (pixels per side).")
    unknown = sorted(set(kw) - set(_options(name)))
    if unknown:
        accepted = ", ".join(_options(name)) or "none"
        raise ValueError(f"{name} got unknown option(s) {', '.join(unknown)}; its options are: {accepted}.")
    return _DATASETS[name](split=split, resolution=int(resolution), root=root, download=download, limit=limit,
                           hflip=hflip, **kw)


def image_subset(name: str, n: int, resolution: int, split: str = "train", seed: int = 0, root=None,
                 **kw) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded random subset of a split with its labels: images (n, C, R, R) float32 in [-1, 1], labels (n,)
    long (-1 where the dataset has none).

    The images are chosen with ``seed`` (``randperm`` of the split) and kept in that random order, so any slice of
    the result is itself a random sample. Same arguments, same tensors. ``kw`` goes to :func:`load_dataset`
    (e.g. ``channels=1``, ``size=`` for deadleaves).
    """
    ds = load_dataset(name, split=split, resolution=resolution, root=root, **kw)
    if not 1 <= n <= len(ds):
        raise ValueError(f"asked for n={n} images but {name} {split} has {len(ds)}; ask for 1 to {len(ds)}.")
    idx = torch.randperm(len(ds), generator=torch.Generator().manual_seed(int(seed)))[:n]
    items = [ds[int(i)] for i in idx]
    return torch.stack([x for x, _ in items]), torch.tensor([int(y) for _, y in items], dtype=torch.long)


def image_batch(name: str, n: int, resolution: int, split: str = "train", seed: int = 0, root=None,
                **kw) -> torch.Tensor:
    """The images of :func:`image_subset` alone, (n, C, R, R), for measurements."""
    return image_subset(name, n, resolution, split, seed, root, **kw)[0]


def make_loader(dataset: Dataset, batch_size: int, shuffle: bool = True, seed: int = 0, num_workers: int = 0,
                drop_last: bool = True, **kw) -> DataLoader:
    """A DataLoader whose order depends only on ``seed``: batches of (images (B, C, R, R), labels (B,)).

    The shuffle and the workers' base seed come from a ``torch.Generator`` seeded with ``seed``, so two loaders
    with the same seed yield the same batches epoch after epoch (iterating again draws the next epoch). With
    ``num_workers > 0`` the per-item flips (``hflip=True``) are seeded from the same generator; with 0 they use
    torch's global generator (seed it with ``torch.manual_seed``). ``kw`` goes to ``DataLoader`` (e.g. pin_memory).
    """
    g = torch.Generator().manual_seed(int(seed))
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers,
                      drop_last=drop_last, generator=g, persistent_workers=False, **kw)


__all__ = ["load_dataset", "list_datasets", "image_batch", "make_loader"]
