"""DiT / SiT: a diffusion transformer with adaLN-Zero conditioning (Peebles & Xie 2023; SiT, Ma et al. 2024).

DiT and SiT share this network; they differ only in the formulation they are trained with (DDPM eps-prediction vs
the linear interpolant with v-prediction, see :mod:`smlib.diffusion.losses`).

    x (B, C, H, W) --Conv2d(p, stride p)--> tokens (B, T, D) + fixed 2-D sin-cos position, T = (H/p) (W/p)
    c = MLP(sincos(1000 t)) + class embedding (B, D)
    N x [ x = x + g1 * Attn(LN(x) (1 + s1) + b1);  x = x + g2 * MLP(LN(x) (1 + s2) + b2) ],  (b, s, g) = Linear(SiLU(c))
    final: Linear(LN(x) (1 + s) + b) -> (B, T, p p C_out) -> unpatchify -> (B, C_out, H, W)

adaLN-Zero: every gate g and the final linear start at zero, so an untrained model outputs exactly 0 and each block
starts as the identity.

Time convention: t is continuous in [0, 1] (as in :mod:`smlib.diffusion`) and is multiplied by ``t_scale = 1000``
before the sinusoidal embedding, so the DDPM step i of 1000 is embedded exactly as in DiT.

Classes: ``num_classes > 0`` adds an embedding table with one extra row, the null class (index ``num_classes``),
used for unconditional calls (y=None), for classifier-free guidance and for label dropout
(``class_dropout_prob``, applied in training mode only).
"""
from __future__ import annotations

import math

import torch
from timm.layers import Mlp
from timm.models.vision_transformer import Attention
from torch import nn


