"""How the ranks of a ``torchrun`` job share a training step: PyTorch ``DistributedDataParallel`` ("ddp", the
default) or FSDP2's ``fully_shard`` ("fsdp"). On one process neither is used: the task's loss is called as it is,
so a 1-process run is the same computation as plain training.

Why a wrapper module: DDP averages the gradients of the work done inside the wrapped module's ``forward``, and a
task's loss calls submodules and methods (``model.encode``, ``model.decoder_last_layer``). So the wrapped module
is :class:`LossModule`, whose ``forward(batch, step)`` *is* ``task.loss`` (or ``task.aux_loss``) and which owns
the trained module as its submodule ``model``: every parameter the loss touches is one DDP registered, and its
hooks fire. The discriminator gets its own wrapper and its own DDP.

DDP is built with ``find_unused_parameters=True``: a loss may leave some trainable parameters out of a step's
graph (a term switched on at ``aux_start_step``, a branch a variant takes, a head used only sometimes), and without
it DDP stops at the next step expecting gradients that never came. The price is one traversal of the autograd
graph per step. The other player's parameters, frozen by ``fit`` during a GAN step (``requires_grad=False``), are
never inside that step's wrapper (the generator's loss calls the discriminator directly), so no reducer
waits for them. A parameter no rank used keeps
``grad = None`` on every rank (the optimiser skips it, as on one process); one used by some ranks gets zeros from
the others. DDP broadcasts rank 0's parameters and buffers when it is built (after a resume has loaded the
checkpoint into the unwrapped module, on every rank) and rank 0's buffers before every forward; the EMA copy is
broadcast once here. Checkpoints hold the unwrapped modules' state (no ``module.`` prefix), the same at any world
size. Use ``torch.nn.SyncBatchNorm.convert_sync_batchnorm`` yourself where BatchNorm must see the global batch.

FSDP (``parallel="fsdp"``) shards parameters, gradients and AdamW state across ranks with FSDP2's
``torch.distributed.fsdp.fully_shard``, the API PyTorch develops (FSDP1's ``FullyShardedDataParallel`` is in
maintenance, its state-dict types deprecated). Units: each element of each ``nn.ModuleList`` in the model (the
transformer or residual blocks) is sharded on its own, bottom-up, and the :class:`LossModule` is the root: blocks
are gathered one at a time, the rest for the whole forward, so the loss may still call the model's methods. The
EMA copy is sharded the same way (updated shard by shard); evaluation gathers the evaluated module whole.
Checkpoints hold full state dicts gathered on rank 0 (``torch.distributed.checkpoint.state_dict``,
``full_state_dict=True, cpu_offload=True``), the optimiser's in ``torch.optim``'s index-keyed layout, so a
checkpoint resumes under ddp, fsdp or on one process. ``fit`` shards ``task.model`` in place and it stays sharded
(calling it is then a collective): use the checkpoint (:func:`smlib.train.load_weights` into a fresh module), and
a fresh task for another ``fit``. Refused: a task with an ``aux_model`` (its ``aux_loss`` runs the generator
outside the sharded forward). Also required: a parameter the loss reads directly (``autograd.grad`` w.r.t. a
weight) lives outside the ModuleList blocks, and every rank runs the same blocks in a step; buffers are not
broadcast (rank 0's are saved). Tested on CPU with gloo (2 processes against one); with NCCL on GPUs it is the
same code, untested. ``parallel`` is not a trajectory key: ddp and fsdp average the same gradients and differ by
float rounding in the reductions, as runs at two world sizes do.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import nn

from smlib.train.distributed import DistInfo, broadcast_module
from smlib.train.ema import EMA

KINDS = ("ddp", "fsdp")


class LossModule(nn.Module):
    """``forward(batch, step) = getattr(task, which)(batch, step)`` -> (loss, logs), with ``module`` (the one the
    loss trains) registered as ``self.model``, so that DDP/FSDP own its parameters."""

    def __init__(self, task, which: str, module: nn.Module):
        super().__init__()
        self.model = module
        self._loss = getattr(task, which)

    def forward(self, batch, step: int):
        return self._loss(batch, step)


def _fsdp_api():
    from torch.distributed.checkpoint import state_dict as dsd
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import FSDPModule, fully_shard

    return dsd, init_device_mesh, FSDPModule, fully_shard


class Parallel:
    """One run's data parallelism: ``kind`` ("ddp" | "fsdp") over ``info.world_size`` ranks on ``device``.

    In :func:`smlib.train.fit`: ``ema = prepare(task, model, ema_decay)`` before the optimisers are built (fsdp
    shards here); ``load(...)`` a checkpoint; ``loss_fn(task, "loss", model)`` (ddp wraps here, after loading);
    ``states(...)`` on every rank to checkpoint; ``gathered(module)`` around evaluation; ``value(norm)``.
    """

    def __init__(self, kind: str, info: DistInfo, device: torch.device, has_aux: bool = False):
        if kind not in KINDS:
            raise ValueError(f"parallel={kind!r}; use one of {KINDS}.")
        if kind == "fsdp" and has_aux:
            raise ValueError("parallel='fsdp' cannot train a task with an aux_model (its aux_loss runs the "
                             "generator outside the sharded forward); use parallel='ddp'.")
        self.kind, self.info, self.device = kind, info, device
        self.sharded = kind == "fsdp" and info.enabled
        self._roots: dict[int, nn.Module] = {}  # id(module) -> the FSDP root that gathers it
        self._fsdp_loss: nn.Module | None = None

    # -- set-up ---------------------------------------------------------------------------------------------------
    def prepare(self, task, model: nn.Module, ema_decay: float | None) -> EMA | None:
        """Make every rank start from rank 0's weights; shard (fsdp); return the EMA (None without decay)."""
        if not self.sharded:
            ema = EMA(model, ema_decay) if ema_decay is not None else None
            if ema is not None:
                broadcast_module(ema.module)  # DDP broadcasts the model itself when it is built
            return ema
        _, init_device_mesh, fsdp_module, fully_shard = _fsdp_api()
        if any(isinstance(m, fsdp_module) for m in model.modules()):
            raise ValueError("task.model is already sharded by an earlier fit(parallel='fsdp'); build a fresh task "
                             "(its weights are in the checkpoint) for another call.")
        broadcast_module(model)  # fully_shard keeps each rank's own slice: they must agree first
        ema = EMA(model, ema_decay) if ema_decay is not None else None  # a deep copy: before sharding
        mesh = init_device_mesh(self.device.type, (self.info.world_size,))
        self._fsdp_loss = LossModule(task, "loss", model)
        pairs = [(self._fsdp_loss, model)] + ([(ema.module, ema.module)] if ema is not None else [])
        for root, tree in pairs:  # (the FSDP root, the module whose blocks are units)
            for block in _blocks(tree):
                fully_shard(block, mesh=mesh)
            fully_shard(root, mesh=mesh)
            self._roots[id(tree)] = root
        return ema

    def loss_fn(self, task, which: str, module: nn.Module) -> Callable:
        """What ``fit`` calls as ``loss_fn(batch, step)``: the task's own method on one process, else the wrapper."""
        if not self.info.enabled:
            return getattr(task, which)
        if self.sharded:
            return self._fsdp_loss
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(LossModule(task, which, module), device_ids=ids, find_unused_parameters=True)

    # -- checkpoints ----------------------------------------------------------------------------------------------
    def states(self, model: nn.Module, opt: torch.optim.Optimizer, ema: EMA | None) -> tuple[dict, dict, dict | None]:
        """(model, optimiser, EMA) state dicts in the unsharded layout; under fsdp a collective (call on every
        rank) whose results are complete on rank 0 only."""
        if not self.sharded:
            return model.state_dict(), opt.state_dict(), ema.state_dict() if ema is not None else None
        dsd = _fsdp_api()[0]
        full = dsd.StateDictOptions(full_state_dict=True, cpu_offload=True)
        model_sd = dsd.get_model_state_dict(model, options=full)
        opt_sd = _indexed_optim_state(dsd.get_optimizer_state_dict(model, opt, options=full))
        ema_sd = None
        if ema is not None:
            ema_sd = {"decay": ema.decay, "num_updates": ema.num_updates,
                      "shadow": dsd.get_model_state_dict(ema.module, options=full)}
        return model_sd, opt_sd, ema_sd

    def load(self, model: nn.Module, opt: torch.optim.Optimizer, ema: EMA | None, model_sd: dict, opt_sd: dict,
             ema_sd: dict | None) -> None:
        """Load full (unsharded) states, as :meth:`states` returns them, on every rank."""
        if not self.sharded:
            model.load_state_dict(model_sd)
            opt.load_state_dict(opt_sd)
            if ema is not None:
                ema.load_state_dict(ema_sd)
            return
        dsd = _fsdp_api()[0]
        full = dsd.StateDictOptions(full_state_dict=True)
        dsd.set_model_state_dict(model, model_sd, options=full)
        dsd.set_optimizer_state_dict(model, opt, _named_optim_state(opt_sd, model, opt), options=full)
        if ema is not None:
            ema.decay, ema.num_updates = float(ema_sd["decay"]), int(ema_sd["num_updates"])
            dsd.set_model_state_dict(ema.module, ema_sd["shadow"], options=full)

    # -- evaluation -----------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def gathered(self, module: nn.Module) -> Iterator[None]:
        """Under fsdp, ``module``'s full weights for the duration (all ranks); elsewhere nothing."""
        root = self._roots.get(id(module))
        if root is None:
            yield
            return
        units = [m for m in root.modules() if isinstance(m, _fsdp_api()[2])]
        for u in units:
            u.unshard()
        try:
            yield
        finally:
            for u in units:
                u.reshard()

    @staticmethod
    def value(t: torch.Tensor) -> float:
        """A scalar as a float; a DTensor (fsdp's total gradient norm) is reduced over ranks first."""
        return float(t.full_tensor() if hasattr(t, "full_tensor") else t)


