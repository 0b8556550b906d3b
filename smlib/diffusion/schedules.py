"""Noise paths x_t = alpha(t) x_0 + sigma(t) eps on one continuous clock t in [0, 1].

t = 0 is clean data, t = 1 is (almost) pure noise, for every path. Models are called with this t (they scale it by
1000 inside their timestep embedding), so a discrete DDPM step i of N = 1000 reaches the model as 1000 * t = i,
exactly the integer timestep of Ho et al.

Two families:

* **VP** (variance preserving, alpha^2 + sigma^2 = 1): alpha = sqrt(alpha_bar), sigma = sqrt(1 - alpha_bar).
  - :class:`LinearBetaVP`: DDPM's discrete linear beta schedule (1e-4 .. 0.02, N = 1000), alpha_bar = prod(1 - beta).
  - :class:`CosineVP`: Nichol & Dhariwal's alpha_bar(t) = f(t) / f(0), f(t) = cos^2((t + s) / (1 + s) * pi / 2),
    with betas clipped at 0.999 as they do (so alpha_bar(1) > 0 and x0 stays recoverable from eps).
  - :class:`ContinuousVP`: Song et al.'s VP-SDE, beta(t) = beta_min + t (beta_max - beta_min),
    alpha_bar(t) = exp(-t^2 (beta_max - beta_min) / 2 - t beta_min).
  Every VP path takes ``snr_scale=c`` (DCTdiff): alpha_bar' = c alpha_bar / (1 + (c - 1) alpha_bar), which gives
  SNR'(t) = c SNR(t) exactly while keeping the path variance preserving.
  A discrete schedule is defined on the grid t_i = i / N (i = 0..N, alpha_bar(0) = 1); between grid points
  log alpha_bar is interpolated linearly, so ODE samplers with any number of steps see a continuous path.

* **Linear interpolant** (SiT, rectified flow): alpha = 1 - t, sigma = t.

A path knows alpha, sigma, their time derivatives (for the probability-flow ODE) and how training draws t. What the
network predicts (eps, x0 or velocity) and the loss live in :mod:`smlib.diffusion.losses`.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch


# ------------------------------------------------------------------------------------------------- random draws
def draw_uniform(shape, generator: torch.Generator | None = None, device=None,
                 dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """U[0, 1) of ``shape``, drawn on the generator's device and moved to ``device``.

    Drawing where the generator lives means one seed gives the same numbers on CPU, CUDA and MPS.
    """
    source = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=source, dtype=dtype).to(device)


def draw_normal(shape, generator: torch.Generator | None = None, device=None,
                dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """N(0, 1) of ``shape``, drawn on the generator's device and moved to ``device`` (see :func:`draw_uniform`)."""
    source = generator.device if generator is not None else device
    return torch.randn(shape, generator=generator, device=source, dtype=dtype).to(device)


def scale_alpha_bar_snr(alpha_bar: torch.Tensor, c: float) -> torch.Tensor:
    """DCTdiff's SNR scaling: alpha_bar' = c alpha_bar / (1 + (c - 1) alpha_bar), so SNR' = c SNR. Any shape."""
    return c * alpha_bar / (1 + (c - 1) * alpha_bar)


