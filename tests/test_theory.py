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


def _mixed_field(n, mix, seed=0, side=16, exponent=2.0):
    """(n, C, side, side) fields whose channels are a fixed mixture ``mix`` (C, C) of independent power-law fields:
    the cross-spectrum is mix diag(S) mix^T at every frequency, so channels correlate."""
    g = torch.Generator().manual_seed(seed)
    base = sp.power_law_field(n, mix.shape[1], side, exponent, generator=g).double()
    return torch.einsum("cd,bdhw->bchw", torch.as_tensor(mix, dtype=torch.float64), base)


def test_cross_power_diagonal_is_the_per_channel_periodogram_and_hermitian():
    x = _mixed_field(64, np.array([[1.0, 0.0], [0.8, 0.6]]))
    s = theory.cross_power(x)
    assert s.shape == (16, 16, 2, 2)
    per_channel = sp.fft_power(x.reshape(-1, 1, 16, 16)).reshape(64, 2, 16, 16).mean(0)
    assert torch.allclose(torch.diagonal(s, dim1=-2, dim2=-1).real.permute(2, 0, 1), per_channel)
    assert torch.allclose(s, s.conj().transpose(-1, -2))


def test_multichannel_residual_matches_the_numpy_closed_form_and_reduces_to_the_diagonal():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 3))
    sigma_x = a @ a.T                                   # one correlated channel covariance at every frequency
    cross = torch.as_tensor(np.broadcast_to(sigma_x, (4, 4, 3, 3)).copy(), dtype=torch.complex128)
    alpha, sigma = 0.8, 0.6
    want = np.diag(sigma**2 * sigma_x @ np.linalg.inv(alpha**2 * sigma_x + sigma**2 * np.eye(3)))
    got = theory.residual_power_multichannel(cross, alpha, sigma)
    assert got.shape == (3, 4, 4) and np.allclose(got[:, 0, 0].numpy(), want)
    per_channel = theory.residual_power(torch.as_tensor(np.diag(sigma_x).copy()), alpha, sigma).numpy()
    assert np.all(want <= per_channel + 1e-12) and np.any(want < per_channel - 1e-3)   # reading the others helps
    diagonal = torch.as_tensor(np.broadcast_to(np.diag(np.diag(sigma_x)), (4, 4, 3, 3)).copy(), dtype=torch.complex128)
    assert np.allclose(theory.residual_power_multichannel(diagonal, alpha, sigma)[:, 0, 0].numpy(), per_channel)


def test_multichannel_wiener_error_on_gaussian_draws_matches_its_prediction_and_beats_the_per_channel_filter():
    mix = np.array([[1.0, 0.0, 0.0], [0.9, 0.45, 0.0], [-0.7, 0.3, 0.5]])
    train, test = _mixed_field(1024, mix, seed=1), _mixed_field(512, mix, seed=2)
    cross, power = theory.cross_power(train), sp.fft_power(train.reshape(-1, 1, 16, 16)).reshape(1024, 3, 16, 16).mean(0)
    test = test - test.mean(dim=(-2, -1), keepdim=True)
    g = torch.Generator().manual_seed(3)
    alpha, sigma = 0.7, 0.7
    x_t = alpha * test + sigma * torch.randn(test.shape, generator=g, dtype=torch.float64)

    def ring_error(x_hat):
        e = sp.fft_power((x_hat - test).reshape(-1, 1, 16, 16)).reshape(test.shape).mean(0)
        return sp.radial_average(e.mean(0))[1].numpy()

    mc = ring_error(theory.wiener_denoise_multichannel(x_t, cross, alpha, sigma))
    diag = ring_error(theory.wiener_denoise(x_t, power, alpha, sigma))
    predicted = sp.radial_average(theory.residual_power_multichannel(cross, alpha, sigma).mean(0))[1].numpy()
    assert np.all(np.abs(mc / predicted - 1) < 0.1), mc / predicted
    assert np.all(mc < diag), mc / diag
