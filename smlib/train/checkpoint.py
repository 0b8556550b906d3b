"""Checkpoints that survive crashes: written atomically, verified before they replace the last good one, and
loadable with ``torch.load(..., weights_only=True)`` (tensors, numbers, strings and plain containers only).

A checkpoint of :func:`smlib.train.fit` is a dict with the keys ``format``, ``step``, ``model``, ``ema``,
``aux_model``, ``optimizer``, ``aux_optimizer``, ``scheduler``, ``rng`` (one state per rank), ``data``,
``train_config``, ``task_config`` (JSON text), ``world_size`` and ``wall_time_s``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import nn

FORMAT = "smlib.train/1"


def save_checkpoint(obj: dict, path: str | os.PathLike) -> Path:
    """Write ``obj`` to ``path`` atomically: save to ``path.tmp``, fsync, re-open it to check the archive is
    complete, then ``os.replace``. A failure at any point leaves the previous file at ``path`` untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        # mmap reads only the archive's index: cheap even for large models, and catches truncated files
        check = torch.load(tmp, map_location="cpu", weights_only=True, mmap=True)
        if not isinstance(check, dict) or check.get("step") != obj.get("step"):
            raise OSError(f"checkpoint {tmp} did not read back as written")
        del check
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable (not possible on every filesystem)
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass
    return path


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Load a checkpoint with ``weights_only=True``; a missing or unreadable file raises a one-line error."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; train first or pass resume=False.")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - re-raised with the path and what to do
        raise RuntimeError(f"checkpoint {path} is unreadable ({type(e).__name__}: {str(e).splitlines()[0]}); "
                           "delete it or resume from another file.") from e


def load_weights(path: str | os.PathLike, model: nn.Module, use_ema: bool = True, strict: bool = True) -> str:
    """Load trained weights from a :func:`fit` checkpoint into ``model``: the EMA weights when the checkpoint has
    them and ``use_ema``, else the raw ones. Returns which were loaded ("ema" or "model")."""
    ckpt = load_checkpoint(path)
    which = "ema" if use_ema and ckpt.get("ema") else "model"
    state = ckpt["ema"]["shadow"] if which == "ema" else ckpt["model"]
    model.load_state_dict(state, strict=strict)
    return which


def canonical_config(cfg) -> dict:
    """A config dict reduced to JSON types (tuples -> lists, other objects -> str), so that configs compare the
    same before saving and after loading."""
    return json.loads(json.dumps(cfg if cfg is not None else {}, sort_keys=True, default=str))


def config_diff(a: dict, b: dict, prefix: str = "") -> list[str]:
    """Dotted names of the keys whose values differ between two (nested) config dicts, sorted."""
    out = []
    for k in sorted(set(a) | set(b), key=str):
        name = f"{prefix}{k}"
        if k not in a or k not in b:
            out.append(name)
        elif isinstance(a[k], dict) and isinstance(b[k], dict):
            out += config_diff(a[k], b[k], name + ".")
        elif a[k] != b[k]:
            out.append(name)
    return out


__all__ = ["FORMAT", "save_checkpoint", "load_checkpoint", "load_weights", "canonical_config", "config_diff"]