# ------------------------------------------------------------------------------------------------- paths
class NoisePath(ABC):
    """x_t = alpha(t) x_0 + sigma(t) eps. All methods take t: (B,) float in [0, 1] and return (B,) in t's dtype."""

    #: where samplers start (x_{t_max} is treated as pure noise N(0, sigma(t_max)^2 I) ~ N(0, I))
    t_max: float = 1.0

    @abstractmethod
    def alpha(self, t: torch.Tensor) -> torch.Tensor:
        """Signal coefficient alpha(t), (B,)."""

    @abstractmethod
    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        """Noise coefficient sigma(t), (B,)."""

    @abstractmethod
    def d_alpha(self, t: torch.Tensor) -> torch.Tensor:
        """d alpha / dt, (B,)."""

    @abstractmethod
    def d_sigma(self, t: torch.Tensor) -> torch.Tensor:
        """d sigma / dt, (B,)."""

    @abstractmethod
    def sample_t(self, batch: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
        """Training times, (batch,) float32 on ``device``."""

    def snr(self, t: torch.Tensor) -> torch.Tensor:
        """SNR(t) = alpha^2 / sigma^2, (B,)."""
        return self.alpha(t) ** 2 / self.sigma(t) ** 2

    def log_snr(self, t: torch.Tensor) -> torch.Tensor:
        """log SNR(t), (B,)."""
        return 2 * (torch.log(self.alpha(t)) - torch.log(self.sigma(t)))

    def diffusion(self, t: torch.Tensor) -> torch.Tensor:
        """g(t)^2 of the forward SDE dx = (alpha'/alpha) x dt + g dW whose marginals are this path, (B,).

        g^2 = d(sigma^2)/dt - 2 (alpha'/alpha) sigma^2 = 2 sigma (alpha sigma' - alpha' sigma) / alpha.
        The Euler-Maruyama sampler uses it as the default noise level of the reverse SDE.
        """
        a, s = self.alpha(t), self.sigma(t)
        return 2 * s * (a * self.d_sigma(t) - self.d_alpha(t) * s) / a


class VPPath(NoisePath):
    """Variance-preserving path given by log alpha_bar(t); optional DCTdiff SNR scale ``snr_scale`` (c > 0)."""

    def __init__(self, snr_scale: float = 1.0):
        if not snr_scale > 0:
            raise ValueError(f"snr_scale must be > 0 (got {snr_scale}); 1.0 means no scaling.")
        self.snr_scale = float(snr_scale)

    @abstractmethod
    def _base_log_alpha_bar(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(log alpha_bar(t), d/dt log alpha_bar(t)) of the unscaled schedule, both (B,)."""

    def log_alpha_bar(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(log alpha_bar'(t), d/dt log alpha_bar'(t)) after SNR scaling, both (B,)."""
        log_ab, d_log_ab = self._base_log_alpha_bar(t)
        c = self.snr_scale
        if c == 1.0:
            return log_ab, d_log_ab
        # log of c ab / (1 + (c-1) ab), and its derivative d log_ab / (1 + (c-1) ab)
        ab = torch.exp(log_ab)
        return math.log(c) + log_ab - torch.log1p((c - 1) * ab), d_log_ab / (1 + (c - 1) * ab)

    def alpha_bar(self, t: torch.Tensor) -> torch.Tensor:
        """alpha_bar(t) = alpha(t)^2, (B,)."""
        return torch.exp(self.log_alpha_bar(t)[0])

    def beta(self, t: torch.Tensor) -> torch.Tensor:
        """beta(t) = -d log alpha_bar / dt (the VP-SDE's beta, also its g^2), (B,)."""
        return -self.log_alpha_bar(t)[1]

    def alpha(self, t):
        return torch.exp(0.5 * self.log_alpha_bar(t)[0])

    def sigma(self, t):
        return torch.sqrt(-torch.expm1(self.log_alpha_bar(t)[0]))  # expm1: accurate when alpha_bar ~ 1

    def d_alpha(self, t):
        log_ab, d_log_ab = self.log_alpha_bar(t)
        return 0.5 * torch.exp(0.5 * log_ab) * d_log_ab

    def d_sigma(self, t):
        log_ab, d_log_ab = self.log_alpha_bar(t)
        return -0.5 * torch.exp(log_ab) * d_log_ab / torch.sqrt(-torch.expm1(log_ab))

    def log_snr(self, t):
        log_ab = self.log_alpha_bar(t)[0]
        return log_ab - torch.log(-torch.expm1(log_ab))

    def diffusion(self, t):
        return self.beta(t)  # VP: g^2 = beta exactly; avoids 0/0 of the generic formula


class DiscreteVP(VPPath):
    """DDPM with ``betas`` (N,) on the grid t_i = i / N; step i (1-based) adds beta_i. log alpha_bar is linear
    between grid points. Training draws t = i / N with i ~ U{1..N}."""

    def __init__(self, betas: torch.Tensor, snr_scale: float = 1.0):
        super().__init__(snr_scale)
        betas = torch.as_tensor(betas, dtype=torch.float64).flatten()
        if betas.numel() < 1 or (betas <= 0).any() or (betas >= 1).any():
            raise ValueError("betas must be a non-empty 1-D sequence with 0 < beta < 1.")
        self.betas = betas
        self.num_steps = betas.numel()
        # log alpha_bar at t_i = i / N for i = 0..N, starting from alpha_bar(0) = 1
        self._grid = torch.cat([torch.zeros(1, dtype=torch.float64), torch.cumsum(torch.log1p(-betas), 0)])
        self._cache: dict = {}

    @property
    def alphas_cumprod(self) -> torch.Tensor:
        """alpha_bar_i = prod_{j<=i}(1 - beta_j) for i = 1..N (unscaled), (N,) float64 (Ho et al.'s table)."""
        return torch.exp(self._grid[1:])

    def _table(self, device: torch.device) -> torch.Tensor:
        if device not in self._cache:  # MPS has no float64
            dtype = torch.float32 if device.type == "mps" else torch.float64
            self._cache[device] = self._grid.to(device=device, dtype=dtype)
        return self._cache[device]

    def _base_log_alpha_bar(self, t):
        table = self._table(t.device)
        pos = t.to(table.dtype).clamp(0, 1) * self.num_steps
        i0 = pos.floor().clamp(0, self.num_steps - 1).long()
        lo, hi = table[i0], table[i0 + 1]
        log_ab = lo + (pos - i0) * (hi - lo)
        return log_ab.to(t.dtype), ((hi - lo) * self.num_steps).to(t.dtype)

    def sample_t(self, batch, generator=None, device=None):
        u = draw_uniform((batch,), generator, device)
        i = (u * self.num_steps).floor().clamp(max=self.num_steps - 1) + 1  # i ~ U{1..N}
        return i / self.num_steps


class LinearBetaVP(DiscreteVP):
    """DDPM's linear schedule: beta_i = linspace(beta_start, beta_end, N)."""

    def __init__(self, num_steps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02,
                 snr_scale: float = 1.0):
        super().__init__(torch.linspace(beta_start, beta_end, num_steps, dtype=torch.float64), snr_scale)


def cosine_alpha_bar(t: torch.Tensor, s: float = 0.008) -> torch.Tensor:
    """Nichol & Dhariwal's alpha_bar(t) = f(t) / f(0), f(t) = cos^2((t + s) / (1 + s) * pi / 2). Any shape."""
    f = lambda u: torch.cos((u + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    return f(t) / f(torch.zeros_like(t))


class CosineVP(DiscreteVP):
    """Cosine schedule: beta_i = min(1 - alpha_bar(i/N) / alpha_bar((i-1)/N), max_beta), as in improved DDPM."""

    def __init__(self, num_steps: int = 1000, s: float = 0.008, max_beta: float = 0.999, snr_scale: float = 1.0):
        grid = cosine_alpha_bar(torch.arange(num_steps + 1, dtype=torch.float64) / num_steps, s)
        super().__init__((1 - grid[1:] / grid[:-1]).clamp(max=max_beta), snr_scale)


class ContinuousVP(VPPath):
    """Song et al.'s VP-SDE with beta(t) = beta_min + t (beta_max - beta_min); training t ~ U(t_min, 1)."""

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0, t_min: float = 1e-5, snr_scale: float = 1.0):
        super().__init__(snr_scale)
        self.beta_min, self.beta_max, self.t_min = float(beta_min), float(beta_max), float(t_min)

    def _base_log_alpha_bar(self, t):
        db = self.beta_max - self.beta_min
        return -0.5 * t**2 * db - t * self.beta_min, -(self.beta_min + t * db)

    def sample_t(self, batch, generator=None, device=None):
        return self.t_min + (1 - self.t_min) * draw_uniform((batch,), generator, device)


class LinearInterpolant(NoisePath):
    """x_t = (1 - t) x_0 + t eps (SiT / rectified flow). Training t ~ U(0, 1) or logit-normal
    (t = sigmoid(m + s z), SD3), chosen by ``t_sampling`` in {"uniform", "logit_normal"}."""

    def __init__(self, t_sampling: str = "uniform", logit_mean: float = 0.0, logit_std: float = 1.0):
        if t_sampling not in ("uniform", "logit_normal"):
            raise ValueError(f"t_sampling must be 'uniform' or 'logit_normal', got {t_sampling!r}.")
        self.t_sampling, self.logit_mean, self.logit_std = t_sampling, float(logit_mean), float(logit_std)

    def alpha(self, t):
        return 1 - t

    def sigma(self, t):
        return t

    def d_alpha(self, t):
        return -torch.ones_like(t)

    def d_sigma(self, t):
        return torch.ones_like(t)

    def diffusion(self, t):
        """REPA's choice w(t) = 2 t for the reverse SDE (the exact g^2 = 2t / (1 - t) diverges at t = 1; any
        w >= 0 gives the same marginals, and 2t agrees with g^2 as t -> 0)."""
        return 2 * t

    def sample_t(self, batch, generator=None, device=None):
        if self.t_sampling == "uniform":
            return draw_uniform((batch,), generator, device)
        return torch.sigmoid(self.logit_mean + self.logit_std * draw_normal((batch,), generator, device))


PATHS = {"ddpm-linear": LinearBetaVP, "ddpm-cosine": CosineVP, "vp-continuous": ContinuousVP,
         "linear-interpolant": LinearInterpolant}


def time_at_log_snr(path: NoisePath, log_snr: torch.Tensor, t_lo: float = 0.0, t_hi: float = 1.0) -> torch.Tensor:
    """The t in [t_lo, t_hi] where ``path.log_snr(t)`` equals each target (log SNR falls monotonically in t on every
    path here), by float64 bisection; targets outside the range give its ends. log_snr: (K,) -> t (K,) float64."""
    target = torch.as_tensor(log_snr, dtype=torch.float64).flatten()
    lo, hi = torch.full_like(target, float(t_lo)), torch.full_like(target, float(t_hi))
    for _ in range(80):                        # 2^-80 of the interval: float64 exact
        mid = 0.5 * (lo + hi)
        above = path.log_snr(mid) > target     # still too clean: the answer lies later
        lo, hi = torch.where(above, mid, lo), torch.where(above, hi, mid)
    return 0.5 * (lo + hi)


def make_path(name: str, **kwargs) -> NoisePath:
    """A path by name: one of ``PATHS`` ("ddpm-linear", "ddpm-cosine", "vp-continuous", "linear-interpolant")."""
    if name not in PATHS:
        raise KeyError(f"unknown noise path {name!r}; choose one of: {', '.join(PATHS)}.")
    return PATHS[name](**kwargs)
