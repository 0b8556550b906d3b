"""Resumable data order: the batch of step s is a pure function of (seed, s), so resuming needs only the step.

Epoch e is one permutation of the N examples drawn from a ``torch.Generator`` seeded with (seed, e); global batch
k of that epoch is permutation[k*B:(k+1)*B] (incomplete tail dropped, so every step sees B examples), and rank r of
W takes the r-th contiguous slice of B/W of it. The ranks' shards are disjoint and cover the global batch, as with
``DistributedSampler``, and the global batch does not depend on W: a run resumed on a different number of GPUs
sees the same data.

:func:`batch_stream` turns what ``fit`` was given (a Tensor, a tuple of Tensors, a map-style Dataset, or a factory
``epoch -> iterable of batches``) into an infinite iterator of batches starting at a given step.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch.utils.data import DataLoader, IterableDataset, TensorDataset

from smlib.train.rng import mix_seed


class ResumableBatchSampler:
    """Infinite batch sampler: yields this rank's index lists for steps ``start_step``, ``start_step + 1``, ...

    n: dataset size; batch_size: the *global* batch (divisible by ``world_size``).
    """

    def __init__(self, n: int, batch_size: int, seed: int = 0, shuffle: bool = True, rank: int = 0,
                 world_size: int = 1, start_step: int = 0):
        if batch_size % world_size:
            raise ValueError(f"batch_size={batch_size} is not divisible by world_size={world_size}; "
                             "batch_size is the global batch, pick a multiple of the number of processes.")
        if n < batch_size:
            raise ValueError(f"the dataset has {n} examples, fewer than one batch of {batch_size}; "
                             "lower batch_size or use more data.")
        self.n, self.batch_size, self.seed, self.shuffle = int(n), int(batch_size), int(seed), bool(shuffle)
        self.rank, self.world_size, self.start_step = int(rank), int(world_size), int(start_step)
        self.batches_per_epoch = self.n // self.batch_size
        self._cache: tuple[int, torch.Tensor] | None = None

    def permutation(self, epoch: int) -> torch.Tensor:
        """(N,) int64 order of epoch ``epoch`` (identity when not shuffling)."""
        if not self.shuffle:
            return torch.arange(self.n)
        if self._cache is None or self._cache[0] != epoch:
            g = torch.Generator().manual_seed(mix_seed(self.seed, epoch))
            self._cache = (epoch, torch.randperm(self.n, generator=g))
        return self._cache[1]

    def global_indices(self, step: int) -> torch.Tensor:
        """(batch_size,) int64 example indices of the global batch of 0-based ``step``."""
        epoch, k = divmod(int(step), self.batches_per_epoch)
        return self.permutation(epoch)[k * self.batch_size:(k + 1) * self.batch_size]

    def indices(self, step: int) -> torch.Tensor:
        """(batch_size // world_size,) int64: this rank's share of the global batch of ``step``."""
        b = self.batch_size // self.world_size
        return self.global_indices(step)[self.rank * b:(self.rank + 1) * b]

    def __iter__(self) -> Iterator[list[int]]:
        step = self.start_step
        while True:
            yield self.indices(step).tolist()
            step += 1


def _tensor_stream(tensors: tuple[torch.Tensor, ...], single: bool, sampler: ResumableBatchSampler):
    """Index in-memory tensors directly (no per-example collate): Tensor -> (b, ...), tuple -> tuple of them."""
    step = sampler.start_step
    while True:
        idx = sampler.indices(step)
        out = tuple(t[idx.to(t.device)] for t in tensors)
        yield out[0] if single else out
        step += 1


def _factory_stream(factory: Callable, start_epoch: int, start_batch: int, position: list):
    """Iterate ``factory(epoch)`` for epochs start_epoch, ...; skip the first ``start_batch`` batches of the first
    epoch (they were consumed before the interruption). ``position`` is updated in place to [epoch, batch]: the
    position of the *next* batch, which is what a checkpoint stores."""
    epoch, skip = start_epoch, start_batch
    while True:
        it = iter(factory(epoch))
        got = 0
        for i, batch in enumerate(it):
            got += 1
            if i < skip:
                continue
            position[:] = [epoch, i + 1]
            yield batch
        if got == 0:
            raise ValueError(f"the data factory returned no batches for epoch {epoch}; it must yield at least one.")
        epoch, skip = epoch + 1, 0
        position[:] = [epoch, 0]


class BatchStream:
    """An infinite iterator of batches for ``fit`` starting at ``start_step``, with a resumable ``state()``.

    data: a Tensor (N, ...) | a tuple/list of Tensors with the same N | a map-style Dataset (batched by a
    DataLoader over :class:`ResumableBatchSampler`) | a callable ``epoch -> iterable of batches`` that returns the
    same batches for the same epoch (already this rank's shard under DDP). ``state`` is the factory position
    [epoch, next batch] from the checkpoint (ignored for index-based sources, whose position is the step).

    Bit-exact resume covers randomness drawn in the main process (losses; datasets with ``num_workers=0``).
    Random augmentations inside DataLoader workers (``num_workers > 0``) are seeded per (seed, rank, start step):
    reproducible run to run, but a resumed run's workers do not continue the interrupted ones' streams.
    """

    def __init__(self, data, batch_size: int, seed: int, shuffle: bool, rank: int, world_size: int,
                 start_step: int, state: dict | None = None, num_workers: int = 0, collate_fn=None,
                 pin_memory: bool = False):
        self.position = [0, 0]
        self.kind = "index"
        if isinstance(data, DataLoader):
            raise ValueError("pass the DataLoader's dataset (fit builds a seeded, resumable, sharded loader) or a "
                             "factory `epoch -> iterable of batches`; a ready DataLoader's order cannot be resumed.")
        if isinstance(data, IterableDataset):
            raise ValueError("an IterableDataset has no resumable order; wrap it in a factory `epoch -> iterable` "
                             "that yields the same batches for the same epoch.")
        if isinstance(data, torch.Tensor) or (isinstance(data, (tuple, list)) and data
                                              and all(isinstance(t, torch.Tensor) for t in data)):
            tensors = (data,) if isinstance(data, torch.Tensor) else tuple(data)
            if len({t.shape[0] for t in tensors}) != 1:
                raise ValueError(f"the tensors have different lengths {[t.shape[0] for t in tensors]}; "
                                 "they must share the first (example) dimension.")
            sampler = self._sampler(tensors[0].shape[0], batch_size, seed, shuffle, rank, world_size, start_step)
            self._it = _tensor_stream(tensors, isinstance(data, torch.Tensor), sampler)
        elif isinstance(data, TensorDataset):
            sampler = self._sampler(len(data), batch_size, seed, shuffle, rank, world_size, start_step)
            self._it = _tensor_stream(tuple(data.tensors), False, sampler)
        elif hasattr(data, "__getitem__") and hasattr(data, "__len__"):
            sampler = self._sampler(len(data), batch_size, seed, shuffle, rank, world_size, start_step)
            # its own generator: creating the loader draws nothing from the global RNG, and worker seeds are a
            # function of (seed, rank, start step)
            g = torch.Generator().manual_seed(mix_seed(seed, rank, start_step))
            loader = DataLoader(data, batch_sampler=sampler, num_workers=num_workers, collate_fn=collate_fn,
                                pin_memory=pin_memory, persistent_workers=num_workers > 0, generator=g)
            self._it = iter(loader)
        elif callable(data):
            self.kind = "factory"
            epoch, batch = (state or {}).get("position", [0, 0]) if start_step else (0, 0)
            self.position = [int(epoch), int(batch)]
            self._it = _factory_stream(data, self.position[0], self.position[1], self.position)
        else:
            raise ValueError(f"cannot train on data of type {type(data).__name__}; pass a Tensor, a tuple of "
                             "Tensors, a map-style Dataset, or a factory `epoch -> iterable of batches`.")

    @staticmethod
    def _sampler(n, batch_size, seed, shuffle, rank, world_size, start_step) -> ResumableBatchSampler:
        return ResumableBatchSampler(n, batch_size, seed=seed, shuffle=shuffle, rank=rank, world_size=world_size,
                                     start_step=start_step)

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._it)

    def state(self) -> dict:
        """{"kind", "position": [epoch, next batch]} (the position matters only for factories)."""
        return {"kind": self.kind, "position": list(self.position)}


__all__ = ["ResumableBatchSampler", "BatchStream"]
