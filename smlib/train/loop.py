"""``fit``: the one training loop of smlib, for autoencoders (optionally with a GAN discriminator) and diffusion
models alike. The model-specific part is a small :class:`Task` object; everything else lives here.

One step (0-based ``step``):

    1. batch      the batch of ``step`` (a pure function of (seed, step): see :mod:`smlib.train.sampler`)
    2. schedule   which optimiser(s) step (:func:`smlib.train.schedule.update_schedule`: G/D alternation)
    3. model      lr = base_lr * warm-up factor; loss = task.loss(batch, step) under autocast, through DDP or
                  FSDP with several ranks (:mod:`smlib.train.parallel`: backward averages the gradients across
                  ranks); clip; AdamW step; EMA update
    4. aux        the same with task.aux_loss and the auxiliary optimiser (the discriminator), when scheduled
    5. records    every log_every steps (rank 0): window means to metrics.csv and the progress bar;
                  every eval_every steps: task.evaluate(EMA or model, step) on its own RNG streams;
                  every ckpt_every steps and at the end: last.pt, atomically

A run resumed from last.pt ends bit-identical (on CPU) to one never interrupted: the data order is a function of
the step, and the checkpoint holds the RNG states of every rank, so noise draws in the losses continue as before.
"""
from __future__ import annotations

import json
import math
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn
from tqdm import tqdm

from smlib.device import autocast_dtype, resolve_device
from smlib.train.checkpoint import FORMAT, canonical_config, config_diff, load_checkpoint, save_checkpoint
from smlib.train.config import TRAJECTORY_KEYS, TrainConfig
from smlib.train.distributed import DistInfo, all_gather_objects, barrier, init_distributed
from smlib.train.ema import EMA
from smlib.train.logs import MetricsLog, WindowMean, write_json
from smlib.train.parallel import Parallel
from smlib.provenance import provenance
from smlib.train.rng import get_rng_state, isolated_rng, mix_seed, seed_everything, set_rng_state
from smlib.train.sampler import BatchStream
from smlib.train.schedule import update_schedule, warmup_factor


@runtime_checkable
class Task(Protocol):
    """What a recipe implements for :func:`fit`.

    Required:
      ``model: nn.Module`` - trained with AdamW (warm-up, then constant LR); ``fit`` moves it to the device.
      ``loss(batch, step) -> (loss, logs)`` - scalar loss tensor with its graph, and ``dict[str, float]`` to log.
          ``batch`` is what the data yields, with its tensors moved to the device (this rank's share of the
          global batch); ``step`` is 0-based. Runs under bf16 autocast on CUDA; with several ranks, as the
          forward of the DDP/FSDP-wrapped module (:mod:`smlib.train.parallel`), so it may call any method.
      ``config_dict() -> dict`` - the model/data config (JSON-able); resuming a checkpoint written under another
          config is refused, naming the differing keys.
    Optional (looked up with ``getattr``):
      ``aux_model: nn.Module`` and ``aux_loss(batch, step) -> (loss, logs)`` - a discriminator and its loss (use
          ``x_hat.detach()``/``torch.no_grad()`` for the generator's output; log names distinct from ``loss``'s).
          Include the adversarial term in ``loss`` exactly when ``config.aux_active(step)``.
      ``evaluate(model, step) -> dict[str, float]`` - called with the EMA model (or the model without EMA), in
          eval mode, under ``torch.no_grad()`` and on separately seeded RNG streams, every ``eval_every`` steps
          and at the end. Called on every rank; only rank 0's result is recorded.
      ``param_groups() -> list[dict]`` / ``aux_param_groups()`` - AdamW parameter groups (per-group "lr" and
          "weight_decay" override the config); default: all trainable parameters, one group.
      ``setup(device)`` - called once before training, to move other state (frozen encoders, LPIPS) to the device.
    """

    model: nn.Module

    def loss(self, batch: Any, step: int) -> tuple[torch.Tensor, dict[str, float]]: ...

    def config_dict(self) -> dict: ...


