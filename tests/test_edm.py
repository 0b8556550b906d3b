"""EDM against its closed forms: the preconditioning's identities, unit-variance targets, the Karras grid, the loss
by hand, and the Heun sampler on Gaussian data with the exact denoiser (deterministic and with churn), also driving
an exact VP model through the shared data path."""
import math

import numpy as np
import pytest
import torch

from smlib.diffusion import make_formulation
from smlib.diffusion.edm import EDM, sample_edm, vp_denoiser

pytestmark = pytest.mark.usefixtures("one_thread")

EDM_ = EDM()


def test_preconditioning_closed_forms():
    s = torch.logspace(-3, 2, 50, dtype=torch.float64)
    sd = EDM_.sigma_data
    cs, co, ci = EDM_.c_skip(s), EDM_.c_out(s), EDM_.c_in(s)
    assert torch.allclose(ci ** 2 * (s ** 2 + sd ** 2), torch.ones_like(s))          # unit-variance input
    assert torch.allclose(sd ** 2 * (1 - cs) ** 2 + cs ** 2 * s ** 2, co ** 2)        # unit-variance target
    assert torch.allclose(EDM_.loss_weight(s) * co ** 2, torch.ones_like(s))         # lambda = 1 / c_out^2
    assert float(EDM_.c_noise(torch.tensor(1.0))) == 0.0
    assert abs(float(EDM_.c_skip(torch.tensor(1e-6))) - 1) < 1e-9 and float(EDM_.c_out(torch.tensor(1e6))) == \
        pytest.approx(sd)


def test_the_effective_training_target_has_unit_variance_for_data_of_std_sigma_data():
    g = torch.Generator().manual_seed(0)
    y = torch.randn(200000, generator=g, dtype=torch.float64) * EDM_.sigma_data
    for s in (0.01, 0.5, 5.0, 50.0):
        sig = torch.tensor(s, dtype=torch.float64)
        x = y + s * torch.randn(y.shape, generator=g, dtype=torch.float64)
        target = (y - EDM_.c_skip(sig) * x) / EDM_.c_out(sig)
        assert float(target.var()) == pytest.approx(1.0, rel=0.02)


def test_karras_grid():
    grid = EDM_.sigmas(18)
    assert grid.shape == (19,) and grid[0] == pytest.approx(80.0) and grid[-2] == pytest.approx(0.002)
    assert grid[-1] == 0 and bool((grid[:-1] > grid[1:]).all())
    i, n, r = 7, 18, 7.0
    ref = (80 ** (1 / r) + i / (n - 1) * (0.002 ** (1 / r) - 80 ** (1 / r))) ** r
    assert float(grid[i]) == pytest.approx(ref, rel=1e-12)
    with pytest.raises(ValueError):
        EDM_.sigmas(0)


def test_loss_by_hand_and_x0_hat_keeps_its_graph():
    torch.manual_seed(0)
    net = torch.nn.Conv2d(3, 3, 1)
    model = lambda x, t, y: net(x) * (1 + t.view(-1, 1, 1, 1))  # noqa: E731
    x0, sigma, noise = torch.randn(4, 3, 5, 5), torch.tensor([0.1, 0.5, 2.0, 20.0]), torch.randn(4, 3, 5, 5)
    loss, logs = EDM_.loss(model, x0, sigma=sigma, noise=noise)
    x = x0 + sigma.view(-1, 1, 1, 1) * noise
    c = lambda f: f(sigma).view(-1, 1, 1, 1)  # noqa: E731
    d = c(EDM_.c_skip) * x + c(EDM_.c_out) * model(c(EDM_.c_in) * x, EDM_.c_noise(sigma), None)
    ref = EDM_.loss_weight(sigma) * ((d - x0) ** 2).flatten(1).mean(1)
    assert torch.allclose(loss, ref, rtol=1e-5)
    plain, _ = EDM_.loss(model, x0, sigma=sigma, noise=noise, weighted=False)
    assert torch.allclose(plain * EDM_.loss_weight(sigma), loss, rtol=1e-5)
    assert logs["x0_hat"].requires_grad


