"""EDM (Karras et al. 2022): the sigma-parametrised formulation, its preconditioning, loss and Heun sampler.

EDM writes the noisy sample as x = y + sigma n (no shrinking of y) and trains a *denoiser* D(x; sigma) ~ E[y | x].
The network F never sees raw x or sigma; the preconditioning gives it unit-variance inputs and targets:

    D(x; sigma) = c_skip(sigma) x + c_out(sigma) F(c_in(sigma) x, c_noise(sigma))
    c_skip = sigma_d^2 / (sigma^2 + sigma_d^2)     c_out = sigma sigma_d / sqrt(sigma^2 + sigma_d^2)
    c_in   = 1 / sqrt(sigma^2 + sigma_d^2)         c_noise = ln(sigma) / 4

Training draws ln(sigma) ~ N(P_mean, P_std^2) and weights the squared error by lambda(sigma) = 1 / c_out^2 =
(sigma^2 + sigma_d^2) / (sigma sigma_d)^2, which makes F's effective regression target unit-variance at every sigma
when the data has std sigma_d. Sampling integrates the probability-flow ODE dx/dsigma = (x - D(x; sigma)) / sigma on
the Karras grid sigma_i = (sigma_max^(1/rho) + i/(N-1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho, then 0, with
Heun's second-order step (no corrector on the last step) and optional stochastic churn.

Read from ``NVlabs/edm@008a4e5``: ``training/networks.py::EDMPrecond`` (the c's), ``training/loss.py::EDMLoss``,
``generate.py::edm_sampler``. One difference of convention: EDM sums the weighted error over pixels (its loss
scale), :meth:`EDM.loss` averages it, like every other loss in :mod:`smlib.diffusion`.

The noise input. EDM's networks embed c_noise as it is: ``PositionalEmbedding`` (``training/networks.py``) gives
[cos(c w_k), sin(c w_k)], w_k = (1 / max_positions)^(k / (C/2 - endpoint)), max_positions 10000, so every frequency
is <= 1 and, over c_noise in [-1.55, 1.10] (sigma 0.002 ... 80), the features change smoothly (128 channels: the
embeddings of sigma = 0.002 and 152 have cosine similarity 0.83). smlib's backbones embed ``t_scale * t``
(t_scale 1000, DDPM's integer steps) with the same sinusoids (max_period 10000, endpoint False, like EDM's ``DhariwalUNet``). So the
preconditioning hands the backbone t = c_noise / t_scale and the backbone's embedding sees exactly c_noise, EDM's
semantics. Feeding t = c_noise instead (what smlib did before) embeds 250 ln(sigma): features whose cosine
similarity falls to 0.5 within 0.18 in ln(sigma) (128 channels; DDPM's 1000 t does so within about 0.26) and that
make sigma = 80, where EDM's sampler starts but its training almost never goes (ln sigma ~ N(-1.2, 1.2^2): z = 4.65),
unlike any trained level (cosine similarity 0.25 with sigma = 10). Measured (our runs, not a published result): no
gFID change on chapter 8's CIFAR-10 model at 500-1000 steps, a higher share of samples on the modes of a tiny
U-ViT toy; kept for fidelity to EDM. ``t_scale=1`` in :class:`EDMPrecond` restores the old input.

The same data path as VP diffusion: x_VP = alpha x_EDM with sigma_EDM = sigma_VP / alpha, so a VP model is an EDM
denoiser through :func:`vp_denoiser` and the EDM sampler runs on it, and an EDM model is a VP x0-predictor through
:class:`EDMPrecond` with :func:`edm_formulation`, whose x0-MSE weighted by :func:`edm_weight` is EDM's loss to
float rounding; the generation evaluators and samplers of smlib then need nothing EDM-specific (both tested).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from smlib.diffusion.losses import Formulation, _bc, mean_part
from smlib.diffusion.schedules import draw_normal, time_at_log_snr


@dataclass(frozen=True)
class EDM:
    """EDM's constants: ``sigma_data`` 0.5, training ln(sigma) ~ N(``p_mean`` -1.2, ``p_std`` 1.2), sampling grid
    from ``sigma_max`` 80 down to ``sigma_min`` 0.002 with ``rho`` 7. All sigma arguments are (B,) tensors."""

    sigma_data: float = 0.5
    p_mean: float = -1.2
    p_std: float = 1.2
    sigma_min: float = 0.002
    sigma_max: float = 80.0
    rho: float = 7.0

    # ---- preconditioning
    def c_skip(self, sigma: torch.Tensor) -> torch.Tensor:
        return self.sigma_data ** 2 / (sigma ** 2 + self.sigma_data ** 2)

    def c_out(self, sigma: torch.Tensor) -> torch.Tensor:
        return sigma * self.sigma_data / (sigma ** 2 + self.sigma_data ** 2).sqrt()

    def c_in(self, sigma: torch.Tensor) -> torch.Tensor:
        return 1 / (sigma ** 2 + self.sigma_data ** 2).sqrt()

    def c_noise(self, sigma: torch.Tensor) -> torch.Tensor:
        return sigma.log() / 4

    def loss_weight(self, sigma: torch.Tensor) -> torch.Tensor:
        """lambda(sigma) = (sigma^2 + sigma_d^2) / (sigma sigma_d)^2 = 1 / c_out^2."""
        return (sigma ** 2 + self.sigma_data ** 2) / (sigma * self.sigma_data) ** 2

    def denoise(self, model, x: torch.Tensor, sigma: torch.Tensor, cond: torch.Tensor | None = None, *,
                t_scale: float = 1.0, **model_kwargs):
        """D(x; sigma) (B, ...) from the network ``model(c_in x, c_noise / t_scale, cond)``; with ``return_hidden``
        the pair (D, hidden). ``t_scale``: what the network multiplies its time input by before embedding it (see
        :func:`backbone_t_scale`), so that the embedding sees c_noise as EDM's does. Computed in float32 like
        EDMPrecond."""
        if not t_scale > 0:
            raise ValueError(f"t_scale must be > 0 (the backbone's time-input factor, 1000 for smlib's), got {t_scale}.")
        sigma = sigma.reshape(-1).to(device=x.device, dtype=torch.float32)
        x = x.float()
        out = model(_bc(self.c_in(sigma), x) * x, self.c_noise(sigma) / t_scale, cond, **model_kwargs)
        hidden = None
        if isinstance(out, (tuple, list)):
            out, hidden = out[0], out[1]
        d = _bc(self.c_skip(sigma), x) * x + _bc(self.c_out(sigma), x) * mean_part(out, x).float()
        return (d, hidden) if hidden is not None else d

    # ---- training
    def sample_sigma(self, batch: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
        """Training noise levels, ln sigma ~ N(p_mean, p_std^2): (batch,)."""
        return (draw_normal((batch,), generator, device) * self.p_std + self.p_mean).exp()

    def loss(self, model, x0: torch.Tensor, cond: torch.Tensor | None = None, *,
             generator: torch.Generator | None = None, sigma: torch.Tensor | None = None,
             noise: torch.Tensor | None = None, weighted: bool = True, t_scale: float = 1.0,
             model_kwargs: dict | None = None) -> tuple[torch.Tensor, dict]:
        """Per-sample lambda(sigma) * mean((D(x0 + sigma n; sigma) - x0)^2), (B,); ``weighted=False`` drops lambda.
        ``t_scale`` as in :meth:`denoise`.

        Returns (loss (B,), logs): ``sigma`` (B,), ``x0_hat`` = D (B, ...) *with* its graph (for losses on x0_hat,
        chapter 8), ``hidden`` when the model returns it."""
        b = x0.shape[0]
        sigma = self.sample_sigma(b, generator, x0.device) if sigma is None else sigma.to(x0.device).reshape(b)
        noise = draw_normal(x0.shape, generator, x0.device, x0.dtype) if noise is None else noise
        out = self.denoise(model, x0 + _bc(sigma, x0) * noise, sigma, cond, t_scale=t_scale, **(model_kwargs or {}))
        d, hidden = out if isinstance(out, tuple) else (out, None)
        err = ((d - x0.float()) ** 2).reshape(b, -1).mean(dim=1)
        loss = self.loss_weight(sigma) * err if weighted else err
        logs = {"sigma": sigma.detach(), "x0_hat": d}
        if hidden is not None:
            logs["hidden"] = hidden
        return loss, logs

    # ---- sampling
    def sigmas(self, steps: int, device=None) -> torch.Tensor:
        """The Karras grid of ``steps`` noise levels from sigma_max to sigma_min, then 0: (steps + 1,) float64."""
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}.")
        i = torch.arange(steps, dtype=torch.float64, device=device)
        lo, hi = self.sigma_min ** (1 / self.rho), self.sigma_max ** (1 / self.rho)
        frac = i / max(steps - 1, 1)
        return torch.cat([(hi + frac * (lo - hi)) ** self.rho, torch.zeros(1, dtype=torch.float64, device=device)])


@torch.no_grad()
def sample_edm(denoiser, noise: torch.Tensor, steps: int = 18, edm: EDM | None = None, *, churn: float = 0.0,
               s_min: float = 0.0, s_max: float = math.inf, s_noise: float = 1.0,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """EDM's Heun sampler (Algorithm 2): x_0 = sigma_max * noise, then for each grid step an Euler step in sigma
    and Heun's correction (skipped on the last step, which ends at sigma = 0).

    denoiser: ``(x (B, ...), sigma (B,)) -> D (B, ...)``, e.g. ``lambda x, s: edm.denoise(model, x, s)``.
    noise: (B, ...) standard normal. ``churn > 0`` adds noise to raise sigma by gamma = min(churn / steps, sqrt 2 - 1)
    for s_min <= sigma <= s_max (the stochastic sampler; churn 0 is deterministic). Runs in float64 like EDM's."""
    edm = edm or EDM()
    grid = edm.sigmas(steps, noise.device)
    x = noise.to(torch.float64) * grid[0]
    b = x.shape[0]
    sig = lambda s: torch.full((b,), float(s), dtype=torch.float64, device=x.device)  # noqa: E731
    for i in range(steps):
        s_cur, s_next = grid[i], grid[i + 1]
        gamma = min(churn / steps, math.sqrt(2) - 1) if churn > 0 and s_min <= s_cur <= s_max else 0.0
        s_hat = s_cur * (1 + gamma)
        if gamma > 0:
            x = x + (s_hat ** 2 - s_cur ** 2).sqrt() * s_noise * draw_normal(x.shape, generator, x.device, x.dtype)
        d_cur = (x - denoiser(x.float(), sig(s_hat)).double()) / s_hat
        x_next = x + (s_next - s_hat) * d_cur
        if i < steps - 1:
            d_next = (x_next - denoiser(x_next.float(), sig(s_next)).double()) / s_next
            x_next = x + (s_next - s_hat) * (0.5 * d_cur + 0.5 * d_next)
        x = x_next
    return x.float()


