"""Datasets by name, data roots and archives, transforms.

>>> ds = load_dataset("cifar10", split="test", resolution=32)    # items: (3, 32, 32) float32 in [-1, 1], label
>>> x = image_batch("celeba", 256, 64, split="test", seed=0)      # (256, 3, 64, 64), a seeded random subset
>>> loader = make_loader(ds, batch_size=128, shuffle=True, seed=0)

Modules: ``roots`` (where data lives, archives unpacked once into the cache), ``transforms`` (resize, crop,
[-1, 1]), ``base`` (the dataset shape), ``files`` (cifar10, celeba, mnist, folder), ``deadleaves`` (synthetic),
``registry`` (the functions above), ``latents`` (an autoencoder's latents of a dataset, encoded once and cached,
and their normalisation).
"""
from smlib.data.base import ImageDataset
from smlib.data.deadleaves import DeadLeaves
from smlib.data.files import CELEBA_CROP, CIFAR10_CLASSES
from smlib.data.registry import image_batch, image_subset, list_datasets, load_dataset, make_loader
from smlib.data.roots import DatasetNotFoundError, cache_dir, default_data_root, extract_once, resolve_data_root
from smlib.data.transforms import CorruptImageError, random_hflip, resize_center_crop

__all__ = ["load_dataset", "list_datasets", "image_batch", "image_subset", "make_loader", "DatasetNotFoundError", "ImageDataset",
           "DeadLeaves", "CIFAR10_CLASSES", "CELEBA_CROP", "cache_dir", "default_data_root", "resolve_data_root",
           "extract_once", "random_hflip", "resize_center_crop", "CorruptImageError"]
