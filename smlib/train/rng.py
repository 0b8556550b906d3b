"""Seeding and the RNG state of a process, as tensors, so a resumed run draws the same noise as an unbroken one.

Every random source a loss may touch is covered: torch (CPU and every CUDA device), numpy's global generator and
Python's ``random``. States are packed into tensors and plain ints/floats so a checkpoint holding them loads with
``torch.load(..., weights_only=True)``.
"""
from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and all CUDA devices), numpy's global generator and Python's ``random`` with ``seed``."""
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device (lazily)


def mix_seed(*parts: int) -> int:
    """A 63-bit seed that depends on every part (e.g. (seed, epoch) or (seed, rank)); splitmix64-style mixing."""
    h = 0x243F6A8885A308D3
    for p in parts:
        h = (h ^ (int(p) & 0xFFFFFFFFFFFFFFFF)) * 0x9E3779B97F4A7C15 & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 31
    return h & 0x7FFFFFFFFFFFFFFF


def get_rng_state() -> dict:
    """The process's RNG state: {"torch": uint8 (L,), "cuda": uint8 (n_devices, L') or (0,), "numpy": {...},
    "python": {...}}; tensors and primitives only."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    cuda = (torch.stack(torch.cuda.get_rng_state_all()) if torch.cuda.is_available() and torch.cuda.is_initialized()
            else torch.zeros(0, dtype=torch.uint8))
    return {
        "torch": torch.get_rng_state(),
        "cuda": cuda,
        "numpy": {"kind": str(kind), "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": {"version": int(version), "internal": torch.tensor(internal, dtype=torch.int64),
                   "gauss_next": gauss_next},
    }


def set_rng_state(state: dict) -> None:
    """Restore a state from :func:`get_rng_state`. CUDA states are restored only when the device count matches."""
    torch.set_rng_state(state["torch"].cpu())
    cuda = state.get("cuda")
    if cuda is not None and cuda.numel() and torch.cuda.is_available() and cuda.shape[0] == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(list(cuda.cpu()))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["internal"].tolist()), p["gauss_next"]))


class isolated_rng:
    """Context manager: run a block (evaluation, sampling) on its own seeded RNG streams and restore the training
    streams afterwards, so how often or whether one evaluates never changes the training trajectory."""

    def __init__(self, seed: int):
        self.seed = int(seed)

    def __enter__(self):
        self._saved = get_rng_state()
        seed_everything(self.seed)
        return self

    def __exit__(self, *exc):
        set_rng_state(self._saved)
        return False


__all__ = ["seed_everything", "mix_seed", "get_rng_state", "set_rng_state", "isolated_rng"]
