"""Spectral regularisation of the diffusion loss (Chandran et al. 2026, arXiv 2603.02447): L1 distances between the
clean sample x0 and the model's estimate x0_hat in a Fourier or wavelet basis, added to the usual loss.

    L_total = L_diffusion + lambda(sigma) * L_S(x0, x0_hat)              (Eq. 17; lambda = lambda_EDM(sigma) or 1)

    fourier-amplitude        L_S = || A0 - A0_hat ||_1                                             (Eq. 14)
    fourier-amplitude-phase  L_S = || A0 - A0_hat ||_1 * (1 + || phi0 - phi0_hat ||_1)            (Eq. 15)
    wavelet                  L_S = sum over bands || W0 - W0_hat ||_1                               (Eq. 16/24)

with F[x] = A e^{i phi} the FFT over the signal axes. Formulas read verbatim (``../shared/reference/next-chapters.md``
§4.1); the paper's code is not reachable (§4.3), so every choice it leaves open (§4.4) is made here, in one place:

* **x0_hat carries its gradient** through the network (EDM: D itself; eps- or v-models: the formulation's x0_hat).
* **FFT**: ``torch.fft.fftn`` over the signal axes only (H, W for images, L for 1-D signals such as audio), every
  channel separately, ``norm="ortho"``, the full (two-sided) spectrum. With this norm Parseval is exact:
  sum |F0 - F0_hat|^2 = sum |x0 - x0_hat|^2, so the complex L2 distance *is* the pixel MSE (:func:`fourier_l2`),
  which is why the paper takes L1 (§3.5.1).
* **Reduction**: every norm is the sum over coefficients divided by the number of signal elements (C x H x W), so
  each term is a per-element mean like the MSE it is added to, for any resolution; one value per sample, (B,).
* **Phase**: the raw difference of ``angle`` as the paper writes it (range (-2 pi, 2 pi)), or ``phase="wrapped"``
  (atan2(sin, cos) into (-pi, pi]). Where either amplitude is below ``eps`` the phase is undefined; those
  coefficients add nothing to the phase term and pass no gradient through it (atan2's gradient at 0 is 0/0).
* **Wavelets**: PyWavelets' filters (``haar``, ``bior1.3``, ...) in ``ptwt``'s differentiable transform, which equals
  ``pywt.wavedec2`` to float precision (tested). Note that PyWavelets' bior1.3 is not the filter pair the paper's
  appendix writes (those are bior3.1's, §4.2): a ``pywt`` call, as the paper says it used, gets pywt's. Levels,
  boundary mode (``reflect``, pywt's default is ``symmetric``) and whether the approximation band LL enters
  (``include_ll``) are parameters; a level deeper than ``pywt.dwt_max_level`` (beyond it every coefficient is a
  boundary effect: PyWavelets warns, we refuse) is an error.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

SPECTRAL_LOSSES = ("fourier-amplitude", "fourier-amplitude-phase", "wavelet")
PHASES = ("raw", "wrapped")


@dataclass(frozen=True)
class SpectralLossSpec:
    """One spectral term. ``signal_dims``: 2 for images (B, C, H, W), 1 for 1-D signals (B, C, L)."""

    name: str = "fourier-amplitude-phase"
    phase: str = "raw"
    eps: float = 1e-6
    wavelet: str = "haar"
    levels: int = 1
    mode: str = "reflect"
    include_ll: bool = True
    signal_dims: int = 2

    def __post_init__(self):
        if self.name not in SPECTRAL_LOSSES:
            raise ValueError(f"unknown spectral loss {self.name!r}; choose one of: {', '.join(SPECTRAL_LOSSES)}.")
        if self.phase not in PHASES:
            raise ValueError(f"phase must be one of {', '.join(PHASES)}, got {self.phase!r}.")
        if self.signal_dims not in (1, 2):
            raise ValueError(f"signal_dims must be 1 (audio) or 2 (images), got {self.signal_dims}.")
        if self.name == "wavelet":
            _wavelet(self.wavelet)

    def to_dict(self) -> dict:
        return asdict(self)


def _wavelet(name: str):
    import pywt
    if name not in pywt.wavelist(kind="discrete"):
        raise ValueError(f"unknown wavelet {name!r}; use a PyWavelets discrete wavelet such as 'haar' or 'bior1.3'.")
    return pywt.Wavelet(name)


def _axes(spec_dims: int) -> tuple[int, ...]:
    return (-2, -1) if spec_dims == 2 else (-1,)


def _check(x0: torch.Tensor, x0_hat: torch.Tensor, dims: int) -> None:
    if x0.shape != x0_hat.shape or x0.ndim != 2 + dims:
        raise ValueError(f"x0 and x0_hat must both be (B, C, {'H, W' if dims == 2 else 'L'}); got {tuple(x0.shape)} "
                         f"and {tuple(x0_hat.shape)}.")


def _real(x: torch.Tensor) -> torch.Tensor:
    """float32 for half-precision inputs (the transforms' accuracy), float64 kept (the tests' finite differences)."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


def fourier(x: torch.Tensor, dims: int = 2) -> torch.Tensor:
    """Orthonormal FFT over the signal axes, every channel separately: (B, C, H, W) or (B, C, L) -> complex, same
    shape."""
    return torch.fft.fftn(_real(x), dim=_axes(dims), norm="ortho")