def vp_denoiser(formulation: Formulation, model: nn.Module, cond: torch.Tensor | None = None):
    """A VP formulation's model as an EDM denoiser: D(x; sigma) = x0_hat(alpha x, t) where the path's sigma/alpha at t
    equals sigma (x_VP = alpha x_EDM). ``(x, sigma) -> D``; sigma must lie in the path's range."""
    def denoise(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        log_snr = -2 * sigma.double().log()           # SNR_VP = alpha^2 / sigma_VP^2 = 1 / sigma_EDM^2
        t = time_at_log_snr(formulation.path, log_snr).to(device=x.device, dtype=torch.float32)
        a = _bc(formulation.alpha(t), x)
        x_t = a * x
        out = model(x_t, t, cond)
        return formulation.to_x0_eps(mean_part(out, x_t), x_t, t)[0]
    return denoise


def backbone_t_scale(backbone) -> float:
    """The factor a backbone applies to its time input before the sinusoidal embedding: ``backbone.t_scale``
    (U-ViT) or ``backbone.t_embedder.t_scale`` (DiT), 1000 for smlib's; 1 for anything else (a plain callable)."""
    for owner in (backbone, getattr(backbone, "t_embedder", None)):
        scale = getattr(owner, "t_scale", None)
        if scale is not None:
            return float(scale)
    return 1.0


class EDMPrecond(nn.Module):
    """A backbone preconditioned as EDM's denoiser but called like every smlib model, on a VP path's (x_t, t):
    x = x_t / alpha(t) is EDM's sample at sigma = sigma(t) / alpha(t), and the output is D(x; sigma), the x0
    estimate. With :func:`edm_formulation` (x0-prediction) it trains with EDM's loss and samples with every sampler
    of :mod:`smlib.diffusion.samplers` (or :func:`sample_edm` through :func:`vp_denoiser`).

    The backbone is called with t = c_noise / ``t_scale`` (default :func:`backbone_t_scale`), so that its
    sinusoidal embedding of t_scale * t sees EDM's c_noise = ln(sigma) / 4 unscaled, as
    ``NVlabs/edm@008a4e5:training/networks.py::PositionalEmbedding`` does; ``t_scale=1`` hands it c_noise itself
    (smlib's input before this was fixed: the embedding then sees 1000 c_noise)."""

    def __init__(self, backbone: nn.Module, path, edm: EDM | None = None, t_scale: float | None = None):
        super().__init__()
        self.backbone, self.path, self.edm = backbone, path, edm or EDM()
        self.t_scale = backbone_t_scale(backbone) if t_scale is None else float(t_scale)
        if not self.t_scale > 0:
            raise ValueError(f"t_scale must be > 0 (the backbone's time-input factor), got {t_scale}.")

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None, **kwargs):
        t = torch.as_tensor(t, device=x_t.device, dtype=torch.float32).expand(x_t.shape[0])
        a = self.path.alpha(t)
        return self.edm.denoise(self.backbone, x_t / _bc(a, x_t), self.path.sigma(t) / a, y, t_scale=self.t_scale,
                                **kwargs)