@dataclass
class TrainResult:
    """What :func:`fit` returns. ``metrics``: the final evaluation (empty when the task has no ``evaluate`` or
    the call stopped early); ``train_logs``: the last logged window means; ``step``: completed steps."""

    step: int
    completed: bool
    metrics: dict
    train_logs: dict
    wall_time_s: float
    device: str
    out_dir: Path
    checkpoint: Path
    metrics_csv: Path
    summary_json: Path
    resumed_from: int | None


def _to_device(batch, device: torch.device, non_blocking: bool = False):
    """Move every tensor in a (nested tuple/list/dict) batch to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=non_blocking)
    if isinstance(batch, dict):
        return {k: _to_device(v, device, non_blocking) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        moved = [_to_device(v, device, non_blocking) for v in batch]
        return type(batch)(moved) if isinstance(batch, list) or type(batch) is tuple else type(batch)(*moved)
    return batch


def _resolve_device(name: str, info: DistInfo) -> torch.device:
    device = resolve_device(name)
    if device.type == "cuda" and device.index is None and info.enabled:
        device = torch.device("cuda", info.local_rank)
    return device


def _precision(precision: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype: "auto" -> bf16 on CUDA, none elsewhere; "bf16" only on CUDA; "fp32" -> none."""
    if precision == "fp32":
        return None
    if precision == "bf16" and device.type != "cuda":
        raise ValueError(f"precision='bf16' needs a CUDA device, got {device}; use precision='auto' or 'fp32'.")
    return autocast_dtype(device) if precision == "auto" else torch.bfloat16


def _make_optimizer(groups_fn, module: nn.Module, lr: float, config: TrainConfig) -> torch.optim.AdamW:
    groups = groups_fn() if groups_fn is not None else [{"params": [p for p in module.parameters()
                                                                    if p.requires_grad]}]
    groups = [dict(g) for g in groups]
    if not any(len(list(g["params"])) for g in groups):
        raise ValueError(f"{type(module).__name__} has no trainable parameters; nothing to optimise.")
    opt = torch.optim.AdamW(groups, lr=lr, betas=config.betas, weight_decay=config.weight_decay)
    for g in opt.param_groups:
        g["base_lr"] = g["lr"]  # the warm-up scales this; kept in the optimiser's state_dict
    return opt


def _params(opt: torch.optim.Optimizer) -> list[torch.Tensor]:
    return [p for g in opt.param_groups for p in g["params"]]


class _frozen:
    """Temporarily set requires_grad=False on some parameters (the other player's, in a GAN step): saves their
    gradient computation and keeps them out of this step's graph."""

    def __init__(self, params: list[torch.Tensor]):
        self.params = [p for p in params if p.requires_grad]

    def __enter__(self):
        for p in self.params:
            p.requires_grad_(False)

    def __exit__(self, *exc):
        for p in self.params:
            p.requires_grad_(True)
        return False


def _optimizer_step(loss_fn: Callable, batch, step: int, opt: torch.optim.Optimizer, lr_factor: float,
                    grad_clip: float | None, amp_dtype: torch.dtype | None, device: torch.device,
                    prefix: str) -> dict[str, float]:
    """One forward/backward/update of one optimiser. ``loss_fn``: the task's loss, or its DDP/FSDP wrapper (whose
    backward leaves the rank-averaged gradients). Returns the task's logs plus ``{prefix}loss``,
    ``{prefix}grad_norm`` (before clipping) and ``{prefix}lr``."""
    params = _params(opt)
    for g in opt.param_groups:
        g["lr"] = g["base_lr"] * lr_factor
    opt.zero_grad(set_to_none=True)
    with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
        out = loss_fn(batch, step)
    if not (isinstance(out, tuple) and len(out) == 2):
        raise TypeError(f"{prefix}loss(batch, step) must return (loss_tensor, logs_dict), got {type(out).__name__}.")
    loss, logs = out
    if not (isinstance(loss, torch.Tensor) and loss.ndim == 0):
        raise TypeError(f"{prefix}loss(batch, step) must return a scalar tensor first, got "
                        f"{getattr(loss, 'shape', type(loss).__name__)}.")
    value = float(loss.detach())
    if not math.isfinite(value):
        raise FloatingPointError(f"{prefix}loss is {value} at step {step}; lower the lr, raise warmup_steps or "
                                 "check the data (the last checkpoint is intact).")
    loss.backward()
    norm = Parallel.value(torch.nn.utils.clip_grad_norm_(params, grad_clip if grad_clip else math.inf))
    result = {k: float(v) for k, v in (logs or {}).items()}
    if math.isfinite(norm):
        opt.step()
    else:  # a single bad batch should not poison the weights; skipped steps are logged
        result[f"{prefix}skipped"] = 1.0
    opt.zero_grad(set_to_none=True)
    result.update({f"{prefix}loss": value, f"{prefix}grad_norm": norm, f"{prefix}lr": opt.param_groups[0]["lr"]})
    return result


