"""Samplers for any :class:`~smlib.diffusion.losses.Formulation`: DDIM, Euler and Heun on the probability-flow ODE,
and Euler-Maruyama on the reverse SDE.

All of them walk the time grid t_0 = t_max > t_1 > ... > t_S = 0 (uniform in t) and only ever ask the network for
(x0_hat, eps_hat) at the current (x, t), so they are the same code for eps-, x0- and v-prediction and for VP or
linear-interpolant paths:

* DDIM (Song et al. 2021):  x_s = alpha_s x0_hat + sqrt(sigma_s^2 - c^2) eps_hat + c z,
  c = eta sigma_s sqrt(1 - SNR_t / SNR_s). eta = 0 is deterministic; eta = 1 is ancestral DDPM sampling
  (c^2 is the variance of q(x_s | x_t, x_0), written for a general alpha, sigma).
* Euler / Heun: dx/dt = u(x, t) = alpha'(t) x0_hat + sigma'(t) eps_hat (the probability-flow ODE; for the linear
  interpolant u is the velocity v). Heun skips its corrector on the last step, which ends at t = 0 (as in EDM).
  These step uniformly in t, so they suit the interpolant and the continuous VP path; for a discrete VP schedule
  with a steep end (the cosine schedule's clipped last beta) prefer DDIM, which is exact in the noise level.
* DPM-Solver++(2M) (Lu et al. 2022): the exact solution of the probability-flow ODE in lambda = log(alpha / sigma)
  for a data prediction that is linear in lambda over each step, the slope taken from the previous step's x0_hat:
  x_s = (sigma_s / sigma_t) x_t + alpha_s (1 - e^{-h}) D,  h = lambda_s - lambda_t,
  D = (1 + 1/(2r)) x0_hat_t - 1/(2r) x0_hat_prev,  r = h_prev / h  (D = x0_hat_t on the first step).
  Its grid is uniform in lambda and ends at ``t_min`` > 0, as DPM-Solver's does, so NFE = steps. DCTdiff samples
  with DPM-Solver-fast (v1, single-step, up to third order; ``forever208/DCTdiff@3561c1ea:dpm_solver_pytorch.py``);
  this multistep second-order solver needs one model call per step and no intermediate times, and stands in for it.
* Euler-Maruyama: the reverse SDE dx = [u - w(t)/2 * score] dt + sqrt(w(t)) dW_bar, score = -eps_hat / sigma. Any
  w >= 0 has the right marginals; the default is the path's ``diffusion(t)`` (beta(t) for VP, REPA's 2t for the
  interpolant). The last step returns the denoised mean x0_hat (Tweedie) instead of adding noise at t -> 0.

Classifier-free guidance: with labels y and cfg_scale w != 1 the model is called on (y, null) in one batch and
out = out_null + w (out_cond - out_null); since (x0_hat, eps_hat) are affine in out, this is the same combination
for eps, x0 or v. ``cfg_interval=(lo, hi)`` applies guidance only for lo <= t <= hi (REPA's guidance interval).

The samplers put an ``nn.Module`` in eval mode (no label dropout) for the call and restore its mode afterwards.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from smlib.device import resolve_device
from smlib.diffusion.losses import Formulation, _bc, mean_part
from smlib.diffusion.schedules import draw_normal, time_at_log_snr


@dataclass
class Trajectory:
    """What a sampler saw, one entry per network evaluation step.

    t: (S,) the times the model was evaluated at; x_t: (S, B, ...) the states there; x0_hat: (S, B, ...) the
    model's clean-data estimates (coarse-to-fine generation is visible in x0_hat). Stored on the CPU.
    """

    t: torch.Tensor
    x_t: torch.Tensor
    x0_hat: torch.Tensor


def _model_device(model) -> torch.device:
    if isinstance(model, nn.Module):
        for p in model.parameters():
            return p.device
    return torch.device("cpu")


def _labels(y, batch: int, device) -> torch.Tensor | None:
    if y is None:
        return None
    y = torch.as_tensor(y, device=device, dtype=torch.long)
    if y.ndim == 0:
        y = y.expand(batch)
    if y.shape != (batch,):
        raise ValueError(f"class labels must be an int or shape ({batch},), got {tuple(y.shape)}.")
    return y


def guided_output(model, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None, cfg_scale: float = 1.0,
                  null_label: int | None = None) -> torch.Tensor:
    """The (classifier-free guided) model output at (x, t), (B, ...) like x.

    x: (B, ...); t: (B,); y: (B,) long or None. With y given and ``cfg_scale != 1`` the model sees the batch
    twice (labels y, then ``null_label``, default ``model.num_classes``) and returns
    out_null + cfg_scale (out_cond - out_null). A learned-variance half of the output is dropped.
    """
    if y is None or cfg_scale == 1.0:
        return mean_part(model(x, t, y), x)
    if null_label is None:
        null_label = getattr(model, "num_classes", None)
        if null_label is None:
            raise ValueError("cfg_scale != 1 needs the null label: pass null_label= (or a model with .num_classes).")
    y_null = torch.full_like(y, int(null_label))
    out = mean_part(model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, y_null])), torch.cat([x, x]))
    cond, uncond = out.chunk(2)
    return uncond + cfg_scale * (cond - uncond)


class _Denoiser:
    """(x0_hat, eps_hat) of a model under a formulation, with guidance and optional x0 clipping."""

    def __init__(self, model, formulation: Formulation, y, cfg_scale, null_label, cfg_interval, clip_x0):
        self.model, self.f, self.y = model, formulation, y
        self.cfg_scale, self.null_label, self.cfg_interval, self.clip_x0 = cfg_scale, null_label, cfg_interval, clip_x0

    def __call__(self, x: torch.Tensor, t: float) -> tuple[torch.Tensor, torch.Tensor]:
        tt = torch.full((x.shape[0],), t, device=x.device, dtype=x.dtype)
        scale = self.cfg_scale
        if self.cfg_interval is not None and not (self.cfg_interval[0] <= t <= self.cfg_interval[1]):
            scale = 1.0
        out = guided_output(self.model, x, tt, self.y, scale, self.null_label)
        x0, eps = self.f.to_x0_eps(out, x, tt)
        if self.clip_x0 is not None:  # clip the data estimate, then make eps consistent with it (improved DDPM)
            x0 = x0.clamp(-self.clip_x0, self.clip_x0)
            eps = (x - _bc(self.f.alpha(tt), x) * x0) / _bc(self.f.sigma(tt), x)
        return x0, eps


def _scalar(fn, t: float, like: torch.Tensor) -> torch.Tensor:
    """fn evaluated at the single time t, as a 0-d tensor in like's dtype/device."""
    return fn(torch.tensor([t], device=like.device, dtype=like.dtype))[0]


