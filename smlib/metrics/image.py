"""Full-reference image metrics: PSNR and SSIM, per image, for images in [-1, 1].

Both return one number per image, shape (B,), so callers can report a mean *and* a spread. Neither needs weights.

SSIM follows Wang et al. (2004) with the common defaults that scikit-image uses for
``structural_similarity(..., gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=L)``
and that torchmetrics uses for ``StructuralSimilarityIndexMeasure``: an 11x11 Gaussian window (sigma 1.5, the
truncated kernel normalised to sum 1), K1 = 0.01, K2 = 0.03, population (biased) local statistics, the SSIM map
computed per channel, and its mean taken over the pixels whose window lies entirely inside the image (both
references crop a 5-pixel border) and then over channels.

Note on the evaluation as coded by the Spectrum Matching authors: their PSNR is computed on uint8 JPEG files,
their SSIM with torchmetrics on float tensors in [-1, 1]. These functions work on the float tensors they are
given; quantise first if you want the uint8 protocol.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def _check_pair(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.shape != y.shape:
        raise ValueError(f"image shapes differ: {tuple(x.shape)} vs {tuple(y.shape)}; compare images of equal size.")
    if x.dim() != 4:
        raise ValueError(f"expected images of shape (B, C, H, W), got {tuple(x.shape)}.")


def _working_dtype(x: torch.Tensor) -> torch.dtype:
    # Half precision loses too much in E[x^2] - E[x]^2; float64 stays float64.
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 2.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB, one value per image.

    x, y: (B, C, H, W) float, same shape (images in [-1, 1] -> ``data_range=2``).
    Returns (B,): ``10 log10(data_range^2 / MSE)``, MSE over C, H, W; ``inf`` for identical images.
    """
    _check_pair(x, y)
    dtype = _working_dtype(x)
    mse = (x.to(dtype) - y.to(dtype)).square().flatten(1).mean(dim=1)
    return 10.0 * torch.log10(data_range ** 2 / mse)


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA, dtype=torch.float32,
                    device: torch.device | str = "cpu") -> torch.Tensor:
    """The normalised 1-D Gaussian window: (size,), centred, summing to 1."""
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-0.5 * (r / sigma) ** 2)
    return (g / g.sum()).to(dtype=dtype, device=device)


def _filter_valid(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian filter over H, W without padding: (N, C, H, W) -> (N, C, H-k+1, W-k+1)."""
    c = x.shape[1]
    k = g.numel()
    x = F.conv2d(x, g.view(1, 1, k, 1).expand(c, 1, k, 1), groups=c)
    return F.conv2d(x, g.view(1, 1, 1, k).expand(c, 1, 1, k), groups=c)


def ssim_map(x: torch.Tensor, y: torch.Tensor, data_range: float = 2.0) -> torch.Tensor:
    """The local SSIM map on the valid region: (B, C, H, W) -> (B, C, H-10, W-10) for the 11x11 window."""
    _check_pair(x, y)
    if min(x.shape[-2:]) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels, got "
                         f"{tuple(x.shape[-2:])}; upsample or use psnr().")
    dtype = _working_dtype(x)
    x, y = x.to(dtype), y.to(dtype)
    g = gaussian_window(dtype=dtype, device=x.device)
    # One filter pass over the five local moments (stacked along the batch axis).
    moments = _filter_valid(torch.cat([x, y, x * x, y * y, x * y]), g)
    mx, my, mxx, myy, mxy = moments.chunk(5)
    vx, vy, cxy = mxx - mx * mx, myy - my * my, mxy - mx * my
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    return ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 2.0) -> torch.Tensor:
    """Structural similarity (Gaussian window 11x11, sigma 1.5), one value per image.

    x, y: (B, C, H, W) float, same shape, H, W >= 11 (images in [-1, 1] -> ``data_range=2``).
    Returns (B,): the SSIM map averaged over the valid pixels of each channel, then over channels.
    """
    return ssim_map(x, y, data_range).flatten(1).mean(dim=1)


def to_uint8_grid(x: torch.Tensor, rounding: str = "round") -> torch.Tensor:
    """Quantise images in [-1, 1] to the 256 levels a PNG would store, staying in [-1, 1]: (...) -> (...).

    Use it to evaluate float outputs under the saved-file protocol (uint8 PSNR, FID of saved samples).
    rounding: "round" (to the nearest level) or "truncate" (towards zero, as numpy's ``np.uint8(x)`` cast does,
    e.g. in DCTdiff's decoder; it lowers every value by half a level on average).
    """
    if rounding not in ("round", "truncate"):
        raise ValueError(f"rounding must be 'round' or 'truncate', got {rounding!r}.")
    levels = (x.clamp(-1, 1) + 1) * 127.5
    # 1e-4: a level stored in float32 as 99.99999 is level 100, not 99
    u8 = torch.round(levels) if rounding == "round" else torch.floor(levels + 1e-4)
    return u8 / 127.5 - 1


__all__ = ["psnr", "ssim", "ssim_map", "gaussian_window", "to_uint8_grid"]
