"""U-ViT (Bao et al. 2023): a ViT for diffusion where time and class are tokens and long skips join shallow and
deep blocks. The backbone of DCTdiff and of the Spectrum Matching CelebA runs.

    tokens = [time token, (class token), patch tokens] + learned position embedding,  (B, E + T, D)
    in-blocks 1..K    (each output kept as a skip)
    mid-block
    out-blocks 1..K   (out-block j first merges Linear([x, skip_{K+1-j}]): 2D -> D)
    LN -> Linear to p p C_out per patch token -> unpatchify -> 3x3 conv  ->  (B, C_out, H, W)

K = depth // 2, so there are 2K + 1 blocks (U-ViT's "depth 12" model has 13). Blocks are plain pre-LN transformer
blocks (timm ``Attention`` and ``Mlp``); conditioning enters only through the extra tokens.

Time convention as in :mod:`smlib.models.dit`: t in [0, 1], embedded as sincos(1000 t). ``num_classes > 0`` adds a
class token with a null class ``num_classes`` (used for y=None, CFG and label dropout in training mode).
"""
from __future__ import annotations

import torch
from timm.layers import Mlp, trunc_normal_
from timm.models.vision_transformer import Attention
from torch import nn

from smlib.models.dit import (LabelEmbedder, _check_input, _time_vector, parse_config_name, timestep_embedding,
                              unpatchify)


class UViTBlock(nn.Module):
    """Pre-LN transformer block, optionally merging a long skip first: (B, L, D) [, skip (B, L, D)] -> (B, L, D)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = False, skip: bool = False):
        super().__init__()
        self.skip_linear = nn.Linear(2 * dim, dim) if skip else None
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, num_heads=num_heads, qkv_bias=qkv_bias)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        if self.skip_linear is not None:
            x = self.skip_linear(torch.cat([x, skip], dim=-1))
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class UViT(nn.Module):
    """U-ViT on (B, in_channels, input_size, input_size). Arguments as :class:`~smlib.models.dit.DiT`, plus
    ``qkv_bias`` (U-ViT default False), ``mlp_time_embed`` (an MLP after the sinusoidal time features; U-ViT's
    default False) and ``final_conv`` (the 3x3 output convolution, default True)."""

    def __init__(self, input_size: int = 32, in_channels: int = 4, patch_size: int = 2, hidden_size: int = 512,
                 depth: int = 12, num_heads: int = 8, mlp_ratio: float = 4.0, num_classes: int = 0,
                 class_dropout_prob: float = 0.1, learn_sigma: bool = False, qkv_bias: bool = False,
                 mlp_time_embed: bool = False, final_conv: bool = True, t_scale: float = 1000.0):
        super().__init__()
        if input_size % patch_size:
            raise ValueError(f"input_size {input_size} must be divisible by patch_size {patch_size}.")
        if hidden_size % num_heads:
            raise ValueError(f"hidden_size {hidden_size} must be divisible by num_heads {num_heads}.")
        self.input_size, self.in_channels, self.patch_size = input_size, in_channels, patch_size
        self.out_channels = 2 * in_channels if learn_sigma else in_channels
        self.hidden_size, self.num_classes, self.t_scale = hidden_size, num_classes, t_scale
        self.num_patches = (input_size // patch_size) ** 2
        self.num_extra_tokens = 1 + (num_classes > 0)

        self.patch_embed = nn.Conv2d(in_channels, hidden_size, patch_size, stride=patch_size)
        self.time_mlp = (nn.Sequential(nn.Linear(hidden_size, 4 * hidden_size), nn.SiLU(),
                                       nn.Linear(4 * hidden_size, hidden_size)) if mlp_time_embed else nn.Identity())
        self.y_embedder = LabelEmbedder(num_classes, hidden_size, class_dropout_prob) if num_classes > 0 else None
        self.pos_embed = nn.Parameter(torch.zeros(1, self.num_extra_tokens + self.num_patches, hidden_size))
        block = lambda skip: UViTBlock(hidden_size, num_heads, mlp_ratio, qkv_bias, skip)  # noqa: E731
        self.in_blocks = nn.ModuleList(block(False) for _ in range(depth // 2))
        self.mid_block = block(False)
        self.out_blocks = nn.ModuleList(block(True) for _ in range(depth // 2))
        self.norm = nn.LayerNorm(hidden_size)
        self.decoder_pred = nn.Linear(hidden_size, patch_size * patch_size * self.out_channels)
        self.final_conv = (nn.Conv2d(self.out_channels, self.out_channels, 3, padding=1) if final_conv
                           else nn.Identity())
        self.initialize_weights()

    @property
    def num_blocks(self) -> int:
        """2 (depth // 2) + 1: the number of hidden states ``return_hidden`` gives."""
        return len(self.in_blocks) + 1 + len(self.out_blocks)

    def initialize_weights(self) -> None:
        """U-ViT's initialisation: truncated normal (std 0.02) for linears and the position embedding."""
        trunc_normal_(self.pos_embed, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if self.y_embedder is not None:
            trunc_normal_(self.y_embedder.table.weight, std=0.02)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None, return_hidden: bool = False,
                force_drop_ids: torch.Tensor | None = None):
        """Same contract as :meth:`smlib.models.dit.DiT.forward`.

        Returns out (B, C_out, H, W), or (out, [h_1, ..., h_M]) with ``return_hidden``: the *patch* tokens
        (B, T, D) after each of the M = 2 (depth // 2) + 1 blocks in order (in, mid, out); time/class tokens are
        dropped so that h_k lines up with a (H/p) x (W/p) grid like DiT's.
        """
        _check_input(x, self.in_channels, self.input_size)
        b, e = x.shape[0], self.num_extra_tokens
        tokens = self.patch_embed(x).flatten(2).transpose(1, 2)
        t = _time_vector(t, b, x.device)
        extra = [self.time_mlp(timestep_embedding(self.t_scale * t, self.hidden_size).to(tokens.dtype))[:, None]]
        if self.y_embedder is not None:
            extra.append(self.y_embedder(y, b, force_drop_ids)[:, None])
        elif y is not None:
            raise ValueError("this model is unconditional (num_classes=0); call it with y=None.")
        h = torch.cat(extra + [tokens], dim=1) + self.pos_embed

        hidden, skips = [], []
        for blk in self.in_blocks:
            h = blk(h)
            skips.append(h)
            hidden.append(h)
        h = self.mid_block(h)
        hidden.append(h)
        for blk in self.out_blocks:
            h = blk(h, skips.pop())
            hidden.append(h)

        patches = self.decoder_pred(self.norm(h))[:, e:]
        out = self.final_conv(unpatchify(patches, self.patch_size, self.out_channels, x.shape[2], x.shape[3]))
        if return_hidden:
            return out, [s[:, e:] for s in hidden]
        return out


#: size name -> (hidden_size, depth, num_heads), as in U-ViT/DCTdiff configs; "tiny" is for tests and CI
UVIT_SIZES = {
    "tiny": (32, 2, 2),
    "S": (512, 12, 8),
    "M": (768, 16, 12),
    "L": (1024, 20, 16),
}


def build_uvit(name: str = "S/2", **kwargs) -> UViT:
    """U-ViT by name, e.g. ``build_uvit("S/4", input_size=64, in_channels=3)``.
    Sizes: tiny (32, depth 2, 2 heads), S (512, 12, 8), M (768, 16, 12), L (1024, 20, 16)."""
    (hidden, depth, heads), patch = parse_config_name(name, UVIT_SIZES)
    return UViT(patch_size=patch, hidden_size=hidden, depth=depth, num_heads=heads, **kwargs)
