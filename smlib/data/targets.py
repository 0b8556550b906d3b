"""Alignment targets: a frozen encoder's patch tokens of every training image and its flip, computed once.

The encoder never trains, so REPA-style alignment needs its tokens of each clean training image only once. A
:class:`TargetCache` stores them with the latent cache's layout (:mod:`smlib.data.latents`): M = 2N rows, [the N
originals, then the N flipped images in the same order], row ``N + i`` = ``encoder(flip(x_i))``. Row r of the target
cache therefore belongs to row r of a latent cache of the same images, and a training batch of latent rows reads
its targets by the same row numbers (:meth:`TargetCache.rows`).

The key names everything that fixes the tokens: the encoder (name, weights source and layer, input size), dataset,
split, resolution, image count, subset seed, flips, storage dtype. One atomic ``.pt`` file per key
(``weights_only``-loadable); a second build with the same key reads it back bit-identically.

:class:`OnTheFlyTargets` computes the same rows from the images at every step instead (what REPA does on ImageNet,
where the cache would be ~500 GB): the two agree, and the benchmark in ``benchmarks/`` prices the difference.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from smlib.data.latents import _save_atomic

FORMAT = "smlib.targets/1"


def encoder_identity(encoder) -> str:
    """What fixes an encoder's tokens: registry name, weights source (file, sha256 and layer) and input size."""
    return f"{encoder.name}|{encoder.source}|input{encoder.input_size}"


def target_cache_key(encoder: str, dataset: str, split: str, resolution: int, n_images: int, subset_seed: int,
                     flips: bool, dtype: str) -> str:
    """File-name-safe key, e.g. ``efficientnet-lite2-128px-cifar10-train-32px-n512-flip-float32-<12 hex>``."""
    fields = dict(encoder=encoder, dataset=dataset, split=split, resolution=int(resolution), n_images=int(n_images),
                  subset_seed=int(subset_seed), flips=bool(flips), dtype=dtype, format=FORMAT)
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]
    name, size = encoder.split("|")[0], encoder.rsplit("input", 1)[-1]
    prefix = (f"{name}-{size}px-{dataset}-{split}-{int(resolution)}px-n{int(n_images)}-"
              f"{'flip' if flips else 'noflip'}-{dtype}")
    return re.sub(r"[^A-Za-z0-9._-]+", "-", prefix) + f"-{digest}"


@dataclass
class TargetCache:
    """Encoder tokens of a dataset. ``tokens``: (M, T, C) row-major over the (h, w) ``grid``; ``index`` (M,) long:
    which image; ``flipped`` (M,) bool; ``meta``: JSON-able description with the key."""

    tokens: torch.Tensor
    index: torch.Tensor
    flipped: torch.Tensor
    grid: tuple[int, int]
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        m, t = self.tokens.shape[:2]
        if self.index.shape != (m,) or self.flipped.shape != (m,) or t != self.grid[0] * self.grid[1]:
            raise ValueError(f"tokens {tuple(self.tokens.shape)}, index {tuple(self.index.shape)}, flipped "
                             f"{tuple(self.flipped.shape)} and grid {self.grid} do not agree.")
        self.grid = tuple(int(g) for g in self.grid)

    def __len__(self) -> int:
        return self.tokens.shape[0]

    @property
    def key(self) -> str:
        return self.meta.get("key", "")

    @property
    def dim(self) -> int:
        return self.tokens.shape[-1]

    def rows(self, rows: torch.Tensor, device=None) -> torch.Tensor:
        """Target tokens of the given rows, (R, T, C) float32 (on ``device``; default the CPU)."""
        return self.tokens[rows.cpu()].to(device=device, dtype=torch.float32)

    def check_rows(self, index: torch.Tensor, flipped: torch.Tensor) -> None:
        """Refuse to pair this cache with a latent cache whose rows are other images (or other flips)."""
        if not (torch.equal(self.index, index.cpu()) and torch.equal(self.flipped, flipped.cpu())):
            raise ValueError("the target cache's rows are not the latent cache's (other images, order or flips); "
                             "build both from the same image subset.")

    def save(self, path: str | os.PathLike) -> Path:
        return _save_atomic({"format": FORMAT, "tokens": self.tokens, "index": self.index, "flipped": self.flipped,
                             "grid": list(self.grid), "meta": json.dumps(self.meta, sort_keys=True)}, Path(path))

    @classmethod
    def load(cls, path: str | os.PathLike, mmap: bool = False) -> "TargetCache":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no target cache at {path}; build it with build_target_cache(...).")
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            raise ValueError(f"{path} is not a smlib target cache (format {obj.get('format')!r}); delete it.")
        return cls(obj["tokens"], obj["index"], obj["flipped"], tuple(obj["grid"]), json.loads(obj["meta"]))