class EDMTimes:
    """A VP path whose training times are EDM's: ln(sigma / alpha) ~ N(p_mean, p_std^2), mapped to t by bisection on
    the path's log SNR (clipped to its range). Everything else is the wrapped path's."""

    def __init__(self, path, edm: EDM | None = None):
        self.path, self.edm = path, edm or EDM()

    def __getattr__(self, name):
        # only called for names not found on self; "path" itself is absent while copy/pickle rebuild the object
        if name.startswith("__") or name in ("path", "edm"):
            raise AttributeError(name)
        return getattr(self.path, name)

    def sample_t(self, batch: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
        sigma = self.edm.sample_sigma(batch, generator, "cpu" if generator is None else generator.device)
        return time_at_log_snr(self.path, -2 * sigma.double().log()).to(device=device, dtype=torch.float32)


def edm_formulation(path: str = "vp-continuous", edm: EDM | None = None, **path_kwargs) -> Formulation:
    """EDM as a formulation of smlib: a VP path with EDM's training times and x0-prediction (the model being an
    :class:`EDMPrecond`); weight its MSE per sample by :func:`edm_weight` to get EDM's loss."""
    from smlib.diffusion.schedules import make_path
    return Formulation(EDMTimes(make_path(path, **path_kwargs), edm), "x0")


def edm_weight(formulation: Formulation, t: torch.Tensor, edm: EDM | None = None) -> torch.Tensor:
    """lambda_EDM at each time's EDM noise level sigma(t) / alpha(t), (B,)."""
    return (edm or EDM()).loss_weight(formulation.sigma(t) / formulation.alpha(t))


__all__ = ["EDM", "sample_edm", "vp_denoiser", "backbone_t_scale", "EDMPrecond", "EDMTimes", "edm_formulation",
           "edm_weight"]
