"""Formulations: a noise path plus what the network predicts, and the MSE training loss.

A :class:`Formulation` is the one object a trainer and a sampler need. With x_t = alpha x_0 + sigma eps
(alpha, sigma from the path, see :mod:`smlib.diffusion.schedules`) the network output ``out`` is one of

* ``"eps"``: the noise eps (DDPM, U-ViT, DCTdiff);
* ``"x0"``:  the clean data x_0;
* ``"v"``:   the velocity dx_t/dt = alpha' x_0 + sigma' eps. For the linear interpolant that is eps - x_0 (SiT,
  REPA). (Not Salimans & Ho's "v = alpha eps - sigma x_0", which is a different quantity.)

Every parametrisation is linear in (x_0, eps) given x_t, so :meth:`Formulation.to_x0_eps` recovers both estimates
from any output and samplers work on (x0_hat, eps_hat) whatever the network predicts.

Model protocol (DiT, U-ViT, and any callable used in tests): ``model(x_t, t, y, **kwargs)`` with x_t (B, ...),
t (B,) float in [0, 1] (the same t as the path; the model scales it by 1000 itself), y (B,) long or None.
It returns (B, ...) like x_t, or (B, 2C, ...) with a learned-variance half (DiT ``learn_sigma``; only the first C
channels are used), or a tuple (out, hidden) when called with ``return_hidden=True``.
"""
from __future__ import annotations

import torch

from smlib.diffusion.schedules import (ContinuousVP, CosineVP, LinearBetaVP, LinearInterpolant, NoisePath,
                                       draw_normal)

PREDICTIONS = ("eps", "x0", "v")


