"""Synthetic fields with a prescribed power spectrum: the controls of the spectral experiments."""
from __future__ import annotations

import torch

from smlib.spectral.power import radial_frequency_grid


def power_law_field(batch: int, channels: int, size: int, exponent: float, generator: torch.Generator | None = None,
                    dtype=torch.float64) -> torch.Tensor:
    """Periodic Gaussian random field with PSD exactly proportional to |f|^-exponent (DC set to 0).

    Returns (batch, channels, size, size) with unit variance per image. Filtering white noise in the Fourier
    domain by |f|^(-exponent/2) gives an expected periodogram |f|^-exponent at every non-DC bin; exponent 0 is
    white noise, the flat-spectrum control of Prop. 3.1.
    """
    noise = torch.randn(batch, channels, size, size, generator=generator, dtype=dtype)
    f = radial_frequency_grid(size, size, dtype=dtype)
    amp = torch.where(f > 0, f.clamp(min=1e-12) ** (-exponent / 2.0), torch.zeros_like(f))
    field = torch.fft.ifft2(torch.fft.fft2(noise) * amp).real
    return field / field.std(dim=(-2, -1), keepdim=True)
