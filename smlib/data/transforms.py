"""Image -> tensor: resize the shorter side (antialiased), center crop, scale to [-1, 1], optional flip.

One path for every file-based dataset, done in PIL on uint8 so the values stay exactly on the 256 levels of the
file (no overshoot of bicubic outside [-1, 1]) and an image already at the target size passes through unchanged.
"""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image


def center_crop_box(width: int, height: int, size_w: int, size_h: int | None = None) -> tuple[int, int, int, int]:
    """PIL box (left, top, right, bottom) of the central ``size_w x size_h`` window; rounds like torchvision."""
    size_h = size_w if size_h is None else size_h
    if size_w > width or size_h > height:
        raise ValueError(f"cannot crop {size_w}x{size_h} out of a {width}x{height} image; crop less.")
    left = int(round((width - size_w) / 2.0))
    top = int(round((height - size_h) / 2.0))
    return left, top, left + size_w, top + size_h


def resize_center_crop(img: Image.Image, resolution: int) -> Image.Image:
    """Resize so the shorter side is ``resolution`` (bicubic; PIL widens the kernel when shrinking, which is the
    antialiasing), then crop the central ``resolution x resolution`` square. Returns a PIL image."""
    w, h = img.size
    scale = resolution / min(w, h)
    if scale != 1.0:
        # max(): the shorter side must come out at exactly `resolution`, whatever the rounding of the longer one
        size = (max(resolution, round(w * scale)), max(resolution, round(h * scale)))
        img = img.resize(size, Image.BICUBIC, reducing_gap=None)
    return img.crop(center_crop_box(*img.size, resolution))


def pil_to_tensor(img: Image.Image) -> torch.Tensor:
    """uint8 PIL image -> (C, H, W) float32 in [-1, 1]: x / 127.5 - 1, C = 3 for RGB, 1 for L."""
    a = np.array(img, dtype=np.uint8)  # a writable copy: torch refuses to wrap PIL's read-only buffer
    if a.ndim == 2:
        a = a[:, :, None]
    return torch.from_numpy(a).permute(2, 0, 1).contiguous().float().div_(127.5).sub_(1.0)


def random_hflip(x: torch.Tensor, generator: torch.Generator | None = None, p: float = 0.5) -> torch.Tensor:
    """Flip left-right with probability ``p``: per image for x (B, C, H, W), once for x (C, H, W).

    Draws from ``generator`` (or torch's global generator), on the CPU, so the result does not depend on the device.
    """
    if x.dim() == 3:
        return x.flip(-1) if torch.rand((), generator=generator) < p else x
    flip = (torch.rand(x.shape[0], generator=generator) < p).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


class CorruptImageError(ValueError):
    """An image file that cannot be decoded; the message names the file."""


def load_image(path, resolution: int, mode: str = "RGB", crop: int | None = None) -> torch.Tensor:
    """Read an image file -> (C, resolution, resolution) float32 in [-1, 1].

    mode: "RGB" (grey images repeated to 3 channels, alpha dropped) or "L" (one channel).
    crop: first cut the central ``crop x crop`` square of the file (CelebA's face crop), then resize.
    A file PIL cannot decode (truncated, corrupt, not an image) raises :class:`CorruptImageError` naming it.
    """
    try:
        with Image.open(path) as im:
            img = im.convert(mode)
    except (OSError, SyntaxError, ValueError) as err:   # PIL's UnidentifiedImageError and truncation are OSErrors
        raise CorruptImageError(f"cannot read image {path} ({type(err).__name__}: {err}); delete or replace the "
                                f"file and run again.") from None
    if crop is not None:
        img = img.crop(center_crop_box(*img.size, crop))
    return pil_to_tensor(resize_center_crop(img, resolution))


__all__ = ["center_crop_box", "resize_center_crop", "pil_to_tensor", "random_hflip", "load_image", "CorruptImageError"]
