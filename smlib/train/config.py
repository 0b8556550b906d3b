"""TrainConfig: every knob of :func:`smlib.train.fit`, as one plain dataclass (saved in checkpoints and summaries)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

# The keys that define a run's trajectory: resuming with any of them changed would silently splice two different
# runs, so :func:`fit` refuses it. The others (steps, cadences, device, paths) may change between calls.
TRAJECTORY_KEYS = ("batch_size", "lr", "weight_decay", "betas", "warmup_steps", "grad_clip", "ema_decay", "seed",
                   "aux_lr", "aux_start_step", "aux_alternate", "shuffle")


@dataclass
class TrainConfig:
    """Optimisation, cadence and output settings of one training run.

    ``steps`` counts optimiser steps of the main model's loop (a G/D alternation step counts once). ``batch_size``
    is the *global* batch: with DDP each of the ``world_size`` ranks gets ``batch_size // world_size`` examples.
    LR: AdamW at ``lr * min(1, (step + 1) / warmup_steps)``, then constant (``step`` is 0-based, so the first
    step already moves). ``grad_clip``: max global grad norm (None: no clipping; the norm is logged either way).
    ``ema_decay``: None for no EMA. ``eval_every``/``ckpt_every``/``log_every``: in steps (None: eval only at the
    end / checkpoint only at the end). ``precision``: "auto" (bf16 autocast on CUDA, fp32 elsewhere), "bf16"
    (CUDA only) or "fp32". Auxiliary optimiser (a GAN discriminator): ``aux_lr`` (None: ``lr``), active from step
    ``aux_start_step`` (0-based); with ``aux_alternate`` the generator steps on even steps and the discriminator on
    odd ones after the start (the authors' recipe), otherwise both step on every step (generator first).
    ``num_workers``: DataLoader workers for map-style datasets (0 keeps data-side randomness resumable).
    ``parallel``: how ranks share a step under ``torchrun``: "ddp" (PyTorch DistributedDataParallel) or "fsdp"
    (FSDP2: parameters, gradients and AdamW state sharded; for models whose weights and optimiser state do not fit
    one device; no aux_model); ignored on one process. Not a trajectory key: both average the same gradients
    (see :mod:`smlib.train.parallel`).
    """

    steps: int = 1000
    batch_size: int = 64
    lr: float = 1e-4
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = 0
    grad_clip: float | None = 1.0
    ema_decay: float | None = None
    eval_every: int | None = None
    ckpt_every: int | None = 1000
    log_every: int = 50
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    out_dir: str = "runs/train"
    aux_lr: float | None = None
    aux_start_step: int = 0
    aux_alternate: bool = True
    shuffle: bool = True
    num_workers: int = 0
    parallel: str = "ddp"

    def __post_init__(self):
        self.betas = tuple(float(b) for b in self.betas)
        self.out_dir = str(self.out_dir)
        for name in ("steps", "batch_size", "log_every"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)!r}.")
        for name in ("eval_every", "ckpt_every"):
            v = getattr(self, name)
            if v is not None and int(v) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1 or None, got {v!r}.")
        if self.warmup_steps < 0 or self.aux_start_step < 0 or self.num_workers < 0:
            raise ValueError("TrainConfig.warmup_steps, aux_start_step and num_workers must be >= 0.")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"TrainConfig.betas must be two numbers in [0, 1), got {self.betas!r}.")
        if self.ema_decay is not None and not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"TrainConfig.ema_decay must be in [0, 1) or None, got {self.ema_decay!r}.")
        if self.precision not in ("auto", "bf16", "fp32"):
            raise ValueError(f"TrainConfig.precision must be 'auto', 'bf16' or 'fp32', got {self.precision!r}.")
        if self.parallel not in ("ddp", "fsdp"):
            raise ValueError(f"TrainConfig.parallel must be 'ddp' or 'fsdp', got {self.parallel!r}.")
        if self.lr <= 0 or (self.aux_lr is not None and self.aux_lr <= 0):
            raise ValueError("TrainConfig.lr and aux_lr must be > 0.")

    def aux_active(self, step: int) -> bool:
        """Whether the auxiliary model (discriminator) is in play at 0-based ``step``: the generator's loss should
        include its adversarial term exactly when this is True."""
        return step >= self.aux_start_step

    def to_dict(self) -> dict:
        """Plain dict (betas as a list): JSON- and ``weights_only``-safe."""
        d = asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """Inverse of :meth:`to_dict`; unknown keys raise a one-line error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise KeyError(f"unknown TrainConfig keys {unknown}; known: {sorted(known)}")
        return cls(**d)


__all__ = ["TrainConfig", "TRAJECTORY_KEYS"]
