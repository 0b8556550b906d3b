"""DCTdiff's image representation: images as sequences of block-DCT tokens (Ning et al., ICML 2025).

An RGB image becomes JPEG's YCbCr, its chroma is halved in each direction (4:2:0), every channel is cut into
B x B blocks, and each block goes through the orthonormal DCT-II of (value - 128). One token gathers a 2B x 2B
region: its four Y blocks (top-left, top-right, bottom-left, bottom-right) and the Cb and Cr blocks of the same
region, each block's coefficients in zig-zag order (low to high frequency) and cut to the first ``keep = B^2 - m*``.
Every coefficient is divided by one scalar, eta::

    image (N, 3, H, W) in [-1, 1]  ->  tokens (N, H W / (2B)^2, 6 keep)          (CIFAR-10, B = 2: 64 tokens x 24)

eta ("entropy-consistent scaling") is the larger magnitude of the 1.75th and 98.25th percentiles of the Y DC
coefficient over the training set, so that about 96.5 % of DC values land in [-1, 1]; the Cb and Cr blocks use
the same eta. The per-coefficient entropies of coefficient / eta weight the loss (EBFR: entropy-based frequency
reweighting). This module reads the released code, ``forever208/DCTdiff@3561c1ea``: ``datasets.py::DCT_4YCbCr``
(tokens), ``utils.py::DCT_to_RGB`` (the decoder), ``DCT_datasets_statis.py`` (eta and entropies), ``train.py``
L70-91 (EBFR weights); the code does it with OpenCV per block, here it is batched torch.

Where we differ, on purpose and stated: the inverse colour transform is the exact inverse of the forward matrix
(the released decoder uses JPEG's rounded inverse coefficients 1.402, 0.344136, 0.714136, 1.772), and
:meth:`DCTTokenizer.decode` returns floats; the caller quantises (``smlib.metrics.to_uint8_grid``, rounding by
default, truncation as the released decoder's ``np.uint8``).

The same class also builds the rungs of the ablation ladder below DCTdiff by switching parts off: RGB instead of
YCbCr, no chroma subsampling, no DCT (the raw block values), another scale. With every part off a token is a
4 x 4 RGB patch with its 48 values in a fixed order, i.e. a patch-4 pixel token up to a permutation.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from smlib.spectral.blocks import block_merge, block_split, zigzag_order
from smlib.spectral.dct import dct2, idct2

#: JPEG (JFIF) full-range RGB -> YCbCr on 0..255 values: ycbcr = M @ rgb + offset.
JPEG_YCBCR = ((0.299, 0.587, 0.114),
              (-0.168736, -0.331264, 0.5),
              (0.5, -0.418688, -0.081312))
JPEG_YCBCR_OFFSET = (0.0, 128.0, 128.0)

#: DCTdiff's CIFAR-10 values (``configs/cifar10_uvit_mid_2by2.py``): eta and the per-coefficient entropies of
#: Y, Cb, Cr in raster order of the 2 x 2 block (the config names them ``Y_std`` etc.; they are entropies).
DCTDIFF_CIFAR10 = {"eta": 242.382,
                   "entropy_y": (6.471, 3.588, 3.767, 2.411),
                   "entropy_cb": (4.308, 1.315, 1.487, 1.0),
                   "entropy_cr": (4.014, 1.284, 1.435, 1.0)}


def _colour_matrix(dtype, device) -> tuple[torch.Tensor, torch.Tensor]:
    m = torch.tensor(JPEG_YCBCR, dtype=torch.float64)
    return m.to(dtype=dtype, device=device), torch.tensor(JPEG_YCBCR_OFFSET, dtype=dtype, device=device)


def rgb_to_ycbcr(rgb: torch.Tensor) -> torch.Tensor:
    """JPEG's full-range colour transform on 0..255 values: (..., 3, H, W) RGB -> (..., 3, H, W) Y, Cb, Cr."""
    m, offset = _colour_matrix(rgb.dtype, rgb.device)
    return torch.einsum("ij,...jhw->...ihw", m, rgb) + offset[:, None, None]


