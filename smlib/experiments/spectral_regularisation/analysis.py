"""What each spectral term does per frequency and per noise level, before any training (chapter 8, §8.1-8.2).

The question is Proposition 3.1's: which frequencies does a loss pull on, and how hard? For a loss L(x0, x0_hat)
the pull on frequency f is the gradient dL/dx0_hat seen in the (orthonormal) Fourier basis, G(f) = F[dL/dx0_hat].

* MSE: G = 2 R / n with R = F[x0_hat - x0], so the pull is the residual itself. At noise sigma the ideal linear
  (Wiener) estimate leaves E|R(f)|^2 = S(f) sigma^2 / (S(f) + sigma^2): about sigma^2 where the data's power S(f)
  exceeds the noise and S(f) beyond, so on a power-law spectrum the pull falls with f past the crossing
  S(f) = sigma^2, which is why MSE training settles the low frequencies first (chapter 1).
* The complex L2 distance in an orthonormal basis is the MSE exactly (Parseval), whatever the basis.
* The amplitude L1: d|A - A_hat| / dA_hat = sign, so |G(f)| = 1/n at *every* frequency where A != A_hat: a flat
  pull, independent of the residual's size. Relative to the MSE it weights the high, low-power frequencies up by
  about 1 / E|R(f)|. The amplitude-and-phase product adds a phase pull scaled by the amplitude error.
* A wavelet L1 is flat within each band in the same sense (a sign per coefficient).

So the L1 terms are a re-weighting of the frequencies towards those MSE learns last (our derivation from the
paper's Eq. 14-16; its §3.5.1 gives the Parseval half). :func:`gradient_spectrum` measures G on real images with
Wiener estimates; :func:`term_profile` measures how a weighted term scales with sigma against EDM's base loss.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from smlib.diffusion.edm import EDM
from smlib.diffusion.spectral_loss import SpectralLossSpec, fourier_l2, spectral_loss
from smlib.spectral.power import radial_average


def mse(x0: torch.Tensor, x0_hat: torch.Tensor) -> torch.Tensor:
    """Per-sample mean squared error, (B,)."""
    return (x0_hat - x0).square().reshape(x0.shape[0], -1).mean(dim=1)


def loss_functions(specs: dict[str, SpectralLossSpec]) -> dict[str, Callable]:
    """{"MSE", "Fourier L2", <each spec's name>} -> (x0, x0_hat) -> (B,)."""
    out: dict[str, Callable] = {"MSE": mse, "Fourier L2": lambda a, b: fourier_l2(a, b)}
    for name, spec in specs.items():
        out[name] = lambda a, b, spec=spec: spectral_loss(spec, a, b)
    return out


def data_power(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean (1, C, 1, 1) and mean orthonormal-Fourier power S (C, H, W) of images (N, C, H, W), float64."""
    x = images.double()
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    power = torch.fft.fft2(x - mean, norm="ortho").abs().square().mean(dim=0)
    return mean, power


def wiener_estimate(x0: torch.Tensor, sigma: float, mean: torch.Tensor, power: torch.Tensor,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """The ideal linear estimate of x0 (B, C, H, W) from y = x0 + sigma n under a stationary Gaussian model of the
    data (``mean``, ``power`` from :func:`data_power`): mean + F^-1[S / (S + sigma^2) F[y - mean]], float64."""
    x = x0.double()
    n = torch.randn(x.shape, generator=generator, dtype=torch.float64)
    gain = power / (power + sigma ** 2)
    return mean + torch.fft.ifft2(gain * torch.fft.fft2(x + sigma * n - mean, norm="ortho"), norm="ortho").real


def gradient_spectrum(loss: Callable, x0: torch.Tensor, x0_hat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Radial profile of the loss's pull on each frequency: (freqs (K,), mean |F[dL/dx0_hat]|^2 per ring (K,)),
    the gradient of the batch sum of ``loss(x0, x0_hat)`` (B,) taken at ``x0_hat`` (B, C, H, W)."""
    x0_hat = x0_hat.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss(x0.detach(), x0_hat).sum(), x0_hat)
    power = torch.fft.fft2(grad.double(), norm="ortho").abs().square().mean(dim=(0, 1))
    return radial_average(power)


def gradient_spectra(images: torch.Tensor, sigmas: Sequence[float], specs: dict[str, SpectralLossSpec],
                     seed: int = 0) -> dict:
    """For each sigma, the Wiener estimate's residual spectrum and every loss's gradient spectrum, each normalised
    to unit total over the rings (so the curves compare shape, not scale): {"freqs", "data" (the images' radial
    PSD), sigma: {"residual", loss name: profile}}."""
    mean, power = data_power(images)
    g = torch.Generator().manual_seed(int(seed))
    freqs, data = radial_average(power.mean(dim=0))
    out: dict = {"freqs": freqs, "data": data}
    for sigma in sigmas:
        est = wiener_estimate(images, float(sigma), mean, power, g)
        _, resid = radial_average(torch.fft.fft2(est - images.double(), norm="ortho").abs().square().mean(dim=(0, 1)))
        row = {"residual": resid / resid.sum()}
        for name, fn in loss_functions(specs).items():
            _, prof = gradient_spectrum(fn, images.double(), est)
            row[name] = prof / prof.sum()
        out[float(sigma)] = row
    return out


def term_profile(images: torch.Tensor, sigmas: Sequence[float], specs: dict[str, SpectralLossSpec],
                 edm: EDM | None = None, seed: int = 0) -> dict:
    """How each lambda_EDM-weighted term scales with the noise level against EDM's own weighted MSE, on Wiener
    estimates of ``images``: {"sigma" (S,), "base" (S,) = mean lambda_EDM MSE, name: (S,) mean lambda_EDM L_S}.
    EDM's weight makes its MSE of order 1 at every sigma; an L1 term under the same weight grows like 1 / sigma as
    sigma -> 0 (its residual shrinks like sigma, not sigma^2)."""
    edm = edm or EDM()
    mean, power = data_power(images)
    g = torch.Generator().manual_seed(int(seed))
    x0 = images.double()
    rows = {"sigma": torch.tensor([float(s) for s in sigmas], dtype=torch.float64), "base": []}
    for name in specs:
        rows[name] = []
    for sigma in sigmas:
        est = wiener_estimate(images, float(sigma), mean, power, g)
        w = float(edm.loss_weight(torch.tensor(float(sigma))))
        rows["base"].append(w * float(mse(x0, est).mean()))
        for name, spec in specs.items():
            rows[name].append(w * float(spectral_loss(spec, x0, est).mean()))
    return {k: (v if isinstance(v, torch.Tensor) else torch.tensor(v, dtype=torch.float64)) for k, v in rows.items()}


@torch.no_grad()
def loss_parts(task, images: torch.Tensor, seed: int = 0) -> dict:
    """Mean base loss and mean spectral term (lam w L_S) of a :class:`.recipe.SpectralRegTask` on one batch of
    clean images, with the noise drawn from ``seed``: {"base", "spectral" (None without a term), "ratio"}."""
    state = torch.random.get_rng_state()
    torch.manual_seed(int(seed))
    try:
        base, term = task.terms(images.float())
    finally:
        torch.random.set_rng_state(state)
    spectral = None if term is None else float(term.mean())
    return {"base": float(base.mean()), "spectral": spectral,
            "ratio": None if spectral is None else spectral / float(base.mean())}


__all__ = ["mse", "loss_functions", "data_power", "wiener_estimate", "gradient_spectrum", "gradient_spectra",
           "term_profile", "loss_parts"]