def _blocks(model: nn.Module) -> list[nn.Module]:
    """Elements of the model's ModuleLists that hold parameters, deepest first (``fully_shard`` goes bottom-up)."""
    seen, out = set(), []
    for m in model.modules():
        if isinstance(m, nn.ModuleList):
            for b in m:
                if id(b) not in seen and any(True for _ in b.parameters()):
                    seen.add(id(b))
                    out.append(b)
    return out[::-1]


def _indexed_optim_state(sd: dict) -> dict:
    """``torch.distributed.checkpoint``'s optimiser state (keyed by parameter name) in ``torch.optim``'s layout
    (keyed by position in the param groups, in order). Empty (rank != 0 with ``cpu_offload``) stays empty."""
    if not sd:
        return sd
    index: dict[str, int] = {}
    groups = []
    for g in sd["param_groups"]:
        groups.append({**g, "params": [index.setdefault(name, len(index)) for name in g["params"]]})
    return {"state": {index[k]: v for k, v in sd["state"].items()}, "param_groups": groups}


def _named_optim_state(sd: dict, model: nn.Module, opt: torch.optim.Optimizer) -> dict:
    """The inverse of :func:`_indexed_optim_state` for ``opt`` over ``model``'s parameters."""
    names = {id(p): n for n, p in model.named_parameters()}
    live = [names[id(p)] for g in opt.param_groups for p in g["params"]]
    saved = [i for g in sd["param_groups"] for i in g["params"]]
    if len(saved) != len(live):
        raise ValueError(f"the checkpoint's optimiser has {len(saved)} parameters, this model {len(live)}; "
                         "resume with the model it was written for.")
    name_of = dict(zip(saved, live))
    groups = [{**g, "params": [name_of[i] for i in g["params"]]} for g in sd["param_groups"]]
    return {"state": {name_of[int(i)]: v for i, v in sd["state"].items()}, "param_groups": groups}


__all__ = ["KINDS", "LossModule", "Parallel"]