def logsnr_grid(formulation: Formulation, steps: int, t_min: float = 1e-4, lambda_floor: float = -6.0
                ) -> list[float]:
    """t_0 = t_max > t_1 > ... > t_steps = t_min, uniform in lambda = log(alpha / sigma); (steps + 1) floats.

    lambda(t) is inverted by :func:`~smlib.diffusion.schedules.time_at_log_snr` (bisection). Where
    lambda(t_max) is below ``lambda_floor`` (-inf for the linear interpolant at t = 1) the spacing starts from the
    floor, so that no steps are spent where the state is noise; -6 is about where DDPM's linear schedule ends
    (lambda(1) = -5.1).
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}.")
    t_max = float(formulation.t_max)
    if not 0 < t_min < t_max:
        raise ValueError(f"t_min must lie in (0, t_max = {t_max}), got {t_min}.")

    ends = formulation.path.log_snr(torch.tensor([t_max, t_min], dtype=torch.float64)) / 2    # lambda = log_snr / 2
    lo_lam = max(float(ends[0]), lambda_floor)
    targets = torch.linspace(lo_lam, float(ends[1]), steps + 1, dtype=torch.float64)[1:-1]
    inner = time_at_log_snr(formulation.path, 2 * targets, t_min, t_max)
    return [t_max, *inner.tolist(), float(t_min)]


def time_grid(steps: int, t_max: float = 1.0) -> list[float]:
    """t_max = t_0 > t_1 > ... > t_steps = 0, uniform; python floats, (steps + 1) of them."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}.")
    return [t_max * (1 - i / steps) for i in range(steps + 1)]