def _bc(c: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(B,) -> (B, 1, ..., 1) in x's dtype, to broadcast against x (B, ...)."""
    return c.to(x.dtype).reshape(-1, *([1] * (x.ndim - 1)))


def mean_part(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The prediction half of a model output: ``out`` itself, or its first C channels when the model also
    learns a variance (out (B, 2C, ...) for x (B, C, ...)). Raises on any other shape mismatch."""
    if out.shape == x.shape:
        return out
    if out.ndim >= 2 and out.shape[0] == x.shape[0] and out.shape[1] == 2 * x.shape[1] \
            and out.shape[2:] == x.shape[2:]:
        return out[:, : x.shape[1]]
    raise ValueError(f"model output shape {tuple(out.shape)} does not match x_t {tuple(x.shape)} "
                     "(expected the same shape, or twice the channels for learn_sigma).")


class Formulation:
    """A noise ``path`` (alpha(t), sigma(t), training t) and a ``prediction`` in {"eps", "x0", "v"}.

    All t arguments are (B,) float in [0, 1]; x0, eps, x_t, out are (B, ...) of one shape.
    """

    def __init__(self, path: NoisePath, prediction: str):
        if prediction not in PREDICTIONS:
            raise ValueError(f"prediction must be one of {PREDICTIONS}, got {prediction!r}.")
        self.path, self.prediction = path, prediction

    def __repr__(self):
        return f"Formulation({type(self.path).__name__}, prediction={self.prediction!r})"

    # ---- the path, forwarded so that callers hold one object
    @property
    def t_max(self) -> float:
        """Where samplers start."""
        return self.path.t_max

    def sample_t(self, batch: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
        """Training times t, (batch,)."""
        return self.path.sample_t(batch, generator, device)

    def alpha(self, t: torch.Tensor) -> torch.Tensor:
        """alpha(t), (B,)."""
        return self.path.alpha(t)

    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        """sigma(t), (B,)."""
        return self.path.sigma(t)

    def snr(self, t: torch.Tensor) -> torch.Tensor:
        """alpha^2 / sigma^2, (B,)."""
        return self.path.snr(t)

    # ---- forward process and targets
    def add_noise(self, x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """x_t = alpha(t) x0 + sigma(t) eps, (B, ...)."""
        return _bc(self.path.alpha(t), x0) * x0 + _bc(self.path.sigma(t), x0) * eps

    def velocity_from(self, x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """dx_t/dt = alpha'(t) x0 + sigma'(t) eps, (B, ...). With (x0_hat, eps_hat) this is the probability-flow
        ODE velocity E[dx_t/dt | x_t]."""
        return _bc(self.path.d_alpha(t), x0) * x0 + _bc(self.path.d_sigma(t), x0) * eps

    def from_x0_eps(self, x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The model-output parametrisation of (x0, eps), (B, ...)."""
        if self.prediction == "eps":
            return eps
        if self.prediction == "x0":
            return x0
        return self.velocity_from(x0, eps, t)

    def target(self, x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Regression target of the network for (x0, eps) at t, (B, ...)."""
        return self.from_x0_eps(x0, eps, t)

    def to_x0_eps(self, out: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(x0_hat, eps_hat) from a model output at (x_t, t), both (B, ...). Inverse of :meth:`from_x0_eps`
        given x_t = alpha x0 + sigma eps."""
        a, s = _bc(self.path.alpha(t), x_t), _bc(self.path.sigma(t), x_t)
        if self.prediction == "eps":
            return (x_t - s * out) / a, out
        if self.prediction == "x0":
            return out, (x_t - a * out) / s
        # solve [a s; a' s'] [x0; eps] = [x_t; out]
        da, ds = _bc(self.path.d_alpha(t), x_t), _bc(self.path.d_sigma(t), x_t)
        det = a * ds - s * da
        return (ds * x_t - s * out) / det, (a * out - da * x_t) / det

    def velocity(self, out: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Probability-flow ODE velocity dx/dt at (x_t, t) from a model output, (B, ...)."""
        if self.prediction == "v":
            return out
        return self.velocity_from(*self.to_x0_eps(out, x_t, t), t)

    def score(self, out: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """grad log p_t(x_t) = -eps_hat / sigma(t), (B, ...)."""
        return -self.to_x0_eps(out, x_t, t)[1] / _bc(self.path.sigma(t), x_t)

    # ---- training
    def loss(self, model, x0: torch.Tensor, cond: torch.Tensor | None = None, *,
             generator: torch.Generator | None = None, t: torch.Tensor | None = None,
             eps: torch.Tensor | None = None, weight: torch.Tensor | None = None,
             model_kwargs: dict | None = None, return_x0_hat: bool = False) -> tuple[torch.Tensor, dict]:
        """Per-sample MSE between the model output and :meth:`target`.

        Args:
            model: ``model(x_t, t, cond, **model_kwargs)`` (see the module docstring).
            x0: (B, ...) clean data. cond: (B,) long class labels or None.
            generator: for t and eps when they are not given. t: (B,) fixed times. eps: (B, ...) fixed noise.
            weight: optional elementwise weight broadcastable to x0 (e.g. DCTdiff's EBFR), applied inside the mean.
            model_kwargs: extra model arguments, e.g. ``dict(return_hidden=True)`` for REPA.
            return_x0_hat: also return the model's x0 estimate *with* its graph (``logs["x0_hat"]``), for a loss
                on it (chapter 8's spectral terms); off by default, so the graph is exactly the MSE's.

        Returns:
            loss (B,): mean over all non-batch dims of weight * (out - target)^2.
            logs: ``t`` (B,), ``x_t`` (B, ...) detached; ``hidden`` = the model's second output when it returns a
            tuple (kept in the graph, so an alignment loss can backpropagate through it).
        """
        b = x0.shape[0]
        if t is None:
            t = self.path.sample_t(b, generator, x0.device)
        t = t.to(device=x0.device, dtype=x0.dtype)
        if eps is None:
            eps = draw_normal(x0.shape, generator, x0.device, x0.dtype)
        x_t = self.add_noise(x0, t, eps)
        result = model(x_t, t, cond, **(model_kwargs or {}))
        hidden = None
        if isinstance(result, (tuple, list)):
            result, hidden = result[0], (result[1] if len(result) == 2 else tuple(result[1:]))
        err = (mean_part(result, x0) - self.target(x0, eps, t)) ** 2
        if weight is not None:
            err = err * weight
        logs = {"t": t.detach(), "x_t": x_t.detach()}
        if hidden is not None:
            logs["hidden"] = hidden
        if return_x0_hat:
            logs["x0_hat"] = self.to_x0_eps(mean_part(result, x0), x_t, t)[0]
        return err.reshape(b, -1).mean(dim=1), logs


# ------------------------------------------------------------------------------------------------- named choices
def ddpm(schedule: str = "linear", prediction: str = "eps", snr_scale: float = 1.0, **kwargs) -> Formulation:
    """VP diffusion (DDPM / U-ViT / DCTdiff): ``schedule`` in {"linear", "cosine", "continuous"}, eps-prediction
    by default, optional DCTdiff ``snr_scale``. kwargs go to the schedule (num_steps, beta_min, ...)."""
    paths = {"linear": LinearBetaVP, "cosine": CosineVP, "continuous": ContinuousVP}
    if schedule not in paths:
        raise ValueError(f"schedule must be one of {', '.join(paths)}, got {schedule!r}.")
    return Formulation(paths[schedule](snr_scale=snr_scale, **kwargs), prediction)


def interpolant(t_sampling: str = "uniform", prediction: str = "v", **kwargs) -> Formulation:
    """SiT / rectified flow: x_t = (1-t) x0 + t eps, velocity target eps - x0. kwargs: logit_mean, logit_std."""
    return Formulation(LinearInterpolant(t_sampling, **kwargs), prediction)


FORMULATIONS = {
    "ddpm-linear": lambda **kw: ddpm("linear", **kw),
    "ddpm-cosine": lambda **kw: ddpm("cosine", **kw),
    "vp-continuous": lambda **kw: ddpm("continuous", **kw),
    "sit": lambda **kw: interpolant(**kw),
}


def make_formulation(name: str, **kwargs) -> Formulation:
    """A formulation by name: "ddpm-linear", "ddpm-cosine", "vp-continuous" (eps) or "sit" (linear interpolant,
    v). kwargs are passed on (prediction, snr_scale, t_sampling, ...)."""
    if name not in FORMULATIONS:
        raise KeyError(f"unknown formulation {name!r}; choose one of: {', '.join(FORMULATIONS)}.")
    return FORMULATIONS[name](**kwargs)
