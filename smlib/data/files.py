"""Datasets read from files: CIFAR-10, CelebA, MNIST and any folder of images.

Each ``find_*`` function looks for its dataset in the data roots (and in the archives there, unpacked once into the
cache), and either returns a dataset or raises one :class:`DatasetNotFoundError` listing every place it looked.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from smlib.data.base import ImageDataset
from smlib.data.roots import (DatasetNotFoundError, default_data_root, describe_root, extract_once, find_archives,
                              is_archive, search_roots)
from smlib.data.transforms import load_image, pil_to_tensor, resize_center_crop

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CELEBA_CROP = 140
_CELEBA_PARTITION = {"0": "train", "1": "validation", "2": "test"}


# ------------------------------------------------------------------------------------------------ datasets
class ImageFiles(ImageDataset):
    """Images read from files, in the given order. mode: "RGB" (3 channels) or "L" (1); crop: see load_image."""

    def __init__(self, name, split, resolution, paths, labels, *, mode="RGB", crop=None, **kw):
        super().__init__(name, split, resolution, labels, **kw)
        self.paths, self.mode, self.crop = [str(p) for p in paths], mode, crop

    def _read(self, j: int) -> torch.Tensor:
        return load_image(self.paths[j], self.resolution, self.mode, self.crop)


class ImageArray(ImageDataset):
    """Images held in memory as uint8 (N, H, W) or (N, H, W, 3), read in the given order of indices."""

    def __init__(self, name, split, resolution, images: np.ndarray, labels, order, *, mode="RGB", **kw):
        super().__init__(name, split, resolution, [int(labels[k]) for k in order], **kw)
        self.images, self.index, self.mode = images, np.asarray(order), mode

    def _read(self, j: int) -> torch.Tensor:
        img = Image.fromarray(np.asarray(self.images[self.index[j]])).convert(self.mode)
        return pil_to_tensor(resize_center_crop(img, self.resolution))


# ------------------------------------------------------------------------------------------------ helpers
def _not_found(name: str, root, looked: list[Path], extra: str = "", downloadable: bool = True
               ) -> DatasetNotFoundError:
    paths = ", ".join(str(p) for p in dict.fromkeys(looked))
    how = ("set SMLIB_DATA to a folder that holds it, pass root=..., or pass download=True to let torchvision "
           "fetch it" if downloadable else "set SMLIB_DATA to a folder that holds it or pass root=...")
    return DatasetNotFoundError(f"{name} not found in data root {describe_root(root)}; looked for: {paths}. "
                                f"{extra}To provide it, {how}.")


def _candidates(root, folders: list[str], archives: list[str], looked: list[Path]):
    """Yield folders that may hold a dataset: <r>/<folder> for each data root r, then r itself, then the same
    inside each of r's archives named ``<archive><suffix>`` (unpacked once into the cache)."""
    for r in search_roots(root):
        for f in folders:
            looked.append(r / f)
            yield r / f
        yield r
        for stem in archives:
            looked.append(r / f"{stem}.{{tar.gz,tgz,zip}}")
        for archive in find_archives(r, archives):
            unpacked = extract_once(archive)
            for f in folders:
                yield unpacked / f
            yield unpacked


def _int_then_name(p: Path) -> tuple:
    """Sort key: numeric file stems by value (2 before 10), others after, by name."""
    return (0, int(p.stem), p.name) if p.stem.isdigit() else (1, 0, p.name)


def _images_in(folder: Path) -> list[Path]:
    return [folder / f for f in os.listdir(folder) if f.lower().endswith(IMAGE_SUFFIXES) and not f.startswith(".")]


def _check_split(name: str, split: str, allowed: tuple[str, ...]) -> str:
    split = {"val": "validation", "valid": "validation"}.get(split, split)
    if split not in allowed:
        raise ValueError(f"{name} has no split {split!r}; use one of {', '.join(allowed)}.")
    return split


