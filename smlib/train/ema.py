"""Exponential moving average of a model's weights (the weights one evaluates and samples from).

After each update ``shadow <- decay * shadow + (1 - decay) * param``, so with parameters held at p from an
initial p0, n updates give ``shadow = p + decay**n * (p0 - p)``. Buffers (BatchNorm statistics, fixed tables) are
copied, not averaged. The shadow is a full copy of the model (``ema.module``), usable directly for evaluation.
"""
from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """``EMA(model, decay)``: ``update(model)`` after each optimiser step, ``module`` to evaluate,
    ``copy_to(model)`` to write the averaged weights into a model, ``state_dict``/``load_state_dict`` to resume."""

    def __init__(self, model: nn.Module, decay: float):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay!r}.")
        self.decay = float(decay)
        self.num_updates = 0
        self.module = copy.deepcopy(model).eval().requires_grad_(False)

    def _pairs(self, model: nn.Module):
        """(averaged, copied) lists of (shadow, live) tensors, matched by name."""
        live_p, live_b = dict(model.named_parameters()), dict(model.named_buffers())
        avg, cp = [], []
        for name, s in self.module.named_parameters():
            (avg if s.is_floating_point() else cp).append((s, live_p[name]))
        for name, s in self.module.named_buffers():
            cp.append((s, live_b[name]))
        return avg, cp

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """One EMA step towards ``model``'s current weights (same architecture as the one given at construction)."""
        avg, cp = self._pairs(model)
        if avg:
            shadow, live = zip(*avg)
            # lerp(s, p, w) = s + w (p - s) = decay * s + (1 - decay) * p
            torch._foreach_lerp_(list(shadow), [p.detach() for p in live], 1.0 - self.decay)
        for s, b in cp:
            s.copy_(b)
        self.num_updates += 1

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        """Overwrite ``model``'s parameters and buffers with the averaged ones."""
        model.load_state_dict(self.module.state_dict())

    def to(self, device) -> "EMA":
        self.module.to(device)
        return self

    def state_dict(self) -> dict:
        """{"decay", "num_updates", "shadow": the averaged model's state_dict} (tensors and primitives only)."""
        return {"decay": self.decay, "num_updates": self.num_updates, "shadow": self.module.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.decay = float(state["decay"])
        self.num_updates = int(state["num_updates"])
        self.module.load_state_dict(state["shadow"])


__all__ = ["EMA"]