def _evaluate(task, model: nn.Module, ema: EMA | None, step: int, seed: int, par: Parallel) -> dict:
    """task.evaluate on the EMA (else the model) in eval mode, no grad, own RNG streams, whole (gathered under
    FSDP); numbers only."""
    evaluate = getattr(task, "evaluate", None)
    if evaluate is None:
        return {}
    target = ema.module if ema is not None else model
    was_training = model.training
    model.eval()
    try:
        with isolated_rng(mix_seed(seed, step, 0xE7A1)), torch.no_grad(), par.gathered(target):
            metrics = evaluate(target, step) or {}
    finally:
        model.train(was_training)
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) or
            (isinstance(v, torch.Tensor) and v.numel() == 1)}


def _resume_path(resume, out_dir: Path) -> Path | None:
    if resume is True:
        p = out_dir / "last.pt"
        return p if p.exists() else None
    if resume is False or resume is None:
        return None
    p = Path(resume)
    if not p.is_file():
        raise FileNotFoundError(f"resume={str(resume)!r}: no such checkpoint; pass resume=True to use "
                                f"{out_dir / 'last.pt'} when it exists, or resume=False to start afresh.")
    return p


def _run_identity(config: TrainConfig, task_cfg: dict) -> dict:
    train = config.to_dict()
    return {"task": task_cfg, "train": {k: train[k] for k in TRAJECTORY_KEYS}}