# ------------------------------------------------------------------------------------------------ CIFAR-10
def find_cifar10(split="train", resolution=32, root=None, download=False, limit=None, hflip=False) -> ImageDataset:
    """CIFAR-10 from torchvision's ``cifar-10-batches-py`` or the JPEG ImageFolder ``cifar10-jpeg/{train,test}``.

    Both layouts give the same order: by class (canonical order, airplane = 0 ... truck = 9), then by position in
    the official batches. In the JPEG layout that position is the file name (``0000.jpg``, sorted as an integer);
    the official layout is stably sorted by label. So item i is the same picture in either layout (up to the JPEG
    compression of the offline copy: q75, about 30.5 dB PSNR, FIDs not comparable with published ones).
    """
    split = _check_split("cifar10", split, ("train", "test"))
    looked: list[Path] = []
    kw = dict(hflip=hflip, classes=CIFAR10_CLASSES, limit=limit)
    for folder in _candidates(root, ["cifar-10-batches-py", "cifar10-jpeg"], ["cifar10-jpeg", "cifar-10-python"],
                              looked):
        batch = "data_batch_1" if split == "train" else "test_batch"
        if folder.name == "cifar-10-batches-py" and (folder / batch).is_file():
            return _cifar10_official(folder.parent, split, resolution, False, kw)
        if all((folder / split / c).is_dir() for c in CIFAR10_CLASSES):
            paths, labels = [], []
            for label, c in enumerate(CIFAR10_CLASSES):
                files = sorted(_images_in(folder / split / c), key=_int_then_name)
                paths += files
                labels += [label] * len(files)
            return ImageFiles("cifar10", split, resolution, paths, labels, source=str(folder / split), **kw)
    if download:
        return _cifar10_official(default_data_root(), split, resolution, True, kw, root=root, looked=looked)
    raise _not_found("cifar10", root, looked)


def _cifar10_official(parent: Path, split, resolution, download, kw, root=None, looked=()) -> ImageDataset:
    import torchvision  # deferred: importing torchvision costs a second and only these two layouts need it

    try:
        tv = torchvision.datasets.CIFAR10(str(parent), train=split == "train", download=download)
    except Exception as e:  # no network, bad checksum, unwritable cache
        if not download:
            raise
        raise _not_found("cifar10", root, list(looked), f"download into {parent} failed ({e}). ") from e
    order = np.argsort(np.asarray(tv.targets), kind="stable")  # class-major, official order within a class
    return ImageArray("cifar10", split, resolution, tv.data, tv.targets, order,
                      source=str(Path(parent) / "cifar-10-batches-py"), **kw)


# ------------------------------------------------------------------------------------------------ MNIST
def find_mnist(split="train", resolution=32, root=None, download=False, limit=None, hflip=False,
               channels=3) -> ImageDataset:
    """MNIST through ``torchvision.datasets.MNIST(root)``: the idx files in ``<root>/MNIST/raw``.

    The 28x28 digits are resized (bicubic) to ``resolution``. They come as 3 identical channels (grey repeated)
    so they fit RGB models, unless ``channels=1``. Order: the official one. Labels: the digit.
    """
    split = _check_split("mnist", split, ("train", "test"))
    if channels not in (1, 3):
        raise ValueError(f"mnist channels={channels!r}: use 3 (grey repeated) or 1.")
    prefix = "train" if split == "train" else "t10k"
    looked: list[Path] = []
    for r in search_roots(root):
        for parent in (r, r.parent if r.name == "MNIST" else None):
            if parent is None:
                continue
            raw = parent / "MNIST" / "raw"
            looked.append(raw / f"{prefix}-images-idx3-ubyte")
            if (raw / f"{prefix}-images-idx3-ubyte").is_file() and (raw / f"{prefix}-labels-idx1-ubyte").is_file():
                return _mnist(parent, split, resolution, False, limit, hflip, channels)
    if download:
        return _mnist(default_data_root(), split, resolution, True, limit, hflip, channels, root, looked)
    raise _not_found("mnist", root, looked)


