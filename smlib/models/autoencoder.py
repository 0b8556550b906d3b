"""The SD-VAE-style convolutional autoencoder used by every AE in the book (SD-VAE, ESM-AE, DSM-AE, SE, EQ-VAE, VA-VAE).

The design follows the KL autoencoder of Stable Diffusion (Rombach et al. 2022), which the Spectrum Matching code
re-implements (notes §1.5):

    encoder  x (B, 3, H, W)
        conv_in 3x3 -> channels[0]
        per level i: layers_per_block ResnetBlocks -> channels[i]; a stride-2 Downsample except at the last level
        mid: ResnetBlock, single-head self-attention, ResnetBlock
        GroupNorm, SiLU, conv_out 3x3 -> 2d channels (mean, log-variance)
    quant_conv 1x1 (2d -> 2d)                        "post-encoder" projection
    posterior N(mean, exp(logvar)), logvar clamped to [-30, 20]
    post_quant_conv 1x1 (d -> d)                     "pre-decoder" projection
    decoder  z (B, d, H/f, W/f)
        conv_in 3x3 -> channels[-1]; mid block as above
        per level, deepest first: layers_per_block + 1 ResnetBlocks; nearest 2x upsample + conv 3x3 except at the top
        GroupNorm, SiLU, conv_out 3x3 -> 3 channels

The downsampling factor is f = 2^(len(channels) - 1). ``f8d4`` (channels 128, 256, 512, 512; d = 4) is SD's KL-f8
shape, ``f16d16`` the authors' f16 AE. GroupNorm uses 32 groups, or the largest divisor of the channel count not
above ``groups`` for narrow test models.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn


# ----------------------------------------------------------------------------------------------- config
@dataclass(frozen=True)
class AEConfig:
    """Shape of an :class:`AutoEncoder`. ``factor`` = 2^(len(channels)-1); latents are (d, H/f, W/f)."""

    channels: tuple[int, ...] = (128, 256, 512, 512)
    layers_per_block: int = 2
    latent_channels: int = 4
    attention: bool = True
    image_channels: int = 3
    resolution: int = 256          # nominal training resolution (any multiple of ``factor`` works)
    groups: int = 32
    downsample: str = "conv"       # "conv": SD's stride-2 conv with (0, 1, 0, 1) padding; "avgpool": 2x2 mean
    dropout: float = 0.0

    def __post_init__(self):
        if len(self.channels) < 1 or any(c < 1 for c in self.channels):
            raise ValueError(f"AEConfig.channels must be a non-empty tuple of positive ints, got {self.channels}.")
        if self.downsample not in ("conv", "avgpool"):
            raise ValueError(f"AEConfig.downsample must be 'conv' or 'avgpool', got {self.downsample!r}.")
        if self.layers_per_block < 1 or self.latent_channels < 1:
            raise ValueError("AEConfig.layers_per_block and latent_channels must be >= 1.")
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))

    @property
    def factor(self) -> int:
        """Spatial downsampling factor f."""
        return 2 ** (len(self.channels) - 1)

    @property
    def latent_size(self) -> int:
        """Latent side length at ``resolution``."""
        return self.resolution // self.factor

    @property
    def name(self) -> str:
        return f"f{self.factor}d{self.latent_channels}"

    def to_dict(self) -> dict:
        return asdict(self)


AE_CONFIGS: dict[str, AEConfig] = {
    # Paper shapes (notes §1.5): 256^2 -> 32x32x4 and 256^2 -> 16x16x16.
    "f8d4": AEConfig(channels=(128, 256, 512, 512), latent_channels=4),
    "f16d16": AEConfig(channels=(128, 128, 256, 256, 512), latent_channels=16),
    # CPU-sized models for tests and the ``ci`` preset: same topology, narrow and shallow.
    "tiny-f4d4": AEConfig(channels=(32, 64, 64), layers_per_block=1, latent_channels=4, resolution=32, groups=8),
    "tiny-f8d4": AEConfig(channels=(32, 32, 64, 64), layers_per_block=1, latent_channels=4, resolution=32, groups=8),
}


def ae_config(name: str, **overrides) -> AEConfig:
    """A named :class:`AEConfig` (``f8d4``, ``f16d16``, ``tiny-f4d4``, ``tiny-f8d4``) with field overrides."""
    if name not in AE_CONFIGS:
        raise ValueError(f"unknown autoencoder config {name!r}; known: {', '.join(AE_CONFIGS)}.")
    return replace(AE_CONFIGS[name], **overrides)


def _num_groups(channels: int, groups: int) -> int:
    # GroupNorm needs groups | channels; narrow test models get the largest divisor not above ``groups``.
    for g in range(min(groups, channels), 0, -1):
        if channels % g == 0:
            return g
    return 1


def _norm(channels: int, groups: int) -> nn.GroupNorm:
    return nn.GroupNorm(_num_groups(channels, groups), channels, eps=1e-6, affine=True)


# ----------------------------------------------------------------------------------------------- layers
class ResnetBlock(nn.Module):
    """GroupNorm-SiLU-conv3x3 twice, plus a 1x1 shortcut when the width changes. (B, C_in, H, W) -> (B, C_out, H, W)."""

    def __init__(self, in_channels: int, out_channels: int, groups: int = 32, dropout: float = 0.0):
        super().__init__()
        self.norm1 = _norm(in_channels, groups)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = _norm(out_channels, groups)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.shortcut(x) + h


class AttentionBlock(nn.Module):
    """Single-head self-attention over all H*W positions (head dim = channels), residual. (B, C, H, W) -> same."""

    def __init__(self, channels: int, groups: int = 32):
        super().__init__()
        self.norm = _norm(channels, groups)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        y = self.norm(x)
        # (B, 1 head, HW, C) so scaled_dot_product_attention scales by 1/sqrt(C), as SD's AttnBlock does
        q, k, v = (t.reshape(b, 1, c, h * w).transpose(-1, -2) for t in (self.q(y), self.k(y), self.v(y)))
        out = F.scaled_dot_product_attention(q, k, v)
        out = out.transpose(-1, -2).reshape(b, c, h, w)
        return x + self.proj_out(out)


class Downsample(nn.Module):
    """Halve H and W. ``conv``: pad right/bottom by one, 3x3 stride-2 conv (SD); ``avgpool``: 2x2 mean."""

    def __init__(self, channels: int, mode: str = "conv"):
        super().__init__()
        self.mode = mode
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=0) if mode == "conv" else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.conv is None:
            return F.avg_pool2d(x, 2, 2)
        # torch convs pad symmetrically; SD pads (0, 1, 0, 1) so output pixel i sees inputs 2i..2i+2
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    """Double H and W: nearest-neighbour upsample, then a 3x3 conv."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class MidBlock(nn.Module):
    """ResnetBlock, attention (optional), ResnetBlock at the lowest resolution. (B, C, h, w) -> same."""

    def __init__(self, channels: int, groups: int, dropout: float, attention: bool):
        super().__init__()
        self.block_1 = ResnetBlock(channels, channels, groups, dropout)
        self.attn_1 = AttentionBlock(channels, groups) if attention else nn.Identity()
        self.block_2 = ResnetBlock(channels, channels, groups, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block_2(self.attn_1(self.block_1(x)))


class Encoder(nn.Module):
    """Image (B, image_channels, H, W) -> moments (B, 2d, H/f, W/f), before the 1x1 quant_conv."""

    def __init__(self, cfg: AEConfig):
        super().__init__()
        ch, g = cfg.channels, cfg.groups
        self.conv_in = nn.Conv2d(cfg.image_channels, ch[0], 3, padding=1)
        self.down = nn.ModuleList()
        c_in = ch[0]
        for i, c_out in enumerate(ch):
            level = nn.Module()
            level.blocks = nn.ModuleList(
                ResnetBlock(c_in if j == 0 else c_out, c_out, g, cfg.dropout) for j in range(cfg.layers_per_block))
            level.downsample = Downsample(c_out, cfg.downsample) if i < len(ch) - 1 else nn.Identity()
            self.down.append(level)
            c_in = c_out
        self.mid = MidBlock(ch[-1], g, cfg.dropout, cfg.attention)
        self.norm_out = _norm(ch[-1], g)
        self.conv_out = nn.Conv2d(ch[-1], 2 * cfg.latent_channels, 3, padding=1)

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """Everything before ``conv_out``: (B, C, H, W) -> (B, channels[-1], H/f, W/f), after GroupNorm and SiLU."""
        h = self.conv_in(x)
        for level in self.down:
            for block in level.blocks:
                h = block(h)
            h = level.downsample(h)
        h = self.mid(h)
        return F.silu(self.norm_out(h))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_out(self.trunk(x))


class Decoder(nn.Module):
    """Latent (B, d, h, w) after the 1x1 post_quant_conv -> image (B, image_channels, f h, f w)."""

    def __init__(self, cfg: AEConfig):
        super().__init__()
        ch, g = cfg.channels, cfg.groups
        self.conv_in = nn.Conv2d(cfg.latent_channels, ch[-1], 3, padding=1)
        self.mid = MidBlock(ch[-1], g, cfg.dropout, cfg.attention)
        self.up = nn.ModuleList()
        c_in = ch[-1]
        for i in reversed(range(len(ch))):
            c_out = ch[i]
            level = nn.Module()
            level.blocks = nn.ModuleList(
                ResnetBlock(c_in if j == 0 else c_out, c_out, g, cfg.dropout) for j in range(cfg.layers_per_block + 1))
            level.upsample = Upsample(c_out) if i > 0 else nn.Identity()
            self.up.append(level)  # deepest level first, in execution order
            c_in = c_out
        self.norm_out = _norm(ch[0], g)
        self.conv_out = nn.Conv2d(ch[0], cfg.image_channels, 3, padding=1)

    def trunk(self, z: torch.Tensor) -> torch.Tensor:
        """Everything before ``conv_out``: (B, d, h, w) -> (B, channels[0], f h, f w), after GroupNorm and SiLU."""
        h = self.mid(self.conv_in(z))
        for level in self.up:
            for block in level.blocks:
                h = block(h)
            h = level.upsample(h)
        return F.silu(self.norm_out(h))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.conv_out(self.trunk(z))


# ----------------------------------------------------------------------------------------------- posterior
class DiagonalGaussian:
    """Diagonal Gaussian posterior q(z|x) = N(mean, exp(logvar)).

    mean, logvar: (B, d, h, w); logvar is clamped to [-30, 20] (SD) so exp() neither underflows to 0 nor overflows.
    """

    def __init__(self, mean: torch.Tensor, logvar: torch.Tensor):
        if mean.shape != logvar.shape:
            raise ValueError(f"mean and logvar shapes differ: {tuple(mean.shape)} vs {tuple(logvar.shape)}.")
        self.mean = mean
        self.logvar = logvar.clamp(-30.0, 20.0)

    @classmethod
    def from_moments(cls, moments: torch.Tensor) -> "DiagonalGaussian":
        """moments: (B, 2d, h, w), mean first then logvar (SD's channel order)."""
        mean, logvar = moments.chunk(2, dim=1)
        return cls(mean, logvar)

    @property
    def std(self) -> torch.Tensor:
        return torch.exp(0.5 * self.logvar)

    @property
    def var(self) -> torch.Tensor:
        return torch.exp(self.logvar)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """Reparameterised sample z = mean + std * eps, (B, d, h, w). ``generator`` must live on mean's device."""
        eps = torch.randn(self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype)
        return self.mean + self.std * eps

    def mode(self) -> torch.Tensor:
        """The posterior mean, (B, d, h, w)."""
        return self.mean

    def kl(self, reduction: str = "sum") -> torch.Tensor:
        """KL(q || N(0, I)) per sample, (B,).

        ``sum``: -0.5 * sum_{c,h,w} (1 + logvar - mean^2 - exp(logvar)) (SD and the authors); ``mean``: the same
        averaged over the d*h*w latent entries instead of summed.
        """
        terms = 1.0 + self.logvar - self.mean.square() - self.var
        if reduction == "sum":
            return -0.5 * terms.flatten(1).sum(dim=1)
        if reduction == "mean":
            return -0.5 * terms.flatten(1).mean(dim=1)
        raise ValueError(f"unknown KL reduction {reduction!r}; use 'sum' or 'mean'.")


# ----------------------------------------------------------------------------------------------- model
class AutoEncoder(nn.Module):
    """KL autoencoder. ``AutoEncoder("f8d4")`` or ``AutoEncoder(AEConfig(...))``.

    encode(x (B, C, H, W)) -> DiagonalGaussian over (B, d, H/f, W/f); decode(z (B, d, h, w)) -> (B, C, f h, f w);
    forward(x) -> (x_hat, posterior, z). Images are expected in [-1, 1]; H and W must be multiples of f.
    """

    def __init__(self, config: AEConfig | str = "f8d4"):
        super().__init__()
        self.config = ae_config(config) if isinstance(config, str) else config
        cfg = self.config
        self.encoder = Encoder(cfg)
        self.quant_conv = nn.Conv2d(2 * cfg.latent_channels, 2 * cfg.latent_channels, 1)
        self.post_quant_conv = nn.Conv2d(cfg.latent_channels, cfg.latent_channels, 1)
        self.decoder = Decoder(cfg)

    @property
    def factor(self) -> int:
        return self.config.factor

    @property
    def latent_channels(self) -> int:
        return self.config.latent_channels

    @property
    def encoder_last_layer(self) -> torch.Tensor:
        """Weight of the encoder's last conv (B-independent), for adaptive loss weights (VA-VAE's VF loss)."""
        return self.encoder.conv_out.weight

    @property
    def decoder_last_layer(self) -> torch.Tensor:
        """Weight of the decoder's output conv, for the adaptive GAN weight (SD, the authors)."""
        return self.decoder.conv_out.weight

    def latent_shape(self, height: int, width: int | None = None) -> tuple[int, int, int]:
        """(d, H/f, W/f) for an image of the given size."""
        width = height if width is None else width
        return (self.latent_channels, height // self.factor, width // self.factor)

    def _check_image(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != self.config.image_channels:
            raise ValueError(f"expected images (B, {self.config.image_channels}, H, W), got shape {tuple(x.shape)}.")
        f = self.factor
        if x.shape[-2] % f or x.shape[-1] % f:
            raise ValueError(f"image size {x.shape[-2]}x{x.shape[-1]} is not a multiple of the AE factor f={f}; "
                             f"resize or crop to a multiple of {f}.")

    def encode(self, x: torch.Tensor) -> DiagonalGaussian:
        """x: (B, C, H, W) in [-1, 1] -> posterior over z: (B, d, H/f, W/f)."""
        self._check_image(x)
        return DiagonalGaussian.from_moments(self.quant_conv(self.encoder(x)))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z: (B, d, h, w) -> x_hat: (B, C, f h, f w)."""
        if z.ndim != 4 or z.shape[1] != self.latent_channels:
            raise ValueError(f"expected latents (B, {self.latent_channels}, h, w), got shape {tuple(z.shape)}.")
        return self.decoder(self.post_quant_conv(z))

    def forward(self, x: torch.Tensor, sample: bool = True, generator: torch.Generator | None = None):
        """x: (B, C, H, W) -> (x_hat (B, C, H, W), posterior, z (B, d, H/f, W/f)); z is the mean if not ``sample``."""
        posterior = self.encode(x)
        z = posterior.sample(generator) if sample else posterior.mode()
        return self.decode(z), posterior, z


# ----------------------------------------------------------------------------------------------- torch.compile
def compile_trunks(model: AutoEncoder, **compile_kwargs) -> Callable[[], None]:
    """Put the encoder's and the decoder's trunk (all but the output conv) under ``torch.compile(**compile_kwargs)``;
    returns a function that undoes it. The weights and the state dict are untouched.

    Why the output convs stay eager: the objectives differentiate the step's losses with respect to them before the
    backward (SD's adaptive GAN weight at ``decoder.conv_out.weight``, VA-VAE's adaptive VF weight at
    ``encoder.conv_out.weight``; :mod:`smlib.regularizers`). A compiled graph is one autograd node, so a weight inside
    it would make each of those ``torch.autograd.grad`` calls run the graph's whole backward; outside it, the GAN
    weight's two gradients stop at the decoder's output conv, as in eager mode.
    """
    nets = (model.encoder, model.decoder)
    for net in nets:
        net.trunk = torch.compile(net.trunk, **compile_kwargs)   # an instance attribute shadows the method

    def undo() -> None:
        for net in nets:
            net.__dict__.pop("trunk", None)
    return undo


__all__ = ["AEConfig", "AE_CONFIGS", "ae_config", "AutoEncoder", "DiagonalGaussian", "Encoder", "Decoder",
           "ResnetBlock", "AttentionBlock", "Downsample", "Upsample", "compile_trunks"]
