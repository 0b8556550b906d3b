"""Schedules, formulations, losses and samplers against closed forms, scipy quadrature and the exact Gaussian
denoiser."""
import math

import pytest
import scipy.integrate
import torch

from smlib import diffusion as D

F64 = torch.float64
ALL_FORMULATIONS = ["ddpm-linear", "ddpm-cosine", "vp-continuous", "sit"]


# ------------------------------------------------------------------------------------------------- schedules
def test_linear_beta_alpha_bar_is_the_explicit_product():
    path = D.LinearBetaVP()
    betas = [1e-4 + (0.02 - 1e-4) * i / 999 for i in range(1000)]
    prod, ref = 1.0, []
    for b in betas:
        prod *= 1 - b
        ref.append(prod)
    ref = torch.tensor(ref, dtype=F64)
    assert torch.allclose(path.alphas_cumprod, ref, rtol=1e-12, atol=0)
    i = torch.tensor([1, 2, 10, 500, 999, 1000])
    assert torch.allclose(path.alpha_bar(i.to(F64) / 1000), ref[i - 1], rtol=1e-10)
    assert path.alpha_bar(torch.zeros(1, dtype=F64)).item() == 1.0


def test_cosine_schedule_matches_formula_until_clipping():
    path = D.CosineVP()
    s, n = 0.008, 1000
    f = lambda u: math.cos((u + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    ref = torch.tensor([f(i / n) / f(0) for i in range(1, n + 1)], dtype=F64)
    clipped = path.betas >= 0.999
    assert clipped.sum() == 1 and clipped[-1]  # only the very last beta hits the 0.999 cap
    assert torch.allclose(path.alphas_cumprod[:-1], ref[:-1], rtol=1e-9)
    assert torch.allclose(D.cosine_alpha_bar(torch.arange(1, n, dtype=F64) / n), ref[:-1], rtol=1e-12)
    assert path.alpha_bar(torch.ones(1, dtype=F64)).item() > 0  # x0 stays recoverable from eps at t = 1


def test_continuous_vp_alpha_bar_vs_quadrature():
    bmin, bmax = 0.1, 20.0
    path = D.ContinuousVP(bmin, bmax)
    for t in [0.0, 0.01, 0.3, 0.77, 1.0]:
        integral, _ = scipy.integrate.quad(lambda u: bmin + u * (bmax - bmin), 0, t)
        ours = path.alpha_bar(torch.tensor([t], dtype=F64)).item()
        assert math.isclose(ours, math.exp(-integral), rel_tol=1e-12)
        assert math.isclose(path.beta(torch.tensor([t], dtype=F64)).item(), bmin + t * (bmax - bmin), rel_tol=1e-12)


@pytest.mark.parametrize("name", ALL_FORMULATIONS)
def test_derivatives_match_finite_differences(name):
    path = D.make_formulation(name).path
    # off the discrete grid points, where the interpolated log alpha_bar is smooth
    t = torch.tensor([0.1234, 0.4567, 0.8765], dtype=F64)
    h = 1e-7
    for fn, dfn in [(path.alpha, path.d_alpha), (path.sigma, path.d_sigma)]:
        fd = (fn(t + h) - fn(t - h)) / (2 * h)
        assert torch.allclose(dfn(t), fd, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("name", ["ddpm-linear", "ddpm-cosine", "vp-continuous"])
@pytest.mark.parametrize("c", [0.5, 2.0, 4.0])
def test_snr_scaling_multiplies_snr_exactly(name, c):
    base = D.make_formulation(name).path
    scaled = D.make_formulation(name, snr_scale=c).path
    t = torch.linspace(0.01, 1.0, 37, dtype=F64)
    assert torch.allclose(scaled.snr(t), c * base.snr(t), rtol=1e-10)
    assert torch.allclose(scaled.log_snr(t), math.log(c) + base.log_snr(t), atol=1e-10)
    assert torch.allclose(scaled.alpha(t) ** 2 + scaled.sigma(t) ** 2, torch.ones_like(t), atol=1e-14)
    assert torch.allclose(scaled.alpha_bar(t), D.scale_alpha_bar_snr(base.alpha_bar(t), c), rtol=1e-12)
    # the scaled path's beta is -d/dt log alpha_bar' (the VP-SDE stays consistent); for discrete paths test between
    # grid points, where the interpolated log alpha_bar is smooth
    t_mid = (torch.arange(10, 990, 97, dtype=F64) + 0.5) / 1000
    h = 1e-7
    fd = -(torch.log(scaled.alpha_bar(t_mid + h)) - torch.log(scaled.alpha_bar(t_mid - h))) / (2 * h)
    assert torch.allclose(scaled.beta(t_mid), fd, rtol=1e-5)


def test_interpolant_coefficients():
    f = D.make_formulation("sit")
    t = torch.linspace(0, 1, 11, dtype=F64)
    assert torch.equal(f.alpha(t), 1 - t) and torch.equal(f.sigma(t), t)
    x0, eps = torch.randn(11, 3, dtype=F64), torch.randn(11, 3, dtype=F64)
    assert torch.allclose(f.target(x0, eps, t), eps - x0)  # v = eps - x0


def test_sample_t_ranges_and_reproducibility():
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    t = D.make_formulation("ddpm-linear").sample_t(4000, g())
    i = t * 1000
    assert torch.allclose(i, i.round(), atol=1e-4) and i.min() >= 1 and i.max() <= 1000
    t = D.make_formulation("vp-continuous").sample_t(4000, g())
    assert t.min() >= 1e-5 and t.max() <= 1
    t = D.make_formulation("sit", t_sampling="logit_normal").sample_t(4000, g())
    assert 0 < t.min() and t.max() < 1 and abs(torch.logit(t.double()).std().item() - 1) < 0.05
    a, b = D.make_formulation("sit").sample_t(8, g()), D.make_formulation("sit").sample_t(8, g())
    assert torch.equal(a, b)


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="snr_scale"):
        D.LinearBetaVP(snr_scale=0)
    with pytest.raises(ValueError, match="prediction"):
        D.Formulation(D.LinearInterpolant(), "score")
    with pytest.raises(KeyError, match="unknown formulation"):
        D.make_formulation("edm")
    with pytest.raises(KeyError, match="unknown sampler"):
        D.sample(lambda x, t, y: x, D.make_formulation("sit"), (2, 1), sampler="dpm")


# ------------------------------------------------------------------------------------------------- conversions
@pytest.mark.parametrize("name", ALL_FORMULATIONS)
@pytest.mark.parametrize("prediction", ["eps", "x0", "v"])
def test_conversions_invert_the_target(name, prediction):
    f = D.make_formulation(name, prediction=prediction)
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randn(6, 2, 3, 3, generator=gen, dtype=F64)
    eps = torch.randn(6, 2, 3, 3, generator=gen, dtype=F64)
    t = torch.tensor([0.05, 0.2, 0.41, 0.5, 0.77, 0.95], dtype=F64)
    x_t = f.add_noise(x0, t, eps)
    out = f.target(x0, eps, t)
    x0_hat, eps_hat = f.to_x0_eps(out, x_t, t)
    assert torch.allclose(x0_hat, x0, atol=1e-10) and torch.allclose(eps_hat, eps, atol=1e-10)
    assert torch.allclose(f.velocity(out, x_t, t), f.velocity_from(x0, eps, t), atol=1e-10)
    assert torch.allclose(f.score(out, x_t, t), -eps / f.sigma(t).view(-1, 1, 1, 1), atol=1e-10)


def test_ddim_noise_at_eta_one_is_the_ddpm_posterior_variance():
    f = D.make_formulation("ddpm-linear")
    i = torch.tensor([2, 10, 300, 1000])
    t, s = i.to(F64) / 1000, (i - 1).to(F64) / 1000
    ab = f.path.alphas_cumprod
    beta_tilde = (1 - ab[i - 2]) / (1 - ab[i - 1]) * f.path.betas[i - 1]
    assert torch.allclose(D.ddim_noise_std(f, t, s, 1.0) ** 2, beta_tilde, rtol=1e-8)
    assert torch.equal(D.ddim_noise_std(f, t, s, 0.0), torch.zeros(4, dtype=F64))


# ------------------------------------------------------------------------------------------------- Gaussian data
# x0 ~ N(mu, Sigma) on a (1, 2, 2) "image" with a non-diagonal covariance (eigenvalues 0.12 .. 1.36).
_A = torch.tensor([[1.0, 0.3, 0.0, 0.2], [0.0, 0.6, 0.4, 0.0], [0.2, 0.0, 0.5, 0.3], [0.1, 0.2, 0.0, 0.4]], dtype=F64)
SIGMA = _A @ _A.T
MU = torch.tensor([0.5, -0.3, 0.2, 0.0], dtype=F64)
SHAPE = (1, 2, 2)


def posterior_mean(x_t, a, s):
    """E[x0 | x_t] = mu + Sigma a (a^2 Sigma + s^2 I)^-1 (x_t - a mu); x_t (B, 4), a, s (B,)."""
    m = a[:, None, None] ** 2 * SIGMA + s[:, None, None] ** 2 * torch.eye(4, dtype=F64)
    r = torch.linalg.solve(m, (x_t - a[:, None] * MU).unsqueeze(-1)).squeeze(-1)
    return MU + a[:, None] * r @ SIGMA.T


def exact_model(f, shift: float = 0.0):
    """The optimal network for f on Gaussian data, in f's parametrisation (plus an optional constant error)."""
    def model(x, t, y=None):
        b = x.shape[0]
        xf, t = x.reshape(b, -1).to(F64), t.to(F64)
        a, s = f.alpha(t), f.sigma(t)
        x0 = posterior_mean(xf, a, s)
        eps = (xf - a[:, None] * x0) / s[:, None]
        return (f.from_x0_eps(x0, eps, t) + shift).reshape(x.shape).to(x.dtype)
    return model


def draw_data(n, gen):
    return (MU + torch.randn(n, 4, generator=gen, dtype=F64) @ _A.T).reshape(n, *SHAPE)


# Tolerances from the sampling error of N = 4000 draws: the mean's standard error is at most
# sqrt(max Sigma_ii / N) = sqrt(1.36 / 4000) = 0.018, the covariance entries' at most sqrt(2) * 1.36 / sqrt(N) = 0.030.
# Bounds of ~3 standard errors, plus ~0.03 for the bias of 100-step discretisations (measured 0.01 - 0.03):
N_SAMPLES, MEAN_TOL, COV_TOL = 4000, 0.05, 0.08


def _moment_errors(x):
    x = x.reshape(x.shape[0], -1).to(F64)
    return (x.mean(0) - MU).abs().max().item(), (torch.cov(x.T) - SIGMA).abs().max().item()


@pytest.mark.parametrize("name", ALL_FORMULATIONS)
@pytest.mark.parametrize("sampler,steps", [("ddim", 100), ("euler", 100), ("heun", 50)])
def test_ode_samplers_reach_the_gaussian(name, sampler, steps):
    f = D.make_formulation(name)
    x = D.sample(exact_model(f), f, (N_SAMPLES, *SHAPE), sampler=sampler, steps=steps, seed=1, dtype=F64)
    mean_err, cov_err = _moment_errors(x)
    assert mean_err < MEAN_TOL and cov_err < COV_TOL, (mean_err, cov_err)


@pytest.mark.parametrize("name,kwargs", [
    ("ddpm-linear", dict(sampler="euler_maruyama", steps=500)),
    ("sit", dict(sampler="euler_maruyama", steps=500)),
    ("ddpm-linear", dict(sampler="ddim", steps=1000, eta=1.0)),  # = ancestral DDPM on its own 1000-step grid
    ("sit", dict(sampler="ddim", steps=200, eta=0.5)),
])
def test_stochastic_samplers_reach_the_gaussian(name, kwargs):
    f = D.make_formulation(name)
    x = D.sample(exact_model(f), f, (N_SAMPLES, *SHAPE), seed=2, dtype=F64, **kwargs)
    mean_err, cov_err = _moment_errors(x)
    assert mean_err < MEAN_TOL and cov_err < COV_TOL, (mean_err, cov_err)


@pytest.mark.parametrize("name", ALL_FORMULATIONS)
def test_dpmpp_2m_reaches_the_gaussian_in_25_steps(name):
    f = D.make_formulation(name)
    x = D.sample(exact_model(f), f, (N_SAMPLES, *SHAPE), sampler="dpmpp_2m", steps=25, seed=1, dtype=F64)
    mean_err, cov_err = _moment_errors(x)
    assert mean_err < MEAN_TOL and cov_err < COV_TOL, (mean_err, cov_err)


@pytest.mark.parametrize("name", ["vp-continuous", "sit"])
def test_dpmpp_2m_is_second_order_on_the_probability_flow_ode(name):
    """Against a 4000-step DDIM solution of the same ODE from the same noise on the same kind of grid: DDIM is first
    order (its error halves when the steps double, measured 1.95x), DPM-Solver++(2M) second order (measured 3.2x
    from 20 to 40 steps), and at 20 steps it is several times closer."""
    f = D.make_formulation(name)
    model, x_init = exact_model(f), torch.randn(64, *SHAPE, generator=torch.Generator().manual_seed(3), dtype=F64)

    def ddim(steps):
        return D.samplers._run(D.samplers._ddim_step, model, f, x_init.shape, steps, x_init=x_init, dtype=F64,
                               grid=D.logsnr_grid(f, steps, t_min=1e-3))

    ref = ddim(4000)
    error = {steps: (D.sample(model, f, x_init.shape, sampler="dpmpp_2m", steps=steps, t_min=1e-3, x_init=x_init,
                              dtype=F64) - ref).abs().max().item() for steps in (20, 40)}
    ddim_error = {steps: (ddim(steps) - ref).abs().max().item() for steps in (20, 40)}
    assert ddim_error[20] / ddim_error[40] < 2.2 < 2.6 < error[20] / error[40], (error, ddim_error)
    assert error[20] < 0.25 * ddim_error[20], (error, ddim_error)


def test_time_at_log_snr_inverts_the_interpolant_in_closed_form():
    target = torch.tensor([-8.0, -1.0, 0.0, 3.0, 10.0], dtype=F64)
    t = D.time_at_log_snr(D.make_path("linear-interpolant"), target)
    assert torch.allclose(t, 1 / (1 + torch.exp(target / 2)), atol=1e-12)   # log SNR = 2 log((1 - t) / t)
    vp = D.make_path("vp-continuous", snr_scale=2.0)
    assert torch.allclose(vp.log_snr(D.time_at_log_snr(vp, target, 1e-4, 1.0)), target, atol=1e-8)


def test_logsnr_grid_is_uniform_in_lambda():
    f = D.make_formulation("ddpm-linear")
    t = torch.tensor(D.logsnr_grid(f, 8, t_min=1e-3), dtype=F64)
    lam = torch.log(f.alpha(t)) - torch.log(f.sigma(t))
    assert t[0] == 1.0 and t[-1] == 1e-3 and (t[1:] < t[:-1]).all()
    assert torch.allclose(lam.diff(), lam.diff().mean().expand(8), atol=1e-9)
    with pytest.raises(ValueError, match="t_min"):
        D.logsnr_grid(f, 8, t_min=0.0)


def test_float32_sampling_and_trajectory():
    f = D.make_formulation("sit")
    x, traj = D.sample_ddim(exact_model(f), f, (N_SAMPLES, *SHAPE), steps=20, seed=1, return_trajectory=True)
    assert x.dtype == torch.float32 and _moment_errors(x)[0] < MEAN_TOL
    assert traj.x0_hat.shape == (20, N_SAMPLES, *SHAPE) and traj.x_t.shape == (20, N_SAMPLES, *SHAPE)
    assert traj.t[0] == 1.0 and torch.all(traj.t[1:] < traj.t[:-1])
    assert torch.allclose(traj.x0_hat[-1], x, atol=1e-6)  # DDIM's last step lands on x0_hat
    # coarse to fine: the x0-estimates start at the data mean and spread out to the data covariance
    spread = traj.x0_hat.reshape(20, N_SAMPLES, -1).var(dim=1).sum(-1)
    assert spread[0] < 0.05 * spread[-1]
    again = D.sample_ddim(exact_model(f), f, (N_SAMPLES, *SHAPE), steps=20, seed=1)
    assert torch.equal(x, again)


# ------------------------------------------------------------------------------------------------- losses
@pytest.mark.parametrize("name", ALL_FORMULATIONS)
def test_loss_is_minimal_at_the_optimal_model(name):
    f = D.make_formulation(name)
    x0 = draw_data(8192, torch.Generator().manual_seed(5))
    best, _ = f.loss(exact_model(f), x0, generator=torch.Generator().manual_seed(6))
    # common random numbers: the same t and eps for every model
    for shift in (0.05, -0.05):
        worse, _ = f.loss(exact_model(f, shift), x0, generator=torch.Generator().manual_seed(6))
        assert best.mean() < worse.mean()
    scaled = lambda x, t, y: 1.1 * exact_model(f)(x, t, y)  # noqa: E731
    worse, _ = f.loss(scaled, x0, generator=torch.Generator().manual_seed(6))
    assert best.mean() < worse.mean()


@pytest.mark.parametrize("name", ALL_FORMULATIONS)
def test_loss_at_optimum_matches_closed_form(name):
    """At a fixed t the optimal loss is k^2 tr Cov[x0 | x_t] / d, where out = A x0 + B eps and k = A - B a / s."""
    f = D.make_formulation(name)
    x0 = draw_data(20000, torch.Generator().manual_seed(7))
    t0 = 0.37
    t = torch.full((x0.shape[0],), t0, dtype=F64)
    loss, logs = f.loss(exact_model(f), x0, t=t, generator=torch.Generator().manual_seed(8))
    a, s = f.alpha(t[:1]), f.sigma(t[:1])
    k = f.from_x0_eps(torch.ones(1, dtype=F64), -a / s, t[:1]).item()
    m = a**2 * SIGMA + s**2 * torch.eye(4, dtype=F64)
    post_cov = SIGMA - a**2 * SIGMA @ torch.linalg.solve(m, SIGMA)
    expected = k**2 * torch.trace(post_cov).item() / 4
    assert loss.shape == (x0.shape[0],) and torch.equal(logs["t"], t)
    assert abs(loss.mean().item() / expected - 1) < 0.03


def test_loss_options_weight_hidden_and_learned_sigma():
    f = D.make_formulation("sit")
    x0 = torch.randn(5, 2, 4, 4, dtype=F64)
    kw = dict(t=torch.full((5,), 0.5, dtype=F64), eps=torch.randn(5, 2, 4, 4, dtype=F64))
    zero = lambda x, t, y: torch.zeros_like(x)  # noqa: E731
    plain, _ = f.loss(zero, x0, **kw)
    target = f.target(x0, kw["eps"], kw["t"])
    assert torch.allclose(plain, target.square().mean(dim=(1, 2, 3)))
    weight = torch.tensor([2.0, 0.0], dtype=F64).view(1, 2, 1, 1)
    weighted, _ = f.loss(zero, x0, weight=weight, **kw)
    assert torch.allclose(weighted, target[:, :1].square().mean(dim=(1, 2, 3)))
    with_hidden = lambda x, t, y, return_hidden=False: (torch.zeros_like(x), ["h1", "h2"])  # noqa: E731
    loss, logs = f.loss(with_hidden, x0, model_kwargs=dict(return_hidden=True), **kw)
    assert torch.allclose(loss, plain) and logs["hidden"] == ["h1", "h2"]
    learned_sigma = lambda x, t, y: torch.cat([torch.zeros_like(x), torch.ones_like(x)], 1)  # noqa: E731
    assert torch.allclose(f.loss(learned_sigma, x0, **kw)[0], plain)
    with pytest.raises(ValueError, match="does not match"):
        f.loss(lambda x, t, y: x[:, :1], x0, **kw)
