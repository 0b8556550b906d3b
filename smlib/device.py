"""Device selection: one string everywhere, so the same code runs on CPU, CUDA and Apple MPS."""
from __future__ import annotations

import torch


class DeviceUnavailableError(ValueError, RuntimeError):
    """A device that is not there or is not a device name; one line saying which to pass instead. A ValueError (bad
    input: the command line reports it in one line) and, as before, a RuntimeError."""


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Return a ``torch.device``; ``"auto"`` picks CUDA, then MPS, then CPU.

    An explicit request for an accelerator that is not there fails loudly instead of silently
    falling back to the CPU (a ten-hour run on the wrong device is worse than an error); so does a name torch does
    not know. Both raise :class:`DeviceUnavailableError`.
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
        raise DeviceUnavailableError(f"device={device!r} requested but CUDA is not available on this machine; use "
                                     "device='auto' or 'cpu'.")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise DeviceUnavailableError("device='mps' requested but MPS is not available; use device='auto' or 'cpu'.")
    try:
        return torch.device(name)
    except RuntimeError:
        raise DeviceUnavailableError(f"device={device!r} is not a device name; use 'auto', 'cpu', 'cuda', 'cuda:1' "
                                     "or 'mps'.") from None


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """The mixed-precision dtype we use on ``device``: bf16 on CUDA, none elsewhere (CPU runs in fp32)."""
    return torch.bfloat16 if device.type == "cuda" else None


__all__ = ["resolve_device", "autocast_dtype", "DeviceUnavailableError"]