def _per_element(values: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
    """Sum over all but the batch axis, divided by the number of signal elements: (B, ...) -> (B,)."""
    return values.reshape(values.shape[0], -1).sum(dim=1) / x0[0].numel()


def fourier_l2(x0: torch.Tensor, x0_hat: torch.Tensor, dims: int = 2) -> torch.Tensor:
    """sum |F[x0] - F[x0_hat]|^2 / elements, (B,): by Parseval, exactly the per-sample pixel MSE."""
    return _per_element((fourier(x0, dims) - fourier(x0_hat, dims)).abs() ** 2, x0)


def amplitude_l1(x0: torch.Tensor, x0_hat: torch.Tensor, dims: int = 2) -> torch.Tensor:
    """Eq. 14: || |F[x0]| - |F[x0_hat]| ||_1 / elements, (B,)."""
    return _per_element((fourier(x0, dims).abs() - fourier(x0_hat, dims).abs()).abs(), x0)


def _safe_angle(f: torch.Tensor, defined: torch.Tensor) -> torch.Tensor:
    """angle(f) where ``defined``, 0 elsewhere, with a zero (not NaN) gradient at the undefined points."""
    re = torch.where(defined, f.real, torch.ones_like(f.real))
    im = torch.where(defined, f.imag, torch.zeros_like(f.imag))
    return torch.where(defined, torch.atan2(im, re), torch.zeros_like(re))


def phase_l1(x0: torch.Tensor, x0_hat: torch.Tensor, dims: int = 2, phase: str = "raw",
             eps: float = 1e-6) -> torch.Tensor:
    """|| phi0 - phi0_hat ||_1 / elements over coefficients where both amplitudes exceed ``eps``, (B,)."""
    f0, f1 = fourier(x0, dims), fourier(x0_hat, dims)
    defined = (f0.abs() > eps) & (f1.abs() > eps)
    diff = _safe_angle(f0, defined) - _safe_angle(f1, defined)
    if phase == "wrapped":
        diff = torch.atan2(torch.sin(diff), torch.cos(diff))
    return _per_element(diff.abs() * defined, x0)


def amplitude_phase_l1(x0: torch.Tensor, x0_hat: torch.Tensor, dims: int = 2, phase: str = "raw",
                       eps: float = 1e-6) -> torch.Tensor:
    """Eq. 15, a product of two global norms: amplitude_l1 * (1 + phase_l1), (B,)."""
    return amplitude_l1(x0, x0_hat, dims) * (1 + phase_l1(x0, x0_hat, dims, phase, eps))


def wavelet_coefficients(x: torch.Tensor, wavelet: str = "haar", levels: int = 1, mode: str = "reflect",
                         dims: int = 2) -> list[torch.Tensor]:
    """Every band of a ``levels``-level DWT over the signal axes, differentiable (ptwt): [LL, (LH, HL, HH) of the
    coarsest level, ..., of level 1] flattened into a list of tensors (B, C, h, w); 1-D: [A, D_L, ..., D_1]."""
    import ptwt
    import pywt

    w = _wavelet(wavelet)
    n = min(x.shape[-2:]) if dims == 2 else x.shape[-1]
    deepest = pywt.dwt_max_level(n, w.dec_len)
    if not 1 <= levels <= max(deepest, 1):
        raise ValueError(f"{levels} wavelet levels are too deep for a signal of {n} samples with {wavelet} "
                         f"({w.dec_len} taps): use 1..{max(deepest, 1)}.")
    if dims == 2:
        coeffs = ptwt.wavedec2(_real(x), w, mode=mode, level=levels)
        return [coeffs[0]] + [band for level in coeffs[1:] for band in level]
    return list(ptwt.wavedec(_real(x), w, mode=mode, level=levels))


def wavelet_l1(x0: torch.Tensor, x0_hat: torch.Tensor, wavelet: str = "haar", levels: int = 1,
               mode: str = "reflect", include_ll: bool = True, dims: int = 2) -> torch.Tensor:
    """Eq. 16/24 with gamma = 1: sum over bands of || W0 - W0_hat ||_1 / elements, (B,); ``include_ll=False`` drops
    the approximation band."""
    a = wavelet_coefficients(x0, wavelet, levels, mode, dims)
    b = wavelet_coefficients(x0_hat, wavelet, levels, mode, dims)
    start = 0 if include_ll else 1
    return sum(_per_element((p - q).abs(), x0) for p, q in zip(a[start:], b[start:]))


def spectral_loss(spec: SpectralLossSpec, x0: torch.Tensor, x0_hat: torch.Tensor) -> torch.Tensor:
    """The term ``spec`` names, (B,). x0 is the clean data (no gradient needed), x0_hat the model's estimate."""
    _check(x0, x0_hat, spec.signal_dims)
    x0 = x0.detach()
    if spec.name == "fourier-amplitude":
        return amplitude_l1(x0, x0_hat, spec.signal_dims)
    if spec.name == "fourier-amplitude-phase":
        return amplitude_phase_l1(x0, x0_hat, spec.signal_dims, spec.phase, spec.eps)
    return wavelet_l1(x0, x0_hat, spec.wavelet, spec.levels, spec.mode, spec.include_ll, spec.signal_dims)


__all__ = ["SPECTRAL_LOSSES", "PHASES", "SpectralLossSpec", "fourier", "fourier_l2", "amplitude_l1", "phase_l1",
           "amplitude_phase_l1", "wavelet_coefficients", "wavelet_l1", "spectral_loss"]