def fit(task: Task, config: TrainConfig, data, resume: bool | str | Path = True, *, progress: bool = True,
        max_steps_this_call: int | None = None, callback: Callable[[int, dict], None] | None = None,
        collate_fn: Callable | None = None) -> TrainResult:
    """Train ``task`` for ``config.steps`` steps (resuming from ``out_dir/last.pt`` when there is one).

    data: a Tensor (N, ...) | a tuple of Tensors sharing N | a map-style Dataset | a factory
    ``epoch -> iterable of batches`` (deterministic per epoch; under DDP it must shard itself). Index-based
    sources are batched by :class:`smlib.train.sampler.ResumableBatchSampler` (``config.batch_size`` is global).
    resume: True (``out_dir/last.pt`` if present), False (start afresh, overwriting), or a checkpoint path; a
    checkpoint from another task config or trajectory setting (lr, seed, batch size, ...) raises ValueError.
    max_steps_this_call: stop (with a checkpoint) after this many steps of this call, as a planned interruption.
    callback(step, logs): called after every step (``step`` = completed steps) once the step's checkpoint, if
    any, is written; an exception from it propagates (tests use it to simulate a crash).
    collate_fn: for map-style Datasets. Writes (rank 0) ``last.pt``, ``metrics.csv``, ``summary.json`` into
    ``config.out_dir``.
    """
    t_call = time.time()
    info = init_distributed()
    device = _resolve_device(config.device, info)
    amp_dtype = _precision(config.precision, device)
    out_dir = Path(config.out_dir)
    paths = {"checkpoint": out_dir / "last.pt", "metrics_csv": out_dir / "metrics.csv",
             "summary_json": out_dir / "summary.json"}
    model: nn.Module = task.model
    aux: nn.Module | None = getattr(task, "aux_model", None)
    if aux is not None and not callable(getattr(task, "aux_loss", None)):
        raise ValueError("the task has an aux_model but no aux_loss(batch, step); define both or neither.")
    task_cfg = canonical_config(task.config_dict())
    seed_everything(config.seed + info.rank)  # ranks draw different noise; rank 0 matches a 1-process run

    model.to(device)
    if aux is not None:
        aux.to(device)
    if callable(getattr(task, "setup", None)):
        task.setup(device)
    par = Parallel(config.parallel, info, device, has_aux=aux is not None)
    ema = par.prepare(task, model, config.ema_decay)  # rank 0's weights everywhere; FSDP shards here
    opt = _make_optimizer(getattr(task, "param_groups", None), model, config.lr, config)
    aux_opt = (_make_optimizer(getattr(task, "aux_param_groups", None), aux, config.aux_lr or config.lr, config)
               if aux is not None else None)

    # -- resume ---------------------------------------------------------------------------------------------------
    start_step, wall_before, data_state, ckpt = 0, 0.0, None, None
    ckpt_path = _resume_path(resume, out_dir)
    if ckpt_path is not None:
        ckpt = load_checkpoint(ckpt_path, map_location="cpu")
        if ckpt.get("format") != FORMAT:
            raise ValueError(f"{ckpt_path} is not a smlib.train checkpoint (format {ckpt.get('format')!r}).")
        saved = {"task": json.loads(ckpt["task_config"]), "train": ckpt["train_config"]}
        saved["train"] = {k: saved["train"].get(k) for k in TRAJECTORY_KEYS}
        diff = config_diff(_run_identity(config, task_cfg), saved)
        if diff:
            raise ValueError(f"checkpoint {ckpt_path} was written for another config (differs in: "
                             f"{', '.join(diff)}); use another out_dir, or resume=False to start afresh.")
        if (aux is None) != (ckpt.get("aux_model") is None):
            raise ValueError(f"checkpoint {ckpt_path} {'has' if aux is None else 'lacks'} an aux_model while the "
                             f"task {'lacks' if aux is None else 'has'} one; use another out_dir.")
        par.load(model, opt, ema, ckpt["model"], ckpt["optimizer"], ckpt["ema"])  # on every rank, unwrapped
        if aux is not None:
            aux.load_state_dict(ckpt["aux_model"])
            aux_opt.load_state_dict(ckpt["aux_optimizer"])
        start_step, wall_before, data_state = int(ckpt["step"]), float(ckpt["wall_time_s"]), ckpt["data"]
    # DDP is built now, on the loaded modules: it broadcasts rank 0's parameters and buffers
    loss_fn = par.loss_fn(task, "loss", model)
    aux_loss_fn = par.loss_fn(task, "aux_loss", aux) if aux is not None else None

    # the loader is built before the RNG state is restored: whatever it draws on creation, an unbroken run drew too
    stream = BatchStream(data, config.batch_size, config.seed, config.shuffle, info.rank, info.world_size,
                         start_step, state=data_state, num_workers=config.num_workers, collate_fn=collate_fn,
                         pin_memory=device.type == "cuda")
    if ckpt is not None:
        states = ckpt["rng"]
        if len(states) == info.world_size:
            set_rng_state(states[info.rank])
        else:
            warnings.warn(f"checkpoint was written by {len(states)} processes, this run has {info.world_size}: "
                          "RNG streams are re-seeded from (seed, rank, step), so noise draws differ from an "
                          "unbroken run (the data order does not).", stacklevel=2)
            seed_everything(mix_seed(config.seed, info.rank, start_step))
        del ckpt

    log = MetricsLog(paths["metrics_csv"])
    if info.is_main:
        log.truncate_after(start_step)  # rows written after the checkpoint, before a crash, are redone
    end_step = config.steps if max_steps_this_call is None else min(config.steps, start_step + max_steps_this_call)
    if start_step > config.steps:
        warnings.warn(f"the checkpoint is at step {start_step}, beyond config.steps={config.steps}; "
                      "nothing to train.", stacklevel=2)

    def wall() -> float:
        return wall_before + time.time() - t_call

    def save(step: int) -> None:
        rng = all_gather_objects(get_rng_state())  # every rank must take part (in the FSDP gathers too)
        model_state, opt_state, ema_state = par.states(model, opt, ema)
        if info.is_main:
            save_checkpoint({
                "format": FORMAT, "step": step,
                "model": model_state,
                "ema": ema_state,
                "aux_model": aux.state_dict() if aux is not None else None,
                "optimizer": opt_state,
                "aux_optimizer": aux_opt.state_dict() if aux_opt is not None else None,
                "scheduler": {"kind": "warmup_constant", "warmup_steps": config.warmup_steps,
                              "base_lrs": [g["base_lr"] for g in opt.param_groups]},
                "rng": rng, "data": stream.state(),
                "train_config": config.to_dict(), "task_config": json.dumps(task_cfg, sort_keys=True),
                "world_size": info.world_size, "wall_time_s": wall(),
            }, paths["checkpoint"])
        barrier()

    # -- train ----------------------------------------------------------------------------------------------------
    window, train_logs = WindowMean(), {}
    show = progress and info.is_main and sys.stderr.isatty()
    bar = tqdm(total=config.steps, initial=min(start_step, config.steps), disable=not show, dynamic_ncols=True,
               desc=out_dir.name)
    model.train()
    if aux is not None:
        aux.train()
    model_params = _params(opt)
    aux_params = _params(aux_opt) if aux_opt is not None else []
    step = start_step
    try:
        for step in range(start_step, end_step):
            t0 = time.perf_counter()
            batch = _to_device(next(stream), device, non_blocking=device.type == "cuda")
            do_model, do_aux = update_schedule(step, aux is not None, config.aux_start_step, config.aux_alternate)
            factor = warmup_factor(step, config.warmup_steps)
            logs: dict[str, float] = {}
            if do_model:
                with _frozen(aux_params):
                    logs.update(_optimizer_step(loss_fn, batch, step, opt, factor, config.grad_clip, amp_dtype,
                                                device, ""))
                if ema is not None:  # per model update: the discriminator's steps leave the EMA alone
                    ema.update(model)
            if do_aux:
                with _frozen(model_params):
                    logs.update(_optimizer_step(aux_loss_fn, batch, step, aux_opt, factor, config.grad_clip,
                                                amp_dtype, device, "aux_"))
            logs["sec_per_step"] = time.perf_counter() - t0
            window.add(logs)
            done = step + 1
            if done % config.log_every == 0 or done == config.steps:
                train_logs = window.flush()
                if info.is_main:
                    log.write(done, train_logs)
                    bar.set_postfix({k: f"{train_logs[k]:.4g}" for k in ("loss", "aux_loss") if k in train_logs},
                                    refresh=False)
            if config.eval_every and done % config.eval_every == 0 and done < config.steps:
                metrics = _evaluate(task, model, ema, done, config.seed, par)
                if info.is_main and metrics:
                    log.write(done, {f"eval/{k}": v for k, v in metrics.items()})
            if (config.ckpt_every and done % config.ckpt_every == 0) or done == end_step:
                save(done)
            bar.update(1)
            if callback is not None:
                callback(done, logs)
        final_step = max(end_step, start_step)
    finally:
        bar.close()

    # -- finish ---------------------------------------------------------------------------------------------------
    completed = final_step >= config.steps
    metrics: dict = {}
    if completed:
        metrics = _evaluate(task, model, ema, final_step, config.seed, par)
        if info.is_main and metrics:
            log.write(final_step, {f"eval/{k}": v for k, v in metrics.items()})
    total_wall = wall()
    if info.is_main:
        write_json(paths["summary_json"], {
            "config": {"train": config.to_dict(), "task": task_cfg},
            "final_metrics": metrics, "train_logs": train_logs,
            "steps": final_step, "completed": completed, "resumed_from_step": start_step or None,
            "wall_time_s": round(total_wall, 3), "wall_time_this_call_s": round(time.time() - t_call, 3),
            "device": str(device), "precision": str(amp_dtype or torch.float32).replace("torch.", ""),
            "world_size": info.world_size, "checkpoint": Path(paths["checkpoint"]).name,   # beside this file
            **provenance(),
        })
    barrier()
    return TrainResult(step=final_step, completed=completed, metrics=metrics, train_logs=train_logs,
                       wall_time_s=total_wall, device=str(device), out_dir=out_dir,
                       resumed_from=start_step or None, **paths)


__all__ = ["Task", "TrainResult", "fit"]