def _gaussian(dim=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(dim, dim, generator=g, dtype=torch.float64) * 0.4
    return torch.tensor([0.3, -0.2, 0.1], dtype=torch.float64)[:dim], a @ a.T + 0.05 * torch.eye(dim, dtype=torch.float64)


def _exact_denoiser(mu, cov):
    lam, v = torch.linalg.eigh(cov)

    def d(x, sigma):  # E[y | y + sigma n = x] = mu + cov (cov + sigma^2 I)^-1 (x - mu), in cov's eigenbasis
        shrink = lam[None] / (lam[None] + sigma.double()[:, None] ** 2)          # (B, dim)
        return mu + ((x.double() - mu) @ v * shrink) @ v.T
    return d


def _white_noise(n=8000, dim=3, seed=1):
    """Standard normal draws whitened to sample mean 0 and sample covariance I exactly, so that what is left in the
    samples' moments is the sampler's own error."""
    z = torch.randn(n, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    z = z - z.mean(0)
    return (z @ torch.linalg.inv(torch.linalg.cholesky(torch.cov(z.T))).T).float()


def _cov_error(x, cov):
    return float((torch.cov(x.double().T) - cov).abs().max() / cov.diag().max())


def test_heun_sampler_reaches_the_gaussian_at_second_order():
    mu, cov = _gaussian()
    noise, d = _white_noise(), _exact_denoiser(mu, cov)
    errors = {n: _cov_error(sample_edm(d, noise, steps=n), cov) for n in (32, 64)}
    x = sample_edm(d, noise, steps=64).double()
    assert errors[64] < 0.015 and torch.allclose(x.mean(0), mu, atol=0.01)
    assert errors[32] / errors[64] > 3          # halving the step divides the error by about 4: second order


def test_stochastic_churn_keeps_the_gaussian():
    mu, cov = _gaussian()
    x = sample_edm(_exact_denoiser(mu, cov), _white_noise(), steps=256, churn=40, s_min=0.05, s_max=50,
                   generator=torch.Generator().manual_seed(2))   # EDM's ImageNet setting: churn 40 over 256 steps
    assert _cov_error(x, cov) < 0.04 and torch.allclose(x.double().mean(0), mu, atol=0.02)


def test_a_vp_model_samples_through_edm_on_the_same_data_path():
    """x_VP = alpha x_EDM, sigma_EDM = sigma_VP / alpha: the exact VP x0-predictor, driven by the EDM sampler, reaches
    the same Gaussian."""
    mu, cov = _gaussian()
    f = make_formulation("vp-continuous", prediction="x0")
    edm_exact = _exact_denoiser(mu, cov)

    def vp_model(x_t, t, y):   # E[y | x_t] for x_t = alpha y + s eps, written through the EDM denoiser
        a, s = f.alpha(t).double(), f.sigma(t).double()
        return edm_exact(x_t.double() / a[:, None], s / a).float()

    x = sample_edm(vp_denoiser(f, vp_model), _white_noise(seed=3), steps=64).double()
    assert torch.allclose(x.mean(0), mu, atol=0.01) and _cov_error(x, cov) < 0.015
    assert math.isclose(float(f.sigma(torch.tensor([0.5])) / f.alpha(torch.tensor([0.5]))),
                        float(torch.exp(-0.5 * f.path.log_snr(torch.tensor([0.5], dtype=torch.float64)))), rel_tol=1e-5)
    assert np.isfinite(x.numpy()).all()


def test_an_edm_model_on_the_vp_path_is_a_formulation_whose_weighted_mse_is_edms_loss():
    from smlib.diffusion.edm import EDMPrecond, edm_formulation, edm_weight
    torch.manual_seed(0)
    net = torch.nn.Conv2d(3, 3, 1)
    backbone = lambda x, t, y: net(x) * (1 + t.view(-1, 1, 1, 1))  # noqa: E731
    f = edm_formulation()
    model = EDMPrecond(backbone, f.path)
    x0, eps = torch.randn(4, 3, 5, 5), torch.randn(4, 3, 5, 5)
    t = f.sample_t(4, torch.Generator().manual_seed(1))
    sigma = f.sigma(t) / f.alpha(t)
    # EDM's sigma of the sampled times is log-normal: the bisection maps them back exactly
    sig = EDM_.sample_sigma(4, torch.Generator().manual_seed(1))
    assert torch.allclose(sigma, sig, rtol=1e-4)
    vp_loss, _ = f.loss(model, x0, t=t, eps=eps, weight=edm_weight(f, t).view(-1, 1, 1, 1))
    edm_loss, _ = EDM_.loss(backbone, x0, sigma=sigma, noise=eps)     # x_EDM = x_VP / alpha = x0 + sigma eps
    assert torch.allclose(vp_loss, edm_loss, rtol=1e-4)
    x_t = f.add_noise(x0, t, eps)
    assert torch.allclose(model(x_t, t), EDM_.denoise(backbone, x_t / f.alpha(t).view(-1, 1, 1, 1), sigma), atol=1e-5)


def _edm_positional_embedding(x: torch.Tensor, num_channels: int, max_positions: int = 10000,
                              endpoint: bool = False) -> torch.Tensor:
    """EDM's noise embedding, transcribed from NVlabs/edm@008a4e5:training/networks.py::PositionalEmbedding.forward."""
    freqs = torch.arange(start=0, end=num_channels // 2, dtype=torch.float32, device=x.device)
    freqs = freqs / (num_channels // 2 - (1 if endpoint else 0))
    freqs = (1 / max_positions) ** freqs
    x = x.ger(freqs.to(x.dtype))
    return torch.cat([x.cos(), x.sin()], dim=1)


@pytest.mark.parametrize("arch", ["uvit", "dit"])
def test_the_backbone_embeds_c_noise_as_edms_positional_embedding(arch):
    """Inside EDMPrecond an smlib backbone's sinusoidal time features are EDM's PositionalEmbedding of
    c_noise = ln(sigma) / 4, unscaled; t_scale=1 gives the input smlib used before (the embedding of 1000 c_noise)."""
    from smlib.diffusion.edm import EDMPrecond, backbone_t_scale, edm_formulation
    from smlib.models.dit import DiT, timestep_embedding
    from smlib.models.uvit import UViT
    torch.manual_seed(0)
    if arch == "uvit":
        backbone, dim = UViT(input_size=4, in_channels=1, patch_size=2, hidden_size=32, depth=2, num_heads=2), 32
    else:
        backbone = DiT(input_size=4, in_channels=1, patch_size=2, hidden_size=32, depth=1, num_heads=2)
        dim = backbone.t_embedder.frequency_size
    assert backbone_t_scale(backbone) == 1000.0 and backbone_t_scale(lambda x, t, y: x) == 1.0
    f = edm_formulation()
    seen = []
    backbone.register_forward_pre_hook(lambda m, args: seen.append(args[1].detach().clone()))
    sigma = torch.tensor([0.002, 0.05, 0.3, 1.0, 7.0, 80.0], dtype=torch.float64)
    from smlib.diffusion.schedules import time_at_log_snr
    t = time_at_log_snr(f.path, -2 * sigma.log()).float()
    x_t = torch.randn(6, 1, 4, 4)
    for t_scale, expected_input in ((None, 1.0), (1.0, 1000.0)):
        seen.clear()
        EDMPrecond(backbone, f.path, t_scale=t_scale)(x_t, t)
        sigma_seen = f.sigma(t) / f.alpha(t)                           # the float32 sigma EDMPrecond computes
        got = timestep_embedding(1000.0 * seen[0], dim)
        ref = _edm_positional_embedding(expected_input * sigma_seen.log() / 4, dim)
        assert torch.allclose(got, ref, atol=2e-3 if expected_input > 1 else 1e-5)
        assert torch.allclose(sigma_seen.double(), sigma, rtol=1e-4)
    with pytest.raises(ValueError, match="t_scale"):
        EDMPrecond(backbone, f.path, t_scale=0.0)


def test_the_edm_sampler_refuses_a_sigma_max_beyond_the_path():
    from smlib.diffusion import sample
    from smlib.diffusion.edm import edm_formulation
    f = edm_formulation()                                               # vp-continuous: sigma / alpha = 152 at t = 1
    model = lambda x, t, y: torch.zeros_like(x)  # noqa: E731
    assert sample(model, f, (3, 2), sampler="edm", steps=4, seed=0, edm=EDM(sigma_max=150.0)).shape == (3, 2)
    with pytest.raises(ValueError, match="beyond this path"):
        sample(model, f, (3, 2), sampler="edm", steps=4, seed=0, edm=EDM(sigma_max=200.0))
