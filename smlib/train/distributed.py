"""Process groups under ``torchrun`` (NCCL on GPUs, gloo on CPUs): joining, leaving, ranks, and the few
collectives ``fit`` needs besides gradient averaging (a barrier, broadcasts, gathering objects); no-ops on one
process.

    torchrun --nproc_per_node 4 my_recipe.py      # sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT

Gradients are averaged by PyTorch's ``DistributedDataParallel`` or sharded by FSDP, wired in
:mod:`smlib.train.parallel`.
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job: rank in [0, world_size), local_rank = GPU index on its node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the only process that writes checkpoints, logs and summaries."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def is_initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def init_distributed(backend: str | None = None, timeout_minutes: float = 60.0) -> DistInfo:
    """Join the process group described by torchrun's RANK/WORLD_SIZE/LOCAL_RANK environment variables.

    No-op (rank 0 of 1) when they are absent or WORLD_SIZE is 1; returns the existing group's info when one is
    already initialised (e.g. by a test or a launcher). ``backend``: None picks NCCL with CUDA, else gloo. With
    CUDA the current device is set to ``cuda:LOCAL_RANK``.
    """
    if is_initialized():
        local = int(os.environ.get("LOCAL_RANK", dist.get_rank()))
        return DistInfo(dist.get_rank(), dist.get_world_size(), local)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if "RANK" not in os.environ:
        raise KeyError("WORLD_SIZE > 1 but RANK is not set; launch with torchrun (it sets RANK, WORLD_SIZE, "
                       "LOCAL_RANK, MASTER_ADDR, MASTER_PORT).")
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local)
    dist.init_process_group(backend, rank=rank, world_size=world,
                            timeout=datetime.timedelta(minutes=timeout_minutes))
    return DistInfo(rank, world, local)


def destroy_distributed() -> None:
    """Leave the process group (call once at the end of a torchrun script)."""
    if is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


@torch.no_grad()
def broadcast_module(module: nn.Module, src: int = 0) -> None:
    """Copy rank ``src``'s parameters and buffers to every rank (in place)."""
    if not is_initialized() or dist.get_world_size() == 1:
        return
    for t in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(t.data, src)


def all_gather_objects(obj) -> list:
    """[obj of rank 0, obj of rank 1, ...] on every rank (``[obj]`` on one process)."""
    if not is_initialized() or dist.get_world_size() == 1:
        return [obj]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj, src: int = 0):
    """Rank ``src``'s ``obj`` on every rank."""
    if not is_initialized() or dist.get_world_size() == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src)
    return box[0]


__all__ = ["DistInfo", "init_distributed", "destroy_distributed", "is_initialized", "barrier", "broadcast_module",
           "all_gather_objects", "broadcast_object"]
