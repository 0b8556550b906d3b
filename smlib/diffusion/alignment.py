"""Representation alignment: REPA, iREPA and DoG-REPA as one loss term a diffusion transformer can carry.

A frozen encoder sees the *clean* image; the diffusion model sees its noisy latent. After block k the model's
tokens are projected and pulled towards the encoder's tokens by a negative cosine:

    h      = hidden state after block k (1-based) of the backbone           (B, T, D)   T = h x w token grid
    p      = projector(h)                                                   (B, T, C)
    z      = target_transform(encoder tokens of x_0)                        (B, T, C)   cached: computed once
    L      = L_diffusion + weight * mean_{tokens} (-cos(p_t, z_t))         per sample, the same t for both terms

Three named recipes, read from the released code (the book's "Sources we could read", REPA and DoG-REPA):

* **REPA** (``sihyun-yu/REPA@67f71450``: ``models/sit.py::build_mlp``, ``loss.py``): a token-wise MLP
  Linear-SiLU-Linear-SiLU-Linear (hidden 2048), the raw patch tokens as target, weight 0.5.
* **iREPA** (``End2End-Diffusion/iREPA@99ad4ac2``: ``ldm/models/sit.py::ProjectionLayer``, ``ldm/utils.py``): a
  ``Conv2d(k, padding=k // 2)`` on the token grid (k = 3 in the README; the LDM launch recipe trains k = 1, the
  CLI default) and the spatially normalised target (z - gamma mean_T) / (std_T + 1e-6), gamma 0.6, weight 1.0.
* **DoG-REPA**, *our instantiation* (the Spectrum Matching paper names it; its sigmas, normalisation and projector
  could not be read): the Difference-of-Gaussians band-pass of every target channel on the token grid, exact in the
  DCT domain (:func:`smlib.spectral.dog_filter`), then per-channel std normalisation (or none: the paper's
  unablated confound), with iREPA's projector, weight and depth so that only the target differs.

The target transform runs on the fly from cached raw tokens (a DCT on an 8 x 8 or 16 x 16 grid costs little), so one
cache serves every arm. Projection, normalisation and cosine are computed in float32 even under autocast (REPA's
fp16 NaNs, REPA#46). Alignment off means no :class:`AlignedModel` at all, so training is today's bit for bit.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from smlib.spectral import dog_normalize, spatial_normalize

PROJECTORS = ("mlp", "conv")
TARGETS = ("raw", "spatial-norm", "dog")


@dataclass(frozen=True)
class AlignmentSpec:
    """What one alignment arm is. ``depth``: tap after block k (1-based); None = ceil(blocks / 3) (REPA's 4 of 12
    for SiT-B/2). ``projector_hidden`` only for the MLP; ``kernel_size`` only for the conv; ``gamma`` only for
    the spatial normalisation; ``sigma1 < sigma2`` (token units) and ``dog_std`` only for the DoG."""

    name: str = "repa"
    projector: str = "mlp"
    projector_hidden: int = 2048
    kernel_size: int = 3
    depth: int | None = None
    weight: float = 0.5
    target: str = "raw"
    gamma: float = 1.0
    sigma1: float = 0.5
    sigma2: float = 2.0
    dog_std: bool = True

    def __post_init__(self):
        if self.projector not in PROJECTORS:
            raise ValueError(f"unknown projector {self.projector!r}; choose one of: {', '.join(PROJECTORS)}.")
        if self.target not in TARGETS:
            raise ValueError(f"unknown alignment target {self.target!r}; choose one of: {', '.join(TARGETS)}.")
        if self.target == "dog" and not 0 < self.sigma1 < self.sigma2:
            raise ValueError(f"a DoG needs 0 < sigma1 < sigma2 (token units), got sigma1={self.sigma1}, "
                             f"sigma2={self.sigma2}.")
        if self.projector == "conv" and (self.kernel_size < 1 or self.kernel_size % 2 == 0):
            raise ValueError(f"the conv projector needs an odd kernel size >= 1, got {self.kernel_size}.")

    def to_dict(self) -> dict:
        return asdict(self)


def repa(weight: float = 0.5, projector_hidden: int = 2048, depth: int | None = None) -> AlignmentSpec:
    """REPA: MLP projector, raw target tokens, weight 0.5."""
    return AlignmentSpec("repa", "mlp", projector_hidden, depth=depth, weight=weight, target="raw")


def irepa(gamma: float = 0.6, kernel_size: int = 3, weight: float = 1.0, depth: int | None = None) -> AlignmentSpec:
    """iREPA: conv projector (state k: 3 as the README, 1 as the LDM launch recipe trains), spatially normalised
    target with ``gamma`` (0.6 LDM, 0.8 JiT, 1.0 project page), weight 1.0."""
    return AlignmentSpec(f"irepa-g{gamma:g}", "conv", kernel_size=kernel_size, depth=depth, weight=weight,
                         target="spatial-norm", gamma=gamma)


def dog_repa(sigma1: float, sigma2: float, std: bool = True, kernel_size: int = 3, weight: float = 1.0,
             depth: int | None = None) -> AlignmentSpec:
    """DoG-REPA (our instantiation): iREPA's projector and weight with a DoG(sigma1, sigma2) target, per-channel std
    normalised (``std=False``: the band-pass alone)."""
    tag = f"dog-{sigma1:g}-{sigma2:g}" + ("" if std else "-nostd")
    return AlignmentSpec(tag, "conv", kernel_size=kernel_size, depth=depth, weight=weight, target="dog",
                         sigma1=sigma1, sigma2=sigma2, dog_std=std)


ALIGNMENTS = {"repa": repa, "irepa": irepa, "dog-repa": dog_repa}


def make_alignment(name: str, **kwargs) -> AlignmentSpec:
    """An :class:`AlignmentSpec` by recipe name ("repa", "irepa", "dog-repa"); kwargs go to the recipe."""
    if name not in ALIGNMENTS:
        raise KeyError(f"unknown alignment {name!r}; choose one of: {', '.join(ALIGNMENTS)} (or none).")
    return ALIGNMENTS[name](**kwargs)


# ------------------------------------------------------------------------------------------------- target side
def tokens_to_grid(tokens: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """(B, T, C) row-major tokens -> (B, C, h, w)."""
    b, t, c = tokens.shape
    if t != grid[0] * grid[1]:
        raise ValueError(f"{t} tokens do not fill a {grid[0]}x{grid[1]} grid.")
    return tokens.transpose(1, 2).reshape(b, c, *grid)


def grid_to_tokens(x: torch.Tensor) -> torch.Tensor:
    """(B, C, h, w) -> (B, h w, C) row-major."""
    return x.flatten(2).transpose(1, 2)


def transform_target(z: torch.Tensor, spec: AlignmentSpec) -> torch.Tensor:
    """The arm's target from raw encoder tokens on the grid, in float32: (B, C, h, w) -> (B, C, h, w).
    raw: unchanged; spatial-norm: iREPA's (z - gamma mean) / (std + 1e-6), unbiased std; dog: DoG band-pass in
    the DCT domain, then per-channel std (or not)."""
    z = z.float()
    if spec.target == "raw":
        return z
    if spec.target == "spatial-norm":
        return spatial_normalize(z, gamma=spec.gamma, eps=1e-6, correction=1)
    return dog_normalize(z, spec.sigma1, spec.sigma2, eps=1e-6, std=spec.dog_std)


def check_grid(model_grid: tuple[int, int], encoder) -> None:
    """Refuse a target whose token grid is not the model's, in one line naming both grids and the encoder input size
    that would match (REPA matches grids by the encoder's input size, never by interpolating tokens)."""
    enc_grid = tuple(encoder.grid)
    if enc_grid != tuple(model_grid):
        raise ValueError(f"the target grid {enc_grid[0]}x{enc_grid[1]} ({encoder.name} at {encoder.input_size} px) is "
                         f"not the model's token grid {model_grid[0]}x{model_grid[1]}; build the encoder with "
                         f"input_size={matching_input_size(encoder, model_grid[0])} instead (tokens are never "
                         "interpolated).")


def matching_input_size(encoder, side: int) -> int:
    """The smallest input size at which ``encoder`` gives a ``side`` x ``side`` grid (side x stride for a
    stride-s network)."""
    for size in range(max(1, (side - 1) * encoder.stride + 1), side * encoder.stride + 1):
        if encoder.grid_size(size)[0] == side:
            return size
    raise ValueError(f"{encoder.name} cannot produce a {side}x{side} grid.")


# ------------------------------------------------------------------------------------------------- model side
class MLPProjector(nn.Module):
    """REPA's token-wise projector: (B, T, D) -> (B, T, C), Linear-SiLU-Linear-SiLU-Linear, Xavier-uniform weights
    and zero biases (REPA's ``SiT.initialize_weights`` reaches the projectors too)."""

    def __init__(self, in_dim: int, out_dim: int, hidden: int = 2048):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, out_dim))
        for m in self.net:
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h)