def ycbcr_to_rgb(ycbcr: torch.Tensor) -> torch.Tensor:
    """Exact inverse of :func:`rgb_to_ycbcr` (the float64 inverse of the matrix): (..., 3, H, W) -> (..., 3, H, W)."""
    m, offset = _colour_matrix(torch.float64, ycbcr.device)
    inverse = torch.linalg.inv(m).to(ycbcr.dtype)
    return torch.einsum("ij,...jhw->...ihw", inverse, ycbcr - offset.to(ycbcr.dtype)[:, None, None])


def subsample_chroma(c: torch.Tensor) -> torch.Tensor:
    """4:2:0 chroma: the mean of every 2 x 2 cell, (..., H, W) -> (..., H/2, W/2).

    OpenCV's ``INTER_LINEAR`` resize at exactly half size, which the released code calls, samples at the centre of
    each 2 x 2 cell and so equals this mean.
    """
    lead, (h, w) = c.shape[:-2], c.shape[-2:]
    return F.avg_pool2d(c.reshape(-1, 1, h, w), 2).reshape(*lead, h // 2, w // 2)


def upsample_chroma(c: torch.Tensor) -> torch.Tensor:
    """Bilinear x2 with half-pixel centres and replicated borders (OpenCV's ``INTER_LINEAR``, as the released
    decoder calls it): (..., h, w) -> (..., 2h, 2w)."""
    lead, (h, w) = c.shape[:-2], c.shape[-2:]
    up = F.interpolate(c.reshape(-1, 1, h, w), scale_factor=2, mode="bilinear", align_corners=False)
    return up.reshape(*lead, 2 * h, 2 * w)


@dataclass(frozen=True)
class DCTTokenizer:
    """Images <-> DCTdiff tokens, with each stage switchable for the ablation ladder.

    block: B, the DCT block side; a token covers a 2B x 2B region (CIFAR-10 in DCTdiff: 2; FFHQ-256: 4).
    keep: coefficients kept per block in zig-zag order, B^2 - m*; None keeps all B^2 (no truncation).
    scale: the divisor of every coefficient; DCTdiff's eta (242.382 on CIFAR-10), or 127.5 for pixel-like units.
    level_shift: subtracted from 0..255 values before the blocks (JPEG and DCTdiff: 128; 127.5 makes a token of
        raw RGB values exactly the [-1, 1] pixels).
    colour: "ycbcr" (JPEG's transform) or "rgb" (none).
    chroma_subsampling: 4:2:0 for Cb and Cr (needs colour="ycbcr"); off, a token holds 4 blocks per channel.
    dct: the orthonormal DCT of each block; off, the block's values in raster order (then ``keep`` must be None).

    Token layout: (N, T, n_blocks * keep) with T = (H / 2B) (W / 2B) in raster order of the regions and, inside a
    token, block-major order [Y_TL, Y_TR, Y_BL, Y_BR, Cb, Cr] (n_blocks = 6) or, without subsampling, the four
    blocks of each channel in turn (n_blocks = 12).
    """

    block: int = 2
    keep: int | None = None
    scale: float = DCTDIFF_CIFAR10["eta"]
    level_shift: float = 128.0
    colour: str = "ycbcr"
    chroma_subsampling: bool = True
    dct: bool = True

    def __post_init__(self):
        b2 = self.block * self.block
        if self.block < 1:
            raise ValueError(f"block must be a positive integer, got {self.block}.")
        if self.colour not in ("ycbcr", "rgb"):
            raise ValueError(f"colour must be 'ycbcr' or 'rgb', got {self.colour!r}.")
        if self.chroma_subsampling and self.colour != "ycbcr":
            raise ValueError("chroma_subsampling needs colour='ycbcr' (RGB has no chroma channels to subsample).")
        if self.keep is not None and not 1 <= self.keep <= b2:
            raise ValueError(f"keep = B^2 - m* must lie in [1, {b2}] for block {self.block} (m* in [0, {b2})), "
                             f"got {self.keep}.")
        if self.keep is not None and self.keep < b2 and not self.dct:
            raise ValueError("truncation (keep < B^2) drops high DCT frequencies; it needs dct=True.")
        if not self.scale > 0:
            raise ValueError(f"scale must be > 0, got {self.scale}.")

    @property
    def coefficients(self) -> int:
        """Values kept per block (``keep``, or B^2)."""
        return self.block * self.block if self.keep is None else self.keep

    @property
    def blocks_per_token(self) -> int:
        return 6 if self.chroma_subsampling else 12

    def token_shape(self, height: int, width: int | None = None) -> tuple[int, int]:
        """(T, D) for images of this size: T tokens of D = blocks_per_token * keep values."""
        width = height if width is None else width
        self._check_size(height, width)
        side = 2 * self.block
        return (height // side) * (width // side), self.blocks_per_token * self.coefficients

    def token_grid(self, height: int, width: int | None = None) -> tuple[int, int]:
        """The (rows, cols) grid of regions the tokens come from, in raster order."""
        width = height if width is None else width
        self._check_size(height, width)
        return height // (2 * self.block), width // (2 * self.block)

    def _check_size(self, height: int, width: int) -> None:
        side = 2 * self.block
        if height % side or width % side:
            raise ValueError(f"a {height}x{width} image cannot be cut into {side}x{side} token regions (2B with "
                             f"B = {self.block}); use a size divisible by {side}, or another block size.")

    def to_grid(self, tokens: torch.Tensor, height: int, width: int | None = None) -> torch.Tensor:
        """Tokens (N, T, D) as a (N, D, rows, cols) grid, the layout a ViT with patch size 1 reads."""
        rows, cols = self.token_grid(height, width)
        return tokens.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], rows, cols)

    @staticmethod
    def from_grid(grid: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`to_grid`: (N, D, rows, cols) -> (N, T, D)."""
        return grid.flatten(2).transpose(1, 2)

    # ------------------------------------------------------------------------------------------- per channel
    def _order(self, device) -> torch.Tensor:
        if not self.dct:
            return torch.arange(self.block * self.block, device=device)
        return zigzag_order(self.block).to(device)

    def _encode_plane(self, plane: torch.Tensor) -> torch.Tensor:
        """(N, h, w) values -> (N, h/B, w/B, keep) block coefficients in zig-zag order, scaled."""
        blocks = block_split(plane - self.level_shift, self.block)          # (N, h/B, w/B, B, B)
        if self.dct:
            blocks = dct2(blocks)
        flat = blocks.flatten(-2)[..., self._order(plane.device)]
        return flat[..., :self.coefficients] / self.scale

    def _decode_plane(self, coeffs: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`_encode_plane`, truncated coefficients read as zero: (N, nh, nw, keep) -> (N, h, w)."""
        b2 = self.block * self.block
        full = coeffs.new_zeros(*coeffs.shape[:-1], b2)
        full[..., self._order(coeffs.device)[:self.coefficients]] = coeffs * self.scale
        blocks = full.unflatten(-1, (self.block, self.block))
        if self.dct:
            blocks = idct2(blocks)
        return block_merge(blocks) + self.level_shift

    @staticmethod
    def _regions(blocks: torch.Tensor) -> torch.Tensor:
        """Full-resolution blocks (N, 2r, 2c, K) -> (N, r c, 4, K): the 2 x 2 blocks of each region, TL TR BL BR."""
        n, h, w, k = blocks.shape
        x = blocks.reshape(n, h // 2, 2, w // 2, 2, k).permute(0, 1, 3, 2, 4, 5)
        return x.reshape(n, (h // 2) * (w // 2), 4, k)

    @staticmethod
    def _unregions(tokens: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
        """Inverse of :meth:`_regions`: (N, r c, 4, K) -> (N, 2r, 2c, K)."""
        n, _, _, k = tokens.shape
        x = tokens.reshape(n, rows, cols, 2, 2, k).permute(0, 1, 3, 2, 4, 5)
        return x.reshape(n, 2 * rows, 2 * cols, k)

    # ------------------------------------------------------------------------------------------- images
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """images (N, 3, H, W) float in [-1, 1] -> tokens (N, T, D), see :meth:`token_shape`."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"encode expects RGB images (N, 3, H, W) in [-1, 1], got shape {tuple(images.shape)}.")
        self._check_size(*images.shape[-2:])
        values = (images + 1) * 127.5                                              # 0..255
        planes = rgb_to_ycbcr(values) if self.colour == "ycbcr" else values
        parts = [self._regions(self._encode_plane(planes[:, 0]))]
        for c in (1, 2):
            if self.chroma_subsampling:
                parts.append(self._encode_plane(subsample_chroma(planes[:, c])).flatten(1, 2)[:, :, None])
            else:
                parts.append(self._regions(self._encode_plane(planes[:, c])))
        return torch.cat(parts, dim=2).flatten(2)

    def decode(self, tokens: torch.Tensor, height: int, width: int | None = None,
               clip: float | None = None) -> torch.Tensor:
        """tokens (N, T, D) -> images (N, 3, H, W) float in [-1, 1] (clamped, not quantised).

        clip: clamp the tokens to [-clip, clip] first (the released decoder clamps samples to [-2, 2]).
        Quantise with ``smlib.metrics.to_uint8_grid`` (rounding; ``rounding="truncate"`` as the released code).
        """
        width = height if width is None else width
        rows, cols = self.token_grid(height, width)
        expected = (rows * cols, self.blocks_per_token * self.coefficients)
        if tokens.ndim != 3 or tuple(tokens.shape[1:]) != expected:
            raise ValueError(f"tokens of shape {tuple(tokens.shape)} do not decode to {height}x{width} images with "
                             f"this tokenizer: expected (N, {expected[0]}, {expected[1]}).")
        if clip is not None:
            tokens = tokens.clamp(-clip, clip)
        t = tokens.unflatten(2, (self.blocks_per_token, self.coefficients))           # (N, T, blocks, keep)
        y = self._decode_plane(self._unregions(t[:, :, 0:4], rows, cols))
        chroma = []
        for c in (1, 2):
            if self.chroma_subsampling:
                plane = self._decode_plane(t[:, :, 3 + c].reshape(t.shape[0], rows, cols, -1))
                chroma.append(upsample_chroma(plane))
            else:
                chroma.append(self._decode_plane(self._unregions(t[:, :, 4 * c:4 * c + 4], rows, cols)))
        planes = torch.stack([y, *chroma], dim=1)
        values = ycbcr_to_rgb(planes) if self.colour == "ycbcr" else planes
        return (values / 127.5 - 1).clamp(-1, 1)


# ----------------------------------------------------------------------------------------------- statistics
def channel_coefficients(images: torch.Tensor, block: int) -> dict[str, torch.Tensor]:
    """Raw block-DCT coefficients of each YCbCr channel, as DCTdiff's statistics script collects them.

    images: (N, 3, H, W) in [-1, 1]. Returns {"y": (N_y, B^2), "cb": (N_c, B^2), "cr": (N_c, B^2)}: one row per
    block (value - 128, unscaled), columns in raster order of the block; Cb and Cr after 4:2:0 subsampling.
    """
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"channel_coefficients expects (N, 3, H, W) images, got {tuple(images.shape)}.")
    planes = rgb_to_ycbcr((images + 1) * 127.5)
    out = {}
    for name, c in (("y", 0), ("cb", 1), ("cr", 2)):
        plane = planes[:, c] if c == 0 else subsample_chroma(planes[:, c])
        out[name] = dct2(block_split(plane - 128.0, block)).reshape(-1, block * block)
    return out


def entropy_consistent_scale(dc: torch.Tensor | np.ndarray, tau: float = 98.25) -> float:
    """eta: max(|P_tau|, |P_(100 - tau)|) of the Y DC coefficients ``dc`` (any shape; numpy's linear percentiles)."""
    values = np.asarray(torch.as_tensor(dc).detach().cpu().double().flatten())
    if values.size == 0:
        raise ValueError("eta needs at least one DC coefficient.")
    low, high = np.percentile(values, [100.0 - tau, tau])
    return float(max(abs(low), abs(high)))


def coefficient_entropies(coeffs: torch.Tensor | np.ndarray, eta: float, tau: float = 98.25,
                          bins: int = 100) -> np.ndarray:
    """Shannon entropy (bits) of each coefficient / eta, as DCTdiff estimates it: (M, K) -> (K,).

    Per column: keep the values strictly between that column's (100 - tau)th and tau-th percentiles, divide by
    eta, histogram into ``bins`` equal bins on [-1, 1], and take -sum p log2 p over the non-empty bins.
    """
    values = np.asarray(torch.as_tensor(coeffs).detach().cpu().double())
    if values.ndim != 2:
        raise ValueError(f"coefficient_entropies expects (blocks, coefficients), got shape {values.shape}.")
    out = []
    for column in values.T:
        low, high = np.percentile(column, [100.0 - tau, tau])
        kept = column[(column > low) & (column < high)] / eta
        counts, _ = np.histogram(kept, bins=bins, range=(-1.0, 1.0))
        p = counts[counts > 0] / counts.sum()
        out.append(float(-(p * np.log2(p)).sum()))
    return np.array(out)


def ebfr_weights(entropy_y, entropy_cb, entropy_cr, block: int = 2, keep: int | None = None) -> torch.Tensor:
    """EBFR loss weights of one token, (6 keep,): each channel's entropies (raster order of the block) in zig-zag
    order, cut to ``keep``, divided by their mean; laid out as the token is, [Y, Y, Y, Y, Cb, Cr]."""
    order = zigzag_order(block)
    keep = block * block if keep is None else keep
    per_channel = []
    for entropies in (entropy_y, entropy_cb, entropy_cr):
        e = torch.as_tensor(np.asarray(entropies, dtype=np.float64))
        if e.shape != (block * block,):
            raise ValueError(f"expected {block * block} entropies per channel for block {block}, got {tuple(e.shape)}.")
        e = e[order][:keep]
        per_channel.append(e / e.mean())
    y, cb, cr = per_channel
    return torch.cat([y, y, y, y, cb, cr]).float()


def largest_truncation(rfid_by_m: Mapping[int, float], gamma: float = 0.5) -> int:
    """DCTdiff's rule for m*: the largest m whose reconstruction FID stays below gamma, argmax{m : rFID(m) < gamma}.

    rfid_by_m: {m: rFID of the tokeniser that drops the m highest zig-zag coefficients per block}, measured by the
    caller. Raises when no m qualifies (gamma too small for this data).
    """
    ok = [m for m, rfid in rfid_by_m.items() if rfid < gamma]
    if not ok:
        raise ValueError(f"no truncation keeps the reconstruction FID below gamma = {gamma} "
                         f"(smallest measured: {min(rfid_by_m.values()):.3g}); raise gamma or measure m = 0.")
    return max(ok)


def dct_upsample(x: torch.Tensor, block: int = 4) -> torch.Tensor:
    """DCTdiff's DCT upsampling x2, per channel: (..., H, W) -> (..., 2H, 2W).

    Halving an image by 2 x 2 means maps the orthonormal DCT of a 2B block to about
    D_small(k, l) = 1/2 cos(k pi / 4B) cos(l pi / 4B) D(k, l) for k, l < B (exact for the DC). Upsampling inverts
    that on each B x B block of ``x`` and fills the B^2 ... (2B)^2 higher frequencies with zeros, then takes the
    inverse 2B x 2B DCT (``DCT_Upsampling.py``, B = 4, where the released code applies it to full-resolution
    Y, Cb and Cr; the transform is linear and exact on constants, so the colour space does not change it).
    """
    coeffs = dct2(block_split(x, block))                                          # (..., nh, nw, B, B)
    k = torch.arange(block, dtype=torch.float64)
    gain = torch.cos(math.pi * k / (4 * block))
    gain = (0.5 * gain[:, None] * gain[None, :]).to(dtype=x.dtype, device=x.device)
    big = coeffs.new_zeros(*coeffs.shape[:-2], 2 * block, 2 * block)
    big[..., :block, :block] = coeffs / gain
    return block_merge(idct2(big))


__all__ = ["JPEG_YCBCR", "JPEG_YCBCR_OFFSET", "DCTDIFF_CIFAR10", "rgb_to_ycbcr", "ycbcr_to_rgb",
           "subsample_chroma", "upsample_chroma", "DCTTokenizer", "channel_coefficients",
           "entropy_consistent_scale", "coefficient_entropies", "ebfr_weights", "largest_truncation",
           "dct_upsample"]
