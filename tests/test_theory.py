"""Closed forms of Prop. 3.1 against Monte Carlo, and Prop. 3.2's three sides against each other."""
import numpy as np
import torch

from smlib import spectral as sp
from smlib import theory


def test_learnable_plus_residual_is_power_and_limits():
    s = np.array([1e-4, 1e-2, 1.0, 1e2])
    a, g = 0.6, 0.8
    assert np.allclose(theory.learnable_power(s, a, g) + theory.residual_power(s, a, g), s)
    assert np.allclose(theory.learnable_fraction(s, a, g), theory.learnable_power(s, a, g) / s)
    # SNR -> 0: nothing learnable; SNR -> inf: everything
    assert theory.learnable_fraction(1e-12, 0.5, 1.0) < 1e-11
    assert theory.learnable_fraction(1e12, 0.5, 1.0) > 1 - 1e-11


def test_wiener_error_matches_monte_carlo_scalar():
    g = torch.Generator().manual_seed(0)
    S, a, s = 2.5, 0.7, 0.9
    x0 = torch.randn(400_000, generator=g, dtype=torch.float64) * S**0.5
    xt = a * x0 + s * torch.randn(400_000, generator=g, dtype=torch.float64)
    err = ((theory.wiener_gain(S, a, s) * xt - x0) ** 2).mean().item()
    assert abs(err - theory.residual_power(S, a, s)) < 0.01


def test_wiener_denoise_on_power_law_field_matches_prediction():
    # a Gaussian field with known spectrum is exactly the setting of the proposition: the per-ring error of the
    # Wiener denoiser must equal S / (1 + SNR) up to sampling noise
    g = torch.Generator().manual_seed(0)
    n, alpha_exp = 32, 2.0
    x0 = sp.power_law_field(64, 1, n, alpha_exp, generator=g)
    power2d = sp.fft_power(x0).mean(0)
    a, s = 0.5, 0.866
    xt = a * x0 + s * torch.randn(x0.shape, generator=g, dtype=x0.dtype)
    err = theory.wiener_denoise(xt, power2d, a, s) - x0
    _, measured = sp.radial_average(sp.fft_power(err).mean(0))
    _, predicted = sp.radial_average(theory.residual_power(power2d, a, s))
    ratio = (measured / predicted).numpy()
    assert np.all(np.abs(ratio - 1) < 0.15), ratio


def test_resolving_order_is_coarse_to_fine():
    f = np.linspace(0.02, 0.5, 50)
    lam = theory.resolving_logsnr(f**-2.0)
    assert np.all(np.diff(lam) > 0)  # higher frequencies need a higher log-SNR, i.e. later in the reverse process


def test_rmsc_identity_terms_agree():
    x = torch.randn(3, 16, 5, 6, dtype=torch.float64)
    t = theory.rmsc_identity_terms(x)
    assert torch.allclose(t["rmsc_sq"], t["dct_energy"], atol=1e-12)
    assert torch.allclose(t["rmsc_sq"], t["one_minus_mean_sq"], atol=1e-12)