@torch.no_grad()
def encode_targets(encoder, images: torch.Tensor, flips: bool = True, batch_size: int = 64, device=None,
                   dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Tokens of every image and (``flips``) of its horizontal flip, in the latent cache's layout.

    images: (N, 3, R, R) in [-1, 1]. Returns (tokens (M, T, C) in ``dtype`` on the CPU, index (M,), flipped (M,))."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be (N, 3, H, W) in [-1, 1], got {tuple(images.shape)}.")
    device = torch.device(device) if device is not None else encoder.scale.device
    n = images.shape[0]
    parts = []
    for flip in ((False, True) if flips else (False,)):
        for i in range(0, n, batch_size):
            x = images[i:i + batch_size].to(device=device, dtype=torch.float32)
            parts.append(encoder.tokens(x.flip(-1) if flip else x).to("cpu", dtype))
    reps = 2 if flips else 1
    flipped = torch.cat([torch.zeros(n, dtype=torch.bool)] + ([torch.ones(n, dtype=torch.bool)] if flips else []))
    return torch.cat(parts), torch.arange(n).repeat(reps), flipped


def build_target_cache(encoder, images: torch.Tensor, *, cache_dir: str | os.PathLike, dataset: str,
                       split: str = "train", subset_seed: int = 0, flips: bool = True, batch_size: int = 64,
                       device=None, dtype: torch.dtype = torch.float32) -> TargetCache:
    """Encode once and cache as ``cache_dir/<key>.pt``; a later call with the same key loads the file.
    images: (N, 3, R, R) in [-1, 1], the same tensor the latent cache was built from."""
    n, resolution = images.shape[0], images.shape[-1]
    ident = encoder_identity(encoder)
    key = target_cache_key(ident, dataset, split, resolution, n, subset_seed, flips, str(dtype).split(".")[-1])
    path = Path(cache_dir) / f"{key}.pt"
    if path.is_file():
        cache = TargetCache.load(path)
        if cache.key != key:
            raise ValueError(f"{path} holds targets for key {cache.key!r}, not {key!r}; delete the file.")
        return cache
    tokens, index, flipped = encode_targets(encoder, images, flips, batch_size, device, dtype)
    meta = dict(key=key, encoder=ident, label=encoder.label, pretrained=bool(encoder.pretrained), dataset=dataset,
                split=split, resolution=int(resolution), n_images=int(n), subset_seed=int(subset_seed),
                flips=bool(flips))
    cache = TargetCache(tokens, index, flipped, tuple(encoder.grid), meta)
    cache.save(path)
    return cache


class OnTheFlyTargets(torch.nn.Module):
    """The same rows as a :class:`TargetCache`, computed from the images at every call: ``rows(r)`` encodes image
    ``index[r]`` (flipped where ``flipped[r]``). A module so that ``.to(device)`` moves the encoder."""

    def __init__(self, encoder, images: torch.Tensor, index: torch.Tensor, flipped: torch.Tensor):
        super().__init__()
        self.encoder, self.images = encoder, images
        self.index, self.flipped = index.cpu(), flipped.cpu()
        self.grid = tuple(encoder.grid)

    @property
    def dim(self) -> int:
        return self.encoder.out_dim

    @torch.no_grad()
    def rows(self, rows: torch.Tensor, device=None) -> torch.Tensor:
        """Target tokens of the given rows, (R, T, C) float32 (on ``device``; default the CPU)."""
        rows = rows.cpu()
        x = self.images[self.index[rows]].float()
        x = torch.where(self.flipped[rows].view(-1, 1, 1, 1), x.flip(-1), x)
        return self.encoder.tokens(x.to(self.encoder.scale.device)).to(device=device, dtype=torch.float32)


__all__ = ["TargetCache", "OnTheFlyTargets", "encoder_identity", "target_cache_key", "encode_targets",
           "build_target_cache"]
