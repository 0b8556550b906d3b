"""A convolutional U-Net for pixel diffusion: DDPM++ as EDM writes it (Song et al. 2021; Karras et al. 2022).

    x (B, C, H, W) -> 3x3 conv -> encoder: per resolution, ``num_blocks`` residual blocks (then a downsampling
                      block), each output kept as a skip
                   -> two blocks at the lowest resolution (the first with attention)
                   -> decoder: per resolution, ``num_blocks + 1`` blocks on [x, skip] (then an upsampling block)
                   -> GroupNorm, SiLU, 3x3 conv -> (B, C_out, H, W)

A residual block: GroupNorm, SiLU, 3x3 conv (after a 2x2 average pool to go down, a nearest-neighbour x2 to go up),
plus the noise embedding (a per-channel shift), GroupNorm, SiLU, dropout, 3x3 conv initialised near zero; plus the
input (through a 1x1 conv when the channels or the size change); times sqrt(1/2). Blocks at ``attn_resolutions``
end in single-head self-attention over the H W positions, also added and scaled by sqrt(1/2).

The noise embedding is DDPM++'s: sinusoids of ``t_scale * t`` at frequencies (1 / 10000)^(k / (n/2 - 1)) (EDM's
``PositionalEmbedding`` with ``endpoint=True``, sine first), then Linear, SiLU, Linear, SiLU; a class label adds a
learned vector before the MLP. ``t_scale`` is 1000 as in smlib's transformers (t in [0, 1]), so EDM's
preconditioning hands it c_noise / 1000 (:func:`smlib.diffusion.edm.backbone_t_scale`) and the sinusoids see
c_noise itself, as EDM's do.

Read from ``NVlabs/edm@008a4e5:training/networks.py`` (``SongUNet`` with encoder and decoder type "standard",
``UNetBlock`` with ``adaptive_scale=False``, ``resample_filter=[1, 1]``, ``resample_proj=True``, its initialisation:
Xavier-uniform, the last conv of each block and of the network scaled by 1e-5, the attention's qkv by sqrt(0.2)).
Not reproduced: augmentation labels, the NCSN++ variants (Fourier embedding, residual encoder), mixed precision.
``dims=1`` builds the same network over one axis, (B, C, L) (kernel-3 convolutions, pairs averaged down, samples
repeated up, attention over the L positions): a waveform U-Net in the spirit of DDPM++ for the audio experiment
(our transposition; EDM has no 1-D network).
EDM's CIFAR-10 network is ``model_channels=128, channel_mult=(2, 2, 2), num_blocks=4, attn_resolutions=(16,)``
(56 M parameters); the book's CPU runs use a far smaller one (its config says which).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from smlib.models.dit import LabelEmbedder, _check_input, _time_vector

SKIP_SCALE = math.sqrt(0.5)


def ddpmpp_embedding(t: torch.Tensor, dim: int, max_positions: float = 10000.0) -> torch.Tensor:
    """DDPM++'s noise features: [sin(t w_k), cos(t w_k)], w_k = (1 / max_positions)^(k / (dim/2 - 1)), k < dim/2
    (EDM's ``PositionalEmbedding(endpoint=True)`` with its sin/cos swap); t (B,) -> (B, dim)."""
    half = dim // 2
    freqs = (1 / max_positions) ** (torch.arange(half, device=t.device, dtype=torch.float32) / max(half - 1, 1))
    args = t.float()[:, None] * freqs[None]
    return torch.cat([args.sin(), args.cos()], dim=1)


def _group_norm(channels: int) -> nn.GroupNorm:
    # EDM's GroupNorm: min(32, C // 4) groups (at least 1), eps 1e-6 in DDPM++
    return nn.GroupNorm(max(1, min(32, channels // 4)), channels, eps=1e-6)


def _xavier(module: nn.Module, gain: float = 1.0) -> nn.Module:
    """Xavier-uniform weights scaled by ``gain`` (EDM's ``init_weight``), zero bias."""
    nn.init.xavier_uniform_(module.weight)
    with torch.no_grad():
        module.weight.mul_(gain)
    if module.bias is not None:
        nn.init.zeros_(module.bias)
    return module


CONV = {1: nn.Conv1d, 2: nn.Conv2d}
POOL = {1: F.avg_pool1d, 2: F.avg_pool2d}


class ResBlock(nn.Module):
    """DDPM++'s residual block (optionally resampling, optionally with attention): x (B, C_in, *S), emb (B, E) ->
    (B, C_out, *S'), S' = S / 2 (``down``), 2 S (``up``) or S; ``dims`` = len(S), 2 for images, 1 for waveforms."""

    def __init__(self, in_channels: int, out_channels: int, emb_channels: int, *, up: bool = False,
                 down: bool = False, attention: bool = False, dropout: float = 0.0, dims: int = 2):
        super().__init__()
        if dims not in CONV:
            raise ValueError(f"dims must be 1 (waveforms) or 2 (images), got {dims}.")
        conv = CONV[dims]
        self.up, self.down, self.dropout, self.dims = up, down, dropout, dims
        self.norm0 = _group_norm(in_channels)
        self.conv0 = _xavier(conv(in_channels, out_channels, 3, padding=1))
        self.affine = _xavier(nn.Linear(emb_channels, out_channels))
        self.norm1 = _group_norm(out_channels)
        self.conv1 = _xavier(conv(out_channels, out_channels, 3, padding=1), 1e-5)
        self.skip = (_xavier(conv(in_channels, out_channels, 1)) if in_channels != out_channels or up or down
                     else None)
        self.attention = attention
        if attention:
            self.norm2 = _group_norm(out_channels)
            self.qkv = _xavier(conv(out_channels, 3 * out_channels, 1), math.sqrt(0.2))
            self.proj = _xavier(conv(out_channels, out_channels, 1), 1e-5)

    def resample(self, x: torch.Tensor) -> torch.Tensor:
        # EDM's [1, 1] resampling filter: a 2x2 box (average pool) down, nearest-neighbour up
        if self.down:
            return POOL[self.dims](x, 2)
        if self.up:
            return F.interpolate(x, scale_factor=2.0, mode="nearest")
        return x

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv0(self.resample(F.silu(self.norm0(x))))
        shift = self.affine(emb).reshape(emb.shape[0], -1, *([1] * self.dims))     # (B, C, 1, ...)
        h = F.silu(self.norm1(h + shift))
        h = self.conv1(F.dropout(h, p=self.dropout, training=self.training))
        x = (h + (self.skip(self.resample(x)) if self.skip is not None else x)) * SKIP_SCALE
        if self.attention:
            b, c = x.shape[:2]
            q, k, v = self.qkv(self.norm2(x)).reshape(b, 3, c, -1).unbind(1)           # (B, C, N) each
            a = F.scaled_dot_product_attention(q.transpose(1, 2)[:, None], k.transpose(1, 2)[:, None],
                                               v.transpose(1, 2)[:, None])[:, 0]       # (B, N, C)
            x = (self.proj(a.transpose(1, 2).reshape(x.shape)) + x) * SKIP_SCALE
        return x


class UNet(nn.Module):
    """DDPM++ on (B, in_channels, input_size, input_size), or on (B, in_channels, input_size) with ``dims=1``:
    ``model_channels`` x ``channel_mult`` channels per resolution (halved ``len(channel_mult) - 1`` times),
    ``num_blocks`` blocks per resolution, attention at ``attn_resolutions`` (sizes along an axis), ``dropout``. Same
    contract as :class:`smlib.models.dit.DiT` for ``forward`` (t in [0, 1], labels with a null class
    ``num_classes``), without ``return_hidden``."""

    def __init__(self, input_size: int = 32, in_channels: int = 3, model_channels: int = 64,
                 channel_mult: tuple[int, ...] = (1, 2, 2), num_blocks: int = 2,
                 attn_resolutions: tuple[int, ...] = (8,), dropout: float = 0.0, channel_mult_emb: int = 4,
                 num_classes: int = 0, class_dropout_prob: float = 0.1, learn_sigma: bool = False,
                 t_scale: float = 1000.0, dims: int = 2):
        super().__init__()
        if dims not in CONV:
            raise ValueError(f"dims must be 1 (waveforms) or 2 (images), got {dims}.")
        if input_size % (2 ** (len(channel_mult) - 1)):
            raise ValueError(f"input_size {input_size} must be divisible by 2^{len(channel_mult) - 1} "
                             f"(channel_mult has {len(channel_mult)} resolutions).")
        self.input_size, self.in_channels, self.dims = input_size, in_channels, dims
        self.out_channels = 2 * in_channels if learn_sigma else in_channels
        self.num_classes, self.t_scale, self.noise_channels = num_classes, t_scale, model_channels
        emb = model_channels * channel_mult_emb
        self.map_layer0 = _xavier(nn.Linear(model_channels, emb))
        self.map_layer1 = _xavier(nn.Linear(emb, emb))
        self.y_embedder = LabelEmbedder(num_classes, model_channels, class_dropout_prob) if num_classes > 0 else None
        block = lambda cin, cout, **kw: ResBlock(cin, cout, emb, dropout=dropout, dims=dims, **kw)  # noqa: E731

        self.enc = nn.ModuleList()
        self.conv_in = _xavier(CONV[dims](in_channels, model_channels, 3, padding=1))
        skips, cout = [model_channels], model_channels
        for level, mult in enumerate(channel_mult):
            res = input_size >> level
            if level > 0:
                self.enc.append(block(cout, cout, down=True))
                skips.append(cout)
            for _ in range(num_blocks):
                self.enc.append(block(cout, model_channels * mult, attention=res in attn_resolutions))
                cout = model_channels * mult
                skips.append(cout)
        self.mid = nn.ModuleList([block(cout, cout, attention=True), block(cout, cout)])
        self.dec = nn.ModuleList()
        self.dec_takes_skip: list[bool] = []
        for level, mult in reversed(list(enumerate(channel_mult))):
            res = input_size >> level
            if level < len(channel_mult) - 1:
                self.dec.append(block(cout, cout, up=True))
                self.dec_takes_skip.append(False)
            for idx in range(num_blocks + 1):
                self.dec.append(block(cout + skips.pop(), model_channels * mult,
                                      attention=idx == num_blocks and res in attn_resolutions))
                self.dec_takes_skip.append(True)
                cout = model_channels * mult
        self.norm_out = _group_norm(cout)
        self.conv_out = _xavier(CONV[dims](cout, self.out_channels, 3, padding=1), 1e-5)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None,
                force_drop_ids: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, C, H, W) (``dims=1``: (B, C, L)), t (B,) or scalar in [0, 1], y (B,) labels or None -> x's shape with
        C_out channels."""
        if self.dims == 2:
            _check_input(x, self.in_channels, self.input_size)
        elif x.ndim != 3 or x.shape[1] != self.in_channels or x.shape[2] != self.input_size:
            raise ValueError(f"expected input (B, {self.in_channels}, {self.input_size}), got {tuple(x.shape)}.")
        b = x.shape[0]
        e = ddpmpp_embedding(self.t_scale * _time_vector(t, b, x.device), self.noise_channels).to(x.dtype)
        if self.y_embedder is not None:
            e = e + self.y_embedder(y, b, force_drop_ids)
        elif y is not None:
            raise ValueError("this model is unconditional (num_classes=0); call it with y=None.")
        emb = F.silu(self.map_layer1(F.silu(self.map_layer0(e))))
        h = self.conv_in(x)
        skips = [h]
        for blk in self.enc:
            h = blk(h, emb)
            skips.append(h)
        for blk in self.mid:
            h = blk(h, emb)
        for blk, takes in zip(self.dec, self.dec_takes_skip):
            h = blk(torch.cat([h, skips.pop()], dim=1) if takes else h, emb)
        return self.conv_out(F.silu(self.norm_out(h)))


__all__ = ["UNet", "ResBlock", "ddpmpp_embedding", "CONV", "POOL"]