class ConvProjector(nn.Module):
    """iREPA's projector: tokens (B, T, D) -> grid (B, D, h, w) -> Conv2d(k, padding k // 2, zero padding, bias, no
    activation; PyTorch's default init as in iREPA) -> (B, T, C). k = 1 is a per-token linear map."""

    def __init__(self, in_dim: int, out_dim: int, grid: tuple[int, int], kernel_size: int = 3):
        super().__init__()
        self.grid = tuple(grid)
        self.conv = nn.Conv2d(in_dim, out_dim, kernel_size, padding=kernel_size // 2)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return grid_to_tokens(self.conv(tokens_to_grid(h, self.grid)))


def negative_cosine(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """mean over tokens of -cos(pred_t, target_t), in float32: (B, T, C), (B, T, C) -> (B,). As REPA's
    ``-(F.normalize(z) * F.normalize(z_tilde)).sum(-1)`` averaged over tokens."""
    with torch.autocast(pred.device.type, enabled=False):
        cos = (F.normalize(pred.float(), dim=-1) * F.normalize(target.float(), dim=-1)).sum(dim=-1)
    return -cos.mean(dim=1)


def num_blocks(backbone: nn.Module) -> int:
    """Hidden states the backbone returns with ``return_hidden`` (DiT: depth; U-ViT: 2 (depth // 2) + 1)."""
    return int(getattr(backbone, "num_blocks", None) or backbone.depth)


def default_depth(blocks: int) -> int:
    """ceil(blocks / 3): REPA's 4 of 12 (SiT-B/2) and 8 of 24 (L/2)."""
    return math.ceil(blocks / 3)


class RepresentationAlignment(nn.Module):
    """The alignment head of one arm: projector + target transform + loss.

    ``forward(hidden, target)``: hidden = the backbone's list of block outputs [(B, T, D)] * blocks, target = raw
    encoder tokens (B, T, C) -> (loss (B,) = weight * mean_T(-cos), cosine (B,) detached)."""

    def __init__(self, spec: AlignmentSpec, hidden_size: int, target_dim: int, grid: tuple[int, int], blocks: int):
        super().__init__()
        self.spec, self.grid, self.target_dim = spec, tuple(grid), int(target_dim)
        self.depth = default_depth(blocks) if spec.depth is None else int(spec.depth)
        if not 1 <= self.depth <= blocks:
            raise ValueError(f"alignment depth {self.depth} is outside the model's blocks 1..{blocks}.")
        if spec.projector == "mlp":
            self.projector = MLPProjector(hidden_size, target_dim, spec.projector_hidden)
        else:
            self.projector = ConvProjector(hidden_size, target_dim, self.grid, spec.kernel_size)

    def target(self, raw: torch.Tensor) -> torch.Tensor:
        """Raw encoder tokens (B, T, C) -> the arm's target tokens (B, T, C), float32."""
        return grid_to_tokens(transform_target(tokens_to_grid(raw, self.grid), self.spec))

    def forward(self, hidden, raw_target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = hidden[self.depth - 1]
        if raw_target.shape[:2] != h.shape[:2] or raw_target.shape[-1] != self.target_dim:
            raise ValueError(f"target tokens {tuple(raw_target.shape)} do not match the model's "
                             f"({h.shape[0]}, {h.shape[1]}, {self.target_dim}).")
        with torch.no_grad(), torch.autocast(raw_target.device.type, enabled=False):  # the DCT stays fp32
            z = self.target(raw_target)
        neg_cos = negative_cosine(self.projector(h), z)
        return self.spec.weight * neg_cos, -neg_cos.detach()


class AlignedModel(nn.Module):
    """A backbone carrying an alignment head. ``forward`` is the backbone's, so samplers and the EMA see the plain
    model; :meth:`loss` is the diffusion loss plus the alignment term. State-dict keys: ``backbone.*`` and
    ``alignment.*`` (:func:`backbone_state` strips them back to the backbone's own)."""

    def __init__(self, backbone: nn.Module, alignment: RepresentationAlignment):
        super().__init__()
        self.backbone, self.alignment = backbone, alignment

    def forward(self, x, t, y=None, **kwargs):
        return self.backbone(x, t, y, **kwargs)

    def loss(self, formulation, x0: torch.Tensor, cond: torch.Tensor | None, raw_target: torch.Tensor,
             **kwargs) -> tuple[torch.Tensor, dict]:
        """Per-sample diffusion + alignment loss (B,) and logs (floats): loss_diffusion, loss_align, align_cos."""
        diff, logs = formulation.loss(self, x0, cond, model_kwargs=dict(return_hidden=True), **kwargs)
        align, cos = self.alignment(logs["hidden"], raw_target)
        return diff + align, {"loss_diffusion": float(diff.detach().mean()), "loss_align": float(align.detach().mean()),
                              "align_cos": float(cos.mean())}


def build_aligned(backbone: nn.Module, spec: AlignmentSpec | None, target_dim: int) -> nn.Module:
    """``backbone`` itself when ``spec`` is None; else an :class:`AlignedModel` whose head taps ``spec.depth`` on the
    backbone's token grid."""
    if spec is None:
        return backbone
    side = backbone.input_size // backbone.patch_size
    head = RepresentationAlignment(spec, backbone.hidden_size, target_dim, (side, side), num_blocks(backbone))
    return AlignedModel(backbone, head)


def backbone_state(state: dict) -> dict:
    """The backbone's own state dict from an :class:`AlignedModel`'s (or a plain backbone's, returned as is)."""
    if not any(k.startswith("backbone.") for k in state):
        return state
    return {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}


__all__ = ["AlignmentSpec", "ALIGNMENTS", "PROJECTORS", "TARGETS", "repa", "irepa", "dog_repa", "make_alignment",
           "tokens_to_grid", "grid_to_tokens", "transform_target", "check_grid", "matching_input_size",
           "MLPProjector", "ConvProjector", "negative_cosine", "num_blocks", "default_depth",
           "RepresentationAlignment", "AlignedModel", "build_aligned", "backbone_state"]