def _run(step_fn, model, formulation: Formulation, shape, steps: int, *, generator=None, seed=None, y=None,
         cfg_scale=1.0, null_label=None, cfg_interval=None, clip_x0=None, device=None, dtype=torch.float32,
         x_init=None, return_trajectory=False, grid=None):
    """Shared driver: noise, labels and guidance set up once, then ``step_fn`` applied along the time grid
    (``grid``, default the uniform :func:`time_grid`)."""
    if generator is None and seed is not None:
        generator = torch.Generator().manual_seed(int(seed))
    device = _model_device(model) if device is None else resolve_device(device)
    shape = tuple(shape)
    x = draw_normal(shape, generator, device, dtype) if x_init is None else x_init.to(device=device, dtype=dtype)
    if tuple(x.shape) != shape:
        raise ValueError(f"x_init has shape {tuple(x.shape)}, expected {shape}.")
    denoise = _Denoiser(model, formulation, _labels(y, shape[0], device), cfg_scale, null_label, cfg_interval,
                        clip_x0)
    grid = time_grid(steps, formulation.t_max) if grid is None else grid
    ts, xs, x0s = [], [], []
    was_training = isinstance(model, nn.Module) and model.training
    if was_training:
        model.eval()
    try:
        with torch.no_grad():
            for t, t_next in zip(grid[:-1], grid[1:]):
                x_next, x0 = step_fn(denoise, formulation, x, t, t_next, generator)
                if return_trajectory:
                    ts.append(t)
                    xs.append(x.cpu())
                    x0s.append(x0.cpu())
                x = x_next
    finally:
        if was_training:
            model.train()
    if not return_trajectory:
        return x
    return x, Trajectory(torch.tensor(ts, dtype=torch.float64), torch.stack(xs), torch.stack(x0s))


# ------------------------------------------------------------------------------------------------- one step each
# step(denoise, formulation, x (B, ...), t, t_next, generator) -> (x at t_next, x0_hat at t)

def ddim_noise_std(formulation: Formulation, t: torch.Tensor, t_next: torch.Tensor, eta: float) -> torch.Tensor:
    """DDIM's noise level c = eta sigma_s sqrt(1 - SNR_t / SNR_s) for a step t -> s = t_next (< t), (B,).

    c^2 at eta = 1 is Var[x_s | x_t, x_0], the DDPM posterior variance (beta_tilde of Ho et al. for adjacent steps).
    """
    a_t, s_t = formulation.alpha(t), formulation.sigma(t)
    a_s, s_s = formulation.alpha(t_next), formulation.sigma(t_next)
    return eta * s_s * torch.sqrt((1 - (a_t * s_s / (a_s * s_t)) ** 2).clamp(min=0))


def _ddim_step(denoise, f, x, t, t_next, generator, eta=0.0):
    x0, eps = denoise(x, t)
    a_s, s_s = _scalar(f.alpha, t_next, x), _scalar(f.sigma, t_next, x)
    if eta == 0.0 or t_next == 0.0:
        return a_s * x0 + s_s * eps, x0
    c = ddim_noise_std(f, *(torch.tensor([v], device=x.device, dtype=x.dtype) for v in (t, t_next)), eta)[0]
    z = draw_normal(x.shape, generator, x.device, x.dtype)
    return a_s * x0 + torch.sqrt((s_s**2 - c**2).clamp(min=0)) * eps + c * z, x0


def _velocity(f, x0, eps, t, like):
    return _scalar(f.path.d_alpha, t, like) * x0 + _scalar(f.path.d_sigma, t, like) * eps


def _euler_step(denoise, f, x, t, t_next, generator):
    x0, eps = denoise(x, t)
    return x + (t_next - t) * _velocity(f, x0, eps, t, x), x0


def _heun_step(denoise, f, x, t, t_next, generator):
    x0, eps = denoise(x, t)
    u = _velocity(f, x0, eps, t, x)
    x_euler = x + (t_next - t) * u
    if t_next == 0.0:  # the velocity at t = 0 is singular for VP paths; finish with Euler (EDM does the same)
        return x_euler, x0
    x0_next, eps_next = denoise(x_euler, t_next)
    return x + (t_next - t) * 0.5 * (u + _velocity(f, x0_next, eps_next, t_next, x)), x0


def _euler_maruyama_step(denoise, f, x, t, t_next, generator, diffusion=None):
    x0, eps = denoise(x, t)
    if t_next == 0.0:  # last step: the denoised mean, no noise
        return x0, x0
    w = _scalar(diffusion or f.path.diffusion, t, x)
    score = -eps / _scalar(f.sigma, t, x)
    drift = _velocity(f, x0, eps, t, x) - 0.5 * w * score
    h = t - t_next
    z = draw_normal(x.shape, generator, x.device, x.dtype)
    return x - h * drift + torch.sqrt(w * h) * z, x0


