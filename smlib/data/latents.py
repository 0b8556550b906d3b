"""The latent cache: a dataset encoded once by a frozen autoencoder, and the normalisation diffusion trains on.

What the authors do (notes §1.5, ``extract_VAE_latents.py``), and what this module reproduces:

* every image **and its horizontal flip** is encoded once; the posterior moments (mean, log-variance) are stored,
  so a training step draws a fresh z = mean + std * eps from them (as U-ViT and REPA do) instead of always
  seeing one frozen draw (``store="samples"`` keeps one seeded draw instead, half the size);
* the **scale factor is 1/std of sampled latents** (CelebA: one global number, like SD's 0.18215); REPA's ImageNet
  export uses a per-channel mean and std instead (``mode="channel"``).

A cache is one atomic ``.pt`` file (tensors + a JSON metadata string; ``torch.load(weights_only=True)``) named by
a key over everything that determines its contents: the autoencoder's weights (sha256 of the checkpoint file or
of the state dict), dataset, split, resolution, image count, subset seed, flips and storage. A second call with the
same key loads the file instead of encoding again; a file whose stored key disagrees is refused.

Layout: with ``flips=True`` the M = 2N entries are [all N originals, then the N flipped images in the same order],
so entry ``N + i`` is ``encode(flip(x_i))`` (not ``flip(encode(x_i))``: a conv encoder is not exactly
flip-equivariant). ``index`` and ``flipped`` say which image each entry came from.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from smlib.atomic import atomic_path

STORES = ("moments", "samples")
NORM_MODES = ("global", "channel")
FORMAT = "smlib.latents/1"


# ----------------------------------------------------------------------------------------------- the cache
@dataclass
class LatentCache:
    """Encoded dataset. ``data``: (M, 2d, h, w) moments [mean, logvar] (``store="moments"``) or (M, d, h, w)
    samples; ``labels``, ``index``: (M,) long; ``flipped``: (M,) bool; ``meta``: JSON-able description + key."""

    data: torch.Tensor
    labels: torch.Tensor
    index: torch.Tensor
    flipped: torch.Tensor
    store: str = "moments"
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.store not in STORES:
            raise ValueError(f"store must be one of {STORES}, got {self.store!r}.")
        m = self.data.shape[0]
        if not (self.labels.shape == self.index.shape == self.flipped.shape == (m,)):
            raise ValueError(f"labels/index/flipped must all have shape ({m},); got {tuple(self.labels.shape)}, "
                             f"{tuple(self.index.shape)}, {tuple(self.flipped.shape)}.")

    def __len__(self) -> int:
        return self.data.shape[0]

    @property
    def key(self) -> str:
        return self.meta.get("key", "")

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        """(d, h, w) of one latent."""
        c, h, w = self.data.shape[1:]
        return (c // 2 if self.store == "moments" else c, h, w)

    def sample(self, rows: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """Latents z of the given entries (all when ``rows`` is None): (R, d, h, w) float32.

        Moments: a reparameterised draw z = mean + exp(logvar / 2) eps (eps from ``generator``, else the global
        RNG). Samples: the stored draw."""
        x = self.data if rows is None else self.data[rows]
        return posterior_sample(x.float(), generator) if self.store == "moments" else x.float()

    def save(self, path: str | os.PathLike) -> Path:
        """Write atomically (tmp file, fsync, ``os.replace``) as a ``weights_only``-loadable dict."""
        return _save_atomic({"format": FORMAT, "data": self.data, "labels": self.labels, "index": self.index,
                             "flipped": self.flipped, "store": self.store,
                             "meta": json.dumps(self.meta, sort_keys=True)}, Path(path))

    @classmethod
    def load(cls, path: str | os.PathLike, mmap: bool = False) -> "LatentCache":
        """Read a cache written by :meth:`save` (``mmap=True`` maps the tensors instead of reading them)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no latent cache at {path}; build it with build_latent_cache(...).")
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            raise ValueError(f"{path} is not a smlib latent cache (format {obj.get('format')!r}); delete it.")
        return cls(obj["data"], obj["labels"], obj["index"], obj["flipped"], obj["store"], json.loads(obj["meta"]))


def posterior_sample(moments: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """z = mean + exp(logvar / 2) eps for moments (B, 2d, h, w) [mean first, logvar clamped to [-30, 20] as in
    the AE]; eps drawn on the generator's device (else the global RNG on moments' device). -> (B, d, h, w)."""
    mean, logvar = moments.chunk(2, dim=1)
    source = generator.device if generator is not None else moments.device
    eps = torch.randn(mean.shape, generator=generator, device=source, dtype=mean.dtype).to(mean.device)
    return mean + torch.exp(0.5 * logvar.clamp(-30.0, 20.0)) * eps


def _save_atomic(obj: dict, path: Path) -> Path:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())   # the cache is large and reused for hours: make it durable before the rename
    return path