def _mnist(parent, split, resolution, download, limit, hflip, channels, root=None, looked=()) -> ImageDataset:
    import torchvision

    try:
        tv = torchvision.datasets.MNIST(str(parent), train=split == "train", download=download)
    except Exception as e:
        if not download:
            raise
        raise _not_found("mnist", root, list(looked), f"download into {parent} failed ({e}). ") from e
    images, labels = tv.data.numpy(), tv.targets.numpy()
    return ImageArray("mnist", split, resolution, images, labels, np.arange(len(labels)),
                      mode="RGB" if channels == 3 else "L", hflip=hflip, classes=tuple(map(str, range(10))),
                      source=str(Path(parent) / "MNIST"), limit=limit)


# ------------------------------------------------------------------------------------------------ CelebA
def find_celeba(split="train", resolution=64, root=None, download=False, limit=None, hflip=False,
                crop=CELEBA_CROP) -> ImageDataset:
    """Aligned CelebA faces: a folder ``img_align_celeba/`` of 178x218 JPEGs, found as ``celeba-subset/`` (with
    ``split.csv``: image_id, celeba_identity, split), torchvision's ``celeba/`` (with ``list_eval_partition.txt``
    and, if present, ``identity_CelebA.txt``), or directly in the data root.

    Each face is first cut to its central ``crop x crop`` square (default 140, as in Song et al.'s score-SDE
    CelebA pipeline): 140 px spans the face from brow to chin and little else, which keeps the statistics about
    faces rather than backgrounds and hair; 148 (another common choice) keeps a little more hair. Then it is
    resized to ``resolution``. ``crop=None`` skips the cut (then the central 178x178 square is used).
    Splits: train / validation / test from the split file, or ``all`` (every image in the folder, needed when
    there is no split file). Order: by file name. Label: the index of the identity among all identities of the
    split file, sorted (so a label means the same person in every split), or -1 without identities.
    CelebA is for non-commercial research only (Liu et al., ICCV 2015); never publish its images.
    """
    split = _check_split("celeba", split, ("train", "validation", "test", "all"))
    if download:
        raise DatasetNotFoundError("celeba cannot be downloaded by smlib (torchvision's Google Drive download is "
                                   "rate-limited and unreliable); put img_align_celeba/ and its split file in a "
                                   f"folder and set SMLIB_DATA to it or pass root=... (data root: "
                                   f"{describe_root(root)}).")
    looked: list[Path] = []
    for base in _candidates(root, ["celeba-subset", "celeba"], ["celeba-subset", "celeba"], looked):
        images = base / "img_align_celeba"
        if base.name not in ("celeba-subset", "celeba"):  # those two are already in the list
            looked.append(images)
        if images.is_dir():
            paths, labels = _celeba_split(base, split)
            return ImageFiles("celeba", split, resolution, paths, labels, crop=crop, hflip=hflip, limit=limit,
                              source=str(images))
    raise _not_found("celeba", root, looked, downloadable=False)


def _celeba_split(base: Path, split: str) -> tuple[list[Path], list[int]]:
    """(paths sorted by name, identity labels) of one split; reads split.csv or list_eval_partition.txt."""
    images = base / "img_align_celeba"
    part: dict[str, str] = {}
    ident: dict[str, int] = {}
    if (base / "split.csv").is_file():
        with open(base / "split.csv", newline="") as f:
            for row in csv.DictReader(f):
                part[row["image_id"]] = row["split"].strip()
                if row.get("celeba_identity", "").strip():
                    ident[row["image_id"]] = int(row["celeba_identity"])
    elif (base / "list_eval_partition.txt").is_file():
        for line in (base / "list_eval_partition.txt").read_text().split("\n"):
            if line.strip():
                image_id, code = line.split()
                part[image_id] = _CELEBA_PARTITION[code]
        if (base / "identity_CelebA.txt").is_file():
            for line in (base / "identity_CelebA.txt").read_text().split("\n"):
                if line.strip():
                    image_id, person = line.split()
                    ident[image_id] = int(person)
    elif split != "all":
        raise ValueError(f"celeba split={split!r} needs a split file (split.csv or list_eval_partition.txt) "
                         f"beside {images}; use split='all' for every image in the folder.")
    part = {k: {"val": "validation", "valid": "validation"}.get(v, v) for k, v in part.items()}
    if split == "all":
        names = sorted(p.name for p in _images_in(images))
    else:
        names = sorted(k for k, v in part.items() if v == split)
        missing = [n for n in names if not (images / n).is_file()]
        if missing:
            raise DatasetNotFoundError(f"{len(missing)} images of the celeba {split} split are missing from "
                                       f"{images} (e.g. {missing[0]}); restore them or use a matching split file.")
    label_of = {person: k for k, person in enumerate(sorted(set(ident.values())))}
    return [images / n for n in names], [label_of[ident[n]] if n in ident else -1 for n in names]