class _DPMSolverPP2M:
    """DPM-Solver++(2M) steps; it keeps the previous step's x0_hat and h (one instance per sampling run)."""

    def __init__(self):
        self.previous: tuple[torch.Tensor, float] | None = None

    def __call__(self, denoise, f, x, t, t_next, generator):
        x0, _ = denoise(x, t)
        a_n, s_n, s_t = (_scalar(fn, u, x) for fn, u in ((f.alpha, t_next), (f.sigma, t_next), (f.sigma, t)))
        if float(s_n) == 0.0:                  # a grid ending at t = 0: the data estimate itself
            return x0, x0
        lam_t = float(torch.log(_scalar(f.alpha, t, x)) - torch.log(s_t))
        h = float(torch.log(a_n) - torch.log(s_n)) - lam_t
        d = x0
        if self.previous is not None and math.isfinite(self.previous[1]) and math.isfinite(h):
            r = self.previous[1] / h
            d = (1 + 0.5 / r) * x0 - (0.5 / r) * self.previous[0]
        self.previous = (x0, h)
        return (s_n / s_t) * x + a_n * (-math.expm1(-h)) * d, x0


# ------------------------------------------------------------------------------------------------- public samplers
_COMMON_DOC = """
    Args:
        model: ``model(x_t, t, y)`` -> output in ``formulation.prediction`` (see :mod:`smlib.diffusion.losses`).
        formulation: the :class:`Formulation` the model was trained with.
        shape: (B, C, H, W) (any (B, ...)) of the samples.
        steps: number of steps on the uniform grid from ``formulation.t_max`` to 0.
        generator / seed: randomness for the initial noise (and the SDE noise); a CPU generator gives the same
            samples on every device. y: (B,) long labels, an int for all, or None (unconditional).
        cfg_scale: classifier-free guidance scale w (1 = off); null_label defaults to ``model.num_classes``;
            cfg_interval: (lo, hi) times where guidance is applied (default: all).
        clip_x0: clamp x0_hat to [-clip_x0, clip_x0] (pixel models in [-1, 1]); default None.
        device: None = the model's device; "auto"/"cpu"/"cuda"... dtype: sampling dtype (float32).
        x_init: (B, ...) initial noise instead of a fresh draw.
        return_trajectory: also return a :class:`Trajectory` of (t, x_t, x0_hat) per step.

    Returns:
        samples (B, ...), or (samples, Trajectory) with ``return_trajectory=True``.
"""


def sample_ddim(model, formulation: Formulation, shape, steps: int = 50, eta: float = 0.0, **kwargs):
    """DDIM: deterministic for ``eta=0``, ancestral (DDPM-like) for ``eta=1``. One model call per step."""
    if eta < 0:
        raise ValueError(f"eta must be >= 0, got {eta}.")
    return _run(lambda *a: _ddim_step(*a, eta=eta), model, formulation, shape, steps, **kwargs)


def sample_euler(model, formulation: Formulation, shape, steps: int = 50, **kwargs):
    """Euler on the probability-flow ODE dx/dt = alpha' x0_hat + sigma' eps_hat. One model call per step."""
    return _run(_euler_step, model, formulation, shape, steps, **kwargs)


def sample_heun(model, formulation: Formulation, shape, steps: int = 50, **kwargs):
    """Heun (2nd order) on the probability-flow ODE; 2 * steps - 1 model calls."""
    return _run(_heun_step, model, formulation, shape, steps, **kwargs)


def sample_euler_maruyama(model, formulation: Formulation, shape, steps: int = 250, diffusion=None, **kwargs):
    """Euler-Maruyama on the reverse SDE with noise level w(t) = ``diffusion(t)`` ((B,) -> (B,); default: the
    path's, beta(t) for VP and 2t for the interpolant). One model call per step; the last step is x0_hat."""
    return _run(lambda *a: _euler_maruyama_step(*a, diffusion=diffusion), model, formulation, shape, steps, **kwargs)


