"""Block DCT (JPEG-style), zig-zag order, and the triangular block low-pass masks of DSM.

DSM (Decoding Spectrum Matching) low-passes an image and its latent with *the same* mask: both are cut into
b x b blocks, each block is DCT-transformed, and coefficients on the anti-diagonals u + v >= 2(b-1) - (k-1) are
zeroed, i.e. the ``k`` highest anti-diagonals are removed (the authors' convention; k = 0 keeps everything). For
b = 8 the family k in {8, 10, 12} keeps u + v <= 6, 4, 2: 28, 15 and 6 of the 64 coefficients.
"""
from __future__ import annotations

import torch

from smlib.spectral.dct import dct2, idct2


def block_split(x: torch.Tensor, block: int) -> torch.Tensor:
    """Cut the last two dims into non-overlapping blocks.

    x: (..., H, W) with H, W divisible by ``block``  ->  (..., H/b, W/b, b, b).
    """
    h, w = x.shape[-2:]
    if h % block or w % block:
        raise ValueError(
            f"a {h}x{w} grid cannot be cut into {block}x{block} blocks; use a block size that divides both sides "
            f"(for latents: the latent size, not the image size)."
        )
    lead = x.shape[:-2]
    x = x.reshape(*lead, h // block, block, w // block, block)
    return x.transpose(-3, -2)


def block_merge(blocks: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`block_split`: (..., nh, nw, b, b) -> (..., nh*b, nw*b)."""
    *lead, nh, nw, b1, b2 = blocks.shape
    return blocks.transpose(-3, -2).reshape(*lead, nh * b1, nw * b2)


def block_dct2(x: torch.Tensor, block: int) -> torch.Tensor:
    """Orthonormal DCT of every b x b block. x: (..., H, W) -> (..., H/b, W/b, b, b)."""
    return dct2(block_split(x, block))


def block_idct2(coeffs: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`block_dct2`: (..., nh, nw, b, b) -> (..., H, W)."""
    return block_merge(idct2(coeffs))


def zigzag_order(block: int) -> torch.Tensor:
    """JPEG zig-zag scan of a b x b block as flat indices ``u * b + v``, low to high frequency.

    Anti-diagonals s = u + v are visited in order; odd diagonals run top-right to bottom-left (u increasing),
    even ones bottom-left to top-right. Returns a (b*b,) long tensor.
    """
    order = []
    for s in range(2 * block - 1):
        cells = [(u, s - u) for u in range(block) if 0 <= s - u < block]
        if s % 2 == 0:
            cells.reverse()  # even diagonal: start at the bottom-left, move up
        order.extend(u * block + v for u, v in cells)
    return torch.tensor(order, dtype=torch.long)


def lowpass_mask(block: int, k: int) -> torch.Tensor:
    """Triangular low-pass mask of one block: keep (u, v) with u + v < 2(b-1) - (k-1).

    ``k`` counts the removed anti-diagonals (0 keeps all, 2b-1 removes all). Returns a (b, b) bool tensor.
    """
    if not 0 <= k <= 2 * block - 1:
        raise ValueError(f"mask cut k must be in [0, {2 * block - 1}] for {block}x{block} blocks, got {k}.")
    u = torch.arange(block)
    return (u[:, None] + u[None, :]) < (2 * (block - 1) - (k - 1))


def block_lowpass(x: torch.Tensor, block: int, k: int) -> torch.Tensor:
    """Apply the shared DSM low-pass: block DCT, zero the k highest anti-diagonals, inverse DCT.

    x: (..., H, W) -> (..., H, W); k = 0 returns x unchanged (up to float round-off, so we return x itself).
    """
    if k == 0:
        return x
    mask = lowpass_mask(block, k).to(device=x.device, dtype=x.dtype)
    return block_idct2(block_dct2(x, block) * mask)
