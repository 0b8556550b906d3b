"""Device selection: one string everywhere, so the same code runs on CPU, CUDA and Apple MPS."""
from __future__ import annotations

import torch


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Return a ``torch.device``; ``"auto"`` picks CUDA, then MPS, then CPU.

    An explicit request for an accelerator that is not there fails loudly instead of silently
    falling back to the CPU (a ten-hour run on the wrong device is worse than an error).
    """
    if isinstance(device, torch.device):
        return device
    name = str(device).lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device={device!r} requested but CUDA is not available; use device='auto' or 'cpu'.")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise RuntimeError("device='mps' requested but MPS is not available; use device='auto' or 'cpu'.")
    return torch.device(name)


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """The mixed-precision dtype we use on ``device``: bf16 on CUDA, none elsewhere (CPU runs in fp32)."""
    return torch.bfloat16 if device.type == "cuda" else None