# ----------------------------------------------------------------------------------------------- keys
def autoencoder_fingerprint(autoencoder: torch.nn.Module | None = None,
                            checkpoint: str | os.PathLike | None = None) -> str:
    """sha256 (hex) identifying the encoder's weights: of the checkpoint file when given, else of the state dict
    (names, shapes, dtypes and bytes, in order). Two identical models give the same fingerprint."""
    h = hashlib.sha256()
    if checkpoint is not None:
        with open(checkpoint, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                h.update(chunk)
        return h.hexdigest()
    if autoencoder is None:
        raise ValueError("pass the autoencoder or its checkpoint path to fingerprint it.")
    for name, t in autoencoder.state_dict().items():
        t = t.detach().cpu().contiguous().reshape(-1)
        h.update(f"{name}:{t.numel()}:{t.dtype}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def cache_key(ae_fingerprint: str, dataset: str, split: str, resolution: int, n_images: int, subset_seed: int,
              flips: bool, store: str) -> str:
    """File-name-safe key, readable prefix + hash, e.g. ``cifar10-train-32px-n512-flip-moments-<12 hex>``."""
    fields = dict(ae=ae_fingerprint, dataset=dataset, split=split, resolution=int(resolution),
                  n_images=int(n_images), subset_seed=int(subset_seed), flips=bool(flips), store=store, format=FORMAT)
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]
    prefix = f"{dataset}-{split}-{int(resolution)}px-n{int(n_images)}-{'flip' if flips else 'noflip'}-{store}"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", prefix) + f"-{digest}"