# ------------------------------------------------------------------------------------------------- embeddings
def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding [cos(t w_k), sin(t w_k)], w_k = max_period^(-k / (dim/2)); t: (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


class TimestepEmbedder(nn.Module):
    """t (B,) in [0, 1] -> (B, hidden): sinusoidal features of ``t_scale * t``, then a 2-layer SiLU MLP."""

    def __init__(self, hidden_size: int, frequency_size: int = 256, t_scale: float = 1000.0):
        super().__init__()
        self.frequency_size, self.t_scale = frequency_size, t_scale
        self.mlp = nn.Sequential(nn.Linear(frequency_size, hidden_size), nn.SiLU(), nn.Linear(hidden_size, hidden_size))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        emb = timestep_embedding(self.t_scale * t, self.frequency_size)
        return self.mlp(emb.to(self.mlp[0].weight.dtype))


class LabelEmbedder(nn.Module):
    """y (B,) long -> (B, hidden). Row ``num_classes`` is the null class; in training mode each label is replaced by
    it with probability ``dropout_prob`` (classifier-free guidance training)."""

    def __init__(self, num_classes: int, hidden_size: int, dropout_prob: float = 0.1):
        super().__init__()
        self.num_classes, self.dropout_prob = num_classes, dropout_prob
        self.table = nn.Embedding(num_classes + 1, hidden_size)

    @property
    def null_label(self) -> int:
        return self.num_classes

    def forward(self, y: torch.Tensor | None, batch: int, force_drop_ids: torch.Tensor | None = None) -> torch.Tensor:
        """y: (B,) long in [0, num_classes] or None (all null). force_drop_ids: (B,) bool/0-1, 1 = use null."""
        if y is None:
            y = torch.full((batch,), self.null_label, device=self.table.weight.device, dtype=torch.long)
        if y.shape != (batch,):
            raise ValueError(f"class labels must have shape ({batch},), got {tuple(y.shape)}.")
        if force_drop_ids is not None:
            drop = force_drop_ids.to(device=y.device).bool()
        elif self.training and self.dropout_prob > 0:
            drop = torch.rand(batch, device=y.device) < self.dropout_prob
        else:
            drop = None
        if drop is not None:
            y = torch.where(drop, torch.full_like(y, self.null_label), y)
        return self.table(y)


def sincos_pos_embed_2d(dim: int, grid_h: int, grid_w: int | None = None) -> torch.Tensor:
    """Fixed 2-D sin-cos position embedding (MAE / DiT), (grid_h * grid_w, dim), row-major over the grid.

    The first dim/2 channels encode the row, the last dim/2 the column; each half is [sin(p w_k), cos(p w_k)] with
    w_k = 10000^(-k / (dim/4)).
    """
    if dim % 4:
        raise ValueError(f"hidden size must be divisible by 4 for the 2-D sin-cos embedding, got {dim}.")
    grid_w = grid_h if grid_w is None else grid_w
    omega = 1.0 / 10000 ** (torch.arange(dim // 4, dtype=torch.float64) / (dim // 4))

    def encode(pos):  # (P,) -> (P, dim/2)
        args = pos[:, None] * omega[None]
        return torch.cat([torch.sin(args), torch.cos(args)], dim=1)

    rows, cols = torch.meshgrid(torch.arange(grid_h, dtype=torch.float64), torch.arange(grid_w, dtype=torch.float64),
                                indexing="ij")
    return torch.cat([encode(rows.flatten()), encode(cols.flatten())], dim=1).float()


def patchify(x: torch.Tensor, p: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, T, p p C), T = (H/p)(W/p), row-major; inverse of :func:`unpatchify`."""
    b, c, h, w = x.shape
    x = x.reshape(b, c, h // p, p, w // p, p)
    return torch.einsum("bchpwq->bhwpqc", x).reshape(b, (h // p) * (w // p), p * p * c)


def unpatchify(tokens: torch.Tensor, p: int, c: int, h: int, w: int) -> torch.Tensor:
    """(B, T, p p c) -> (B, c, h, w) for a (h/p) x (w/p) token grid."""
    b = tokens.shape[0]
    x = tokens.reshape(b, h // p, w // p, p, p, c)
    return torch.einsum("bhwpqc->bchpwq", x).reshape(b, c, h, w)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """x (B, T, D) * (1 + scale (B, D)) + shift (B, D)."""
    return x * (1 + scale[:, None]) + shift[:, None]


def _check_input(x: torch.Tensor, channels: int, size: int) -> None:
    if x.ndim != 4 or x.shape[1] != channels or x.shape[2] != size or x.shape[3] != size:
        raise ValueError(f"expected input (B, {channels}, {size}, {size}), got {tuple(x.shape)}.")


def _time_vector(t, batch: int, device) -> torch.Tensor:
    t = torch.as_tensor(t, device=device)
    return t.expand(batch) if t.ndim == 0 else t.reshape(batch)


# ------------------------------------------------------------------------------------------------- blocks
def _gelu_tanh():
    return nn.GELU(approximate="tanh")


class DiTBlock(nn.Module):
    """Pre-LN transformer block with adaLN-Zero: (B, T, D), c (B, D) -> (B, T, D)."""

    def __init__(self, hidden_size: int, num_heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(hidden_size, num_heads=num_heads, qkv_bias=True)
        self.norm2 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(hidden_size, int(hidden_size * mlp_ratio), act_layer=_gelu_tanh)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 6 * hidden_size))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift1, scale1, gate1, shift2, scale2, gate2 = self.adaLN_modulation(c).chunk(6, dim=1)
        x = x + gate1[:, None] * self.attn(modulate(self.norm1(x), shift1, scale1))
        return x + gate2[:, None] * self.mlp(modulate(self.norm2(x), shift2, scale2))


class FinalLayer(nn.Module):
    """adaLN + Linear: (B, T, D), c (B, D) -> (B, T, p p C_out)."""

    def __init__(self, hidden_size: int, patch_size: int, out_channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(hidden_size, patch_size * patch_size * out_channels)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 2 * hidden_size))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)
        return self.linear(modulate(self.norm(x), shift, scale))


# ------------------------------------------------------------------------------------------------- model
class DiT(nn.Module):
    """Diffusion transformer (DiT/SiT) on (B, in_channels, input_size, input_size) images or latents.

    Args:
        input_size: spatial size H = W. in_channels: C. patch_size: p (H divisible by p).
        hidden_size: D (divisible by 4 and by num_heads). depth: N blocks. num_heads, mlp_ratio: per block.
        num_classes: 0 = unconditional; else labels 0..num_classes-1 plus the null class ``num_classes``.
        class_dropout_prob: label dropout in training mode (for CFG). learn_sigma: output 2C channels (DiT's
            learned variance; the losses in :mod:`smlib.diffusion` use only the first C).
    """

    def __init__(self, input_size: int = 32, in_channels: int = 4, patch_size: int = 2, hidden_size: int = 384,
                 depth: int = 12, num_heads: int = 6, mlp_ratio: float = 4.0, num_classes: int = 0,
                 class_dropout_prob: float = 0.1, learn_sigma: bool = False):
        super().__init__()
        if input_size % patch_size:
            raise ValueError(f"input_size {input_size} must be divisible by patch_size {patch_size}.")
        if hidden_size % num_heads:
            raise ValueError(f"hidden_size {hidden_size} must be divisible by num_heads {num_heads}.")
        self.input_size, self.in_channels, self.patch_size = input_size, in_channels, patch_size
        self.out_channels = 2 * in_channels if learn_sigma else in_channels
        self.hidden_size, self.depth, self.num_classes = hidden_size, depth, num_classes
        self.grid_size = input_size // patch_size
        self.num_patches = self.grid_size**2

        self.x_embedder = nn.Conv2d(in_channels, hidden_size, patch_size, stride=patch_size)
        self.register_buffer("pos_embed", sincos_pos_embed_2d(hidden_size, self.grid_size)[None], persistent=False)
        self.t_embedder = TimestepEmbedder(hidden_size)
        self.y_embedder = LabelEmbedder(num_classes, hidden_size, class_dropout_prob) if num_classes > 0 else None
        self.blocks = nn.ModuleList(DiTBlock(hidden_size, num_heads, mlp_ratio) for _ in range(depth))
        self.final_layer = FinalLayer(hidden_size, patch_size, self.out_channels)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """DiT's initialisation: Xavier linears, zeroed adaLN modulations and output layer (adaLN-Zero)."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        w = self.x_embedder.weight  # initialise the patch projection like a linear layer
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(self.x_embedder.bias)
        if self.y_embedder is not None:
            nn.init.normal_(self.y_embedder.table.weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[0].weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[2].weight, std=0.02)
        for block in self.blocks:
            nn.init.zeros_(block.adaLN_modulation[-1].weight)
            nn.init.zeros_(block.adaLN_modulation[-1].bias)
        for layer in (self.final_layer.adaLN_modulation[-1], self.final_layer.linear):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def condition(self, t: torch.Tensor, y: torch.Tensor | None, batch: int,
                  force_drop_ids: torch.Tensor | None = None) -> torch.Tensor:
        """The conditioning vector c = t-embedding (+ label embedding), (B, D)."""
        c = self.t_embedder(_time_vector(t, batch, self.pos_embed.device))
        if self.y_embedder is not None:
            c = c + self.y_embedder(y, batch, force_drop_ids)
        elif y is not None:
            raise ValueError("this model is unconditional (num_classes=0); call it with y=None.")
        return c

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None, return_hidden: bool = False,
                force_drop_ids: torch.Tensor | None = None):
        """Predict the formulation's target.

        Args:
            x: (B, C, H, W) noisy input x_t. t: (B,) or scalar float in [0, 1]. y: (B,) long labels or None
                (null class). return_hidden: also return the token states after every block.
            force_drop_ids: (B,) 1 where the label is replaced by the null class (overrides random dropout).

        Returns:
            out (B, C_out, H, W); with ``return_hidden`` the pair (out, [h_1, ..., h_N]), h_k (B, T, D) the output
            of block k (1-based, as REPA's ``encoder_depth``: h_k = hidden[k - 1]), T = (H/p)(W/p) row-major.
        """
        _check_input(x, self.in_channels, self.input_size)
        b = x.shape[0]
        # contiguous tokens: the transposed view is channel-strided, and every residual `h + ...` keeps its first
        # operand's layout, so without the copy the whole residual stream, forward and backward, runs strided
        h = self.x_embedder(x).flatten(2).transpose(1, 2).contiguous() + self.pos_embed.to(x.dtype)
        c = self.condition(t, y, b, force_drop_ids)
        hidden = []
        for block in self.blocks:
            h = block(h, c)
            if return_hidden:
                hidden.append(h)
        out = unpatchify(self.final_layer(h, c), self.patch_size, self.out_channels, x.shape[2], x.shape[3])
        return (out, hidden) if return_hidden else out


# ------------------------------------------------------------------------------------------------- named configs
#: size name -> (hidden_size, depth, num_heads), as in DiT/SiT; "tiny" is for tests and CI
DIT_SIZES = {
    "tiny": (32, 2, 2),
    "S": (384, 12, 6),
    "B": (768, 12, 12),
    "L": (1024, 24, 16),
    "XL": (1152, 28, 16),
}


def parse_config_name(name: str, sizes: dict) -> tuple[tuple, int]:
    """"S/2" -> (sizes["S"], 2). Accepts an optional "DiT-", "SiT-" or "UViT-" prefix."""
    base = name.split("-", 1)[1] if "-" in name else name
    size, _, patch = base.partition("/")
    if size not in sizes or not patch.isdigit():
        raise KeyError(f"unknown config {name!r}; use SIZE/PATCH with SIZE in {', '.join(sizes)}, e.g. 'S/2'.")
    return sizes[size], int(patch)


def build_dit(name: str = "S/2", **kwargs) -> DiT:
    """DiT/SiT by name, e.g. ``build_dit("SiT-B/2", input_size=32, in_channels=4, num_classes=10)``.
    Sizes: tiny (32, 2 blocks, 2 heads), S (384, 12, 6), B (768, 12, 12), L (1024, 24, 16), XL (1152, 28, 16)."""
    (hidden, depth, heads), patch = parse_config_name(name, DIT_SIZES)
    return DiT(patch_size=patch, hidden_size=hidden, depth=depth, num_heads=heads, **kwargs)