# ------------------------------------------------------------------------------------------------ folder
#: the subfolders that give a folder dataset its splits (``val`` and ``valid`` are read as ``validation``)
FOLDER_SPLITS = ("train", "test", "validation")


def find_folder(split="train", resolution=32, root=None, download=False, limit=None, hflip=False,
                channels=3) -> ImageDataset:
    """Every image of a split under ``root`` (a folder, searched recursively, or a .tar.gz/.tgz/.zip archive,
    unpacked once into the cache), sorted by relative path; hidden files and folders are skipped. Labels are -1.

    ``root`` is required ($SMLIB_DATA is not used: it holds many datasets, not one folder). Splits: a folder with
    ``train/``, ``test/`` (or ``validation/``, ``val/``) subfolders has those splits, each read from its subfolder;
    a folder without them has only ``train``, which is every image in it. ``all`` is every image in either layout.
    A split that is not there is refused in one line saying where to put its images.
    """
    if root is None:
        raise ValueError("the folder dataset needs root=<a folder (or archive) of images>.")
    split = _check_split("folder", split, (*FOLDER_SPLITS, "all"))
    if channels not in (1, 3):
        raise ValueError(f"folder channels={channels!r}: use 3 (RGB) or 1 (grey).")
    folder = Path(root).expanduser()
    if is_archive(folder):
        folder = extract_once(folder)
    if not folder.is_dir():
        raise DatasetNotFoundError(f"folder dataset: {folder} is not a folder or an archive; pass root=<a folder of "
                                   "images>.")
    splits = folder_splits(folder)
    if split != "all" and (splits or split != "train"):
        if split not in splits:
            has = f"its splits are {', '.join(splits)}" if splits else "it has no train/ and test/ subfolders"
            raise ValueError(f"folder dataset {folder} has no split {split!r} ({has}); put those images in "
                             f"{folder / split}/ (and the training images in {folder / 'train'}/).")
        folder = splits[split]
    paths = [p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
             and not any(part.startswith(".") for part in p.relative_to(folder).parts)]
    if not paths:
        raise DatasetNotFoundError(f"folder dataset: no images ({', '.join(IMAGE_SUFFIXES)}) under {folder}.")
    paths.sort(key=lambda p: p.relative_to(folder).as_posix())
    return ImageFiles("folder", split, resolution, paths, [-1] * len(paths), mode="RGB" if channels == 3 else "L",
                      hflip=hflip, limit=limit, source=str(folder))


def folder_splits(folder: Path) -> dict[str, Path]:
    """{split: subfolder} of a folder dataset: its ``train/``, ``test/``, ``validation/`` (or ``val/``, ``valid/``)
    subfolders; {} for a folder without them (one split, ``train``)."""
    out = {}
    for sub in sorted(folder.iterdir()) if folder.is_dir() else ():
        name = {"val": "validation", "valid": "validation"}.get(sub.name, sub.name)
        if name in FOLDER_SPLITS and sub.is_dir():
            out.setdefault(name, sub)
    return out


__all__ = ["find_cifar10", "find_mnist", "find_celeba", "find_folder", "folder_splits", "FOLDER_SPLITS", "ImageFiles",
           "ImageArray", "CIFAR10_CLASSES", "CELEBA_CROP", "IMAGE_SUFFIXES"]