# ----------------------------------------------------------------------------------------------- encoding
@torch.no_grad()
def encode_images(autoencoder: torch.nn.Module, batches: Iterable, flips: bool = True,
                  device: str | torch.device | None = None, store: str = "moments",
                  generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32,
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Encode batches of images once (and their horizontal flips).

    batches: iterable of images (B, 3, H, W) in [-1, 1], or (images, labels) pairs. Returns
    (data (M, 2d or d, h, w) in ``dtype`` on the CPU, labels (M,), index (M,), flipped (M,)) with the layout of the
    module docstring (originals first, then flips). ``store="samples"`` draws z from each posterior with
    ``generator`` (CPU; default seed 0), so the cache is reproducible.
    """
    if store not in STORES:
        raise ValueError(f"store must be one of {STORES}, got {store!r}.")
    was_training = autoencoder.training
    autoencoder.eval()
    device = torch.device(device) if device is not None else next(autoencoder.parameters()).device
    if store == "samples" and generator is None:
        generator = torch.Generator().manual_seed(0)
    outs = {False: [], True: []}
    labels, n = [], 0
    try:
        for batch in batches:
            x, y = (batch[0], batch[1]) if isinstance(batch, (tuple, list)) else (batch, None)
            x = x.to(device=device, dtype=torch.float32)
            labels.append(torch.as_tensor(y).long().reshape(-1) if y is not None
                          else torch.full((x.shape[0],), -1, dtype=torch.long))
            for flip in ((False, True) if flips else (False,)):
                post = autoencoder.encode(x.flip(-1) if flip else x)
                if store == "moments":
                    out = torch.cat([post.mean, post.logvar], dim=1)
                else:
                    eps = torch.randn(post.mean.shape, generator=generator).to(device)
                    out = post.mean + post.std * eps
                outs[flip].append(out.to("cpu", dtype))
            n += x.shape[0]
    finally:
        autoencoder.train(was_training)
    if n == 0:
        raise ValueError("no images to encode: the image source was empty.")
    label = torch.cat(labels)
    data = [torch.cat(outs[False])] + ([torch.cat(outs[True])] if flips else [])
    reps = len(data)
    return (torch.cat(data), label.repeat(reps), torch.arange(n).repeat(reps),
            torch.cat([torch.zeros(n, dtype=torch.bool)] + ([torch.ones(n, dtype=torch.bool)] if flips else [])))


def _batched(images: torch.Tensor, labels: torch.Tensor | None, batch_size: int):
    for i in range(0, images.shape[0], batch_size):
        yield images[i:i + batch_size], (labels[i:i + batch_size] if labels is not None else None)


def build_latent_cache(autoencoder: torch.nn.Module, images: torch.Tensor | Iterable, labels: torch.Tensor | None = None,
                       *, cache_dir: str | os.PathLike, dataset: str, split: str = "train",
                       resolution: int | None = None, n_images: int | None = None, subset_seed: int = 0,
                       flips: bool = True, store: str = "moments", ae_checkpoint: str | os.PathLike | None = None,
                       batch_size: int = 64, device: str | torch.device | None = None,
                       dtype: torch.dtype = torch.float32, extra_meta: dict | None = None) -> LatentCache:
    """Encode once and cache; a later call with the same key loads the file.

    images: (N, 3, R, R) in [-1, 1] (with ``labels`` (N,) or None), or an iterable of such batches / (images,
    labels) pairs (then pass ``resolution`` and ``n_images``). The key (see :func:`cache_key`) names the file
    ``cache_dir/<key>.pt``; the AE is fingerprinted from ``ae_checkpoint`` when given (cheap to re-check), else
    from its weights. ``extra_meta`` is stored alongside (e.g. the AE variant and config).
    """
    if isinstance(images, torch.Tensor):
        if images.ndim != 4:
            raise ValueError(f"images must be (N, C, H, W), got {tuple(images.shape)}.")
        resolution = images.shape[-1] if resolution is None else resolution
        n_images = images.shape[0] if n_images is None else n_images
        source = _batched(images, labels, batch_size)
    else:
        if resolution is None or n_images is None:
            raise ValueError("with an iterable of batches, pass resolution= and n_images= (they name the cache).")
        source = images
    fp = autoencoder_fingerprint(autoencoder, ae_checkpoint)
    key = cache_key(fp, dataset, split, resolution, n_images, subset_seed, flips, store)
    path = Path(cache_dir) / f"{key}.pt"
    if path.is_file():
        cache = LatentCache.load(path)
        if cache.key != key:
            raise ValueError(f"{path} holds latents for key {cache.key!r}, not {key!r}; delete the file.")
        return cache
    data, lab, idx, flipped = encode_images(autoencoder, source, flips, device, store, dtype=dtype)
    if idx.max().item() + 1 != n_images:
        raise ValueError(f"encoded {idx.max().item() + 1} images but n_images={n_images}; they must agree.")
    meta = dict(key=key, ae_fingerprint=fp, dataset=dataset, split=split, resolution=int(resolution),
                n_images=int(n_images), subset_seed=int(subset_seed), flips=bool(flips), store=store,
                ae_checkpoint=str(ae_checkpoint) if ae_checkpoint is not None else None, **(extra_meta or {}))
    cache = LatentCache(data, lab, idx, flipped, store, meta)
    cache.save(path)
    return cache


# ----------------------------------------------------------------------------------------------- normalisation
@dataclass(frozen=True)
class LatentNormalizer:
    """u = (z - shift) * scale and back. ``shift``, ``scale``: tuples of length 1 (global) or d (per channel).

    ``mode="global"``: shift 0, scale = 1 / std of sampled latents (the authors' CelebA export, SD's scale factor);
    ``mode="channel"``: per-channel mean and 1/std (REPA's ImageNet export)."""

    shift: tuple[float, ...]
    scale: tuple[float, ...]
    mode: str = "global"

    def _bc(self, values, z: torch.Tensor) -> torch.Tensor:
        v = torch.tensor(values, dtype=z.dtype, device=z.device)
        return v.reshape(1, -1, *([1] * (z.ndim - 2))) if v.numel() > 1 else v.reshape(())

    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, d, h, w) -> u (B, d, h, w)."""
        return (z - self._bc(self.shift, z)) * self._bc(self.scale, z)

    def denormalize(self, u: torch.Tensor) -> torch.Tensor:
        """u (B, d, h, w) -> z (B, d, h, w) (what the decoder takes)."""
        return u / self._bc(self.scale, u) + self._bc(self.shift, u)

    def to_dict(self) -> dict:
        return {"mode": self.mode, "shift": list(self.shift), "scale": list(self.scale)}

    @classmethod
    def from_dict(cls, d: dict) -> "LatentNormalizer":
        return cls(tuple(float(v) for v in d["shift"]), tuple(float(v) for v in d["scale"]), d.get("mode", "global"))


def fit_normalizer(cache: LatentCache, mode: str = "global", seed: int = 0,
                   max_entries: int | None = None) -> LatentNormalizer:
    """Statistics of one seeded posterior draw per cache entry (the first ``max_entries`` when given; the
    authors use >= 50k samples). Computed in float64, so the result is exact up to the draw."""
    if mode not in NORM_MODES:
        raise ValueError(f"normalisation mode must be one of {NORM_MODES}, got {mode!r}.")
    rows = torch.arange(len(cache) if max_entries is None else min(max_entries, len(cache)))
    z = cache.sample(rows, torch.Generator().manual_seed(seed)).double()
    if mode == "global":
        std = z.std().item()
        if not std > 0:
            raise ValueError("the latents have zero variance; the autoencoder collapsed or the cache is empty.")
        return LatentNormalizer((0.0,), (1.0 / std,), mode)
    mean = z.mean(dim=(0, 2, 3))
    std = z.transpose(0, 1).reshape(z.shape[1], -1).std(dim=1)
    if not bool((std > 0).all()):
        raise ValueError("a latent channel has zero variance; use mode='global'.")
    return LatentNormalizer(tuple(mean.tolist()), tuple((1.0 / std).tolist()), mode)


__all__ = ["LatentCache", "posterior_sample", "autoencoder_fingerprint", "cache_key", "encode_images",
           "build_latent_cache", "LatentNormalizer", "fit_normalizer", "STORES", "NORM_MODES"]