def sample_dpmpp_2m(model, formulation: Formulation, shape, steps: int = 50, t_min: float = 1e-4, **kwargs):
    """DPM-Solver++(2M) on a grid uniform in log(alpha / sigma) from t_max to ``t_min`` (DCTdiff and DPM-Solver:
    1e-4); one model call per step, and the samples are the state at ``t_min``. ``steps`` counts the steps of that
    grid, not of the uniform one."""
    return _run(_DPMSolverPP2M(), model, formulation, shape, steps,
                grid=logsnr_grid(formulation, steps, t_min), **kwargs)


def sample_edm_heun(model, formulation: Formulation, shape, steps: int = 18, churn: float = 0.0, *, generator=None,
                    seed=None, y=None, cfg_scale=1.0, null_label=None, cfg_interval=None, clip_x0=None, device=None,
                    dtype=torch.float32, x_init=None, return_trajectory=False, grid=None, edm=None):
    """EDM's Heun sampler (:func:`smlib.diffusion.edm.sample_edm`: the Karras grid of ``steps`` noise levels,
    2 * steps - 1 model calls, ``churn`` for its stochastic form) on any VP formulation: EDM's x at sigma is the
    path's x_t / alpha(t) at the t where sigma(t) / alpha(t) = sigma, and its denoiser is the formulation's x0_hat
    there. EDM's own settings for CIFAR-10 are 18 steps from sigma_max = 80, churn 0 (``NVlabs/edm@008a4e5:
    generate.py::edm_sampler``); ``edm``: an :class:`~smlib.diffusion.edm.EDM` with other grid constants
    (sigma_min, sigma_max, rho). No trajectory or custom grid."""
    from smlib.diffusion.edm import sample_edm

    if return_trajectory or grid is not None:
        raise ValueError("sample_edm_heun walks EDM's Karras grid and keeps no trajectory; use another sampler.")
    if not 0 < formulation.alpha(torch.tensor([formulation.t_max], dtype=torch.float64)).item() < 1:
        raise ValueError("the EDM sampler needs a VP path (0 < alpha < 1); this formulation's path is not one.")
    from smlib.diffusion.edm import EDM
    edm = edm or EDM()
    top = float(torch.exp(-0.5 * formulation.path.log_snr(torch.tensor([formulation.t_max], dtype=torch.float64))))
    if edm.sigma_max > top * (1 + 1e-9):
        raise ValueError(f"sigma_max {edm.sigma_max:g} lies beyond this path's noisiest level (sigma / alpha = "
                         f"{top:.4g} at t_max); pass edm=EDM(sigma_max=...) at most that.")
    if generator is None and seed is not None:
        generator = torch.Generator().manual_seed(int(seed))
    device = _model_device(model) if device is None else resolve_device(device)
    noise = draw_normal(tuple(shape), generator, device, dtype) if x_init is None else x_init.to(device, dtype)
    denoise = _Denoiser(model, formulation, _labels(y, shape[0], device), cfg_scale, null_label, cfg_interval,
                        clip_x0)

    def edm_denoiser(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        t = float(time_at_log_snr(formulation.path, -2 * sigma[:1].double().log()))
        a = _scalar(formulation.alpha, t, x)
        return denoise(a * x, t)[0]

    was_training = isinstance(model, nn.Module) and model.training
    if was_training:
        model.eval()
    try:
        return sample_edm(edm_denoiser, noise, steps, edm, churn=churn, generator=generator).to(dtype)
    finally:
        if was_training:
            model.train()


for _fn in (sample_ddim, sample_euler, sample_heun, sample_euler_maruyama, sample_dpmpp_2m):
    _fn.__doc__ += _COMMON_DOC

SAMPLERS = {"ddim": sample_ddim, "euler": sample_euler, "heun": sample_heun, "euler_maruyama": sample_euler_maruyama,
            "sde": sample_euler_maruyama, "dpmpp_2m": sample_dpmpp_2m, "edm": sample_edm_heun}


def sample(model, formulation: Formulation, shape, sampler: str = "ddim", steps: int = 50, **kwargs):
    """Dispatch by name: ``sampler`` in {"ddim", "euler", "heun", "euler_maruyama" (alias "sde"), "dpmpp_2m", "edm"}; kwargs as for
    the named sampler (eta for DDIM, diffusion for Euler-Maruyama, and the common ones)."""
    if sampler not in SAMPLERS:
        raise KeyError(f"unknown sampler {sampler!r}; choose one of: {', '.join(SAMPLERS)}.")
    return SAMPLERS[sampler](model, formulation, shape, steps=steps, **kwargs)
