"""One training loop for every model in the book: autoencoders (with an optional GAN discriminator) and diffusion.

    from smlib.train import TrainConfig, fit
    result = fit(task, TrainConfig(steps=20_000, batch_size=64, lr=1e-4, ema_decay=0.9999, out_dir="runs/ae"),
                 data=train_images)          # Tensor (N, C, H, W), tuple of Tensors, Dataset, or epoch -> batches

A ``task`` has ``model``, ``loss(batch, step) -> (loss, logs)`` and ``config_dict()``; optionally ``aux_model`` +
``aux_loss`` (a discriminator), ``evaluate(model, step)``, ``param_groups()``, ``setup(device)`` (see
:class:`Task`). Runs are resumable bit-exactly on CPU, checkpoints are atomic and ``weights_only``-loadable, and
every run leaves ``last.pt``, ``metrics.csv`` (long format: step,key,value) and ``summary.json`` (with provenance).

Modules: ``config`` (TrainConfig), ``schedule`` (warm-up, G/D alternation), ``sampler`` (resumable data order),
``rng`` (seeding, RNG state), ``ema``, ``checkpoint``, ``distributed`` (torchrun process groups),
``parallel`` (DistributedDataParallel / FSDP), ``logs`` (CSV/JSON), ``loop`` (fit). Provenance records come from
:mod:`smlib.provenance`.
"""
from smlib.train.checkpoint import load_checkpoint, load_weights, save_checkpoint
from smlib.train.config import TrainConfig
from smlib.train.distributed import DistInfo, destroy_distributed, init_distributed
from smlib.train.ema import EMA
from smlib.train.logs import MetricsLog, write_json
from smlib.train.loop import Task, TrainResult, fit
from smlib.train.rng import get_rng_state, seed_everything, set_rng_state
from smlib.train.sampler import ResumableBatchSampler
from smlib.train.schedule import update_schedule, warmup_factor

__all__ = ["TrainConfig", "Task", "TrainResult", "fit", "EMA", "save_checkpoint", "load_checkpoint", "load_weights",
           "DistInfo", "init_distributed", "destroy_distributed", "MetricsLog", "write_json",
           "seed_everything", "get_rng_state", "set_rng_state", "ResumableBatchSampler", "update_schedule",
           "warmup_factor"]
