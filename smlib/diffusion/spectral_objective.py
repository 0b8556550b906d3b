"""A diffusion objective with an optional spectral term on the model's clean estimate x0_hat: the arm that names
it, the formulation and network it trains, and its per-sample loss.

    L = L_base + lam * w(sigma) * L_S(x0, x0_hat)        w = lambda_EDM(sigma) ("weighted") or 1 ("unweighted")

The seed paper's form (Chandran et al., 2026, Eq. 17, lambda = lambda_EDM(sigma) or 1) under our reduction, where
the base loss and L_S are per-element means (:mod:`smlib.diffusion.spectral_loss`). Two formulations:

* ``ddpm``: the linear-beta VP schedule (1000 steps), eps-prediction, eps-MSE; x0_hat is the paper's Eq. 5,
  (x_t - sigma eps_hat) / alpha, with the network's gradient.
* ``edm``: EDM's preconditioned denoiser D (:class:`smlib.diffusion.edm.EDMPrecond`) on the continuous VP path,
  trained with lambda_EDM(sigma) * MSE(D, x0) per element (EDM sums); x0_hat is D itself.

The same objective serves images (chapter 8, ``signal_dims=2``) and waveforms (:mod:`smlib.audio`,
``signal_dims=1``). At lam = 0, or without a term, x0_hat is never asked for: the graph, and so training, is the
plain one.

    arm = SpectralArm("EDM + amp-phase", "edm", "fourier-amplitude-phase", 1.0, weighted=True)
    objective = SpectralObjective(model_for(arm, backbone, formulation_for(arm)), formulation_for(arm), arm)
    base, term = objective.terms(x0)          # (B,), (B,) or None
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from smlib.diffusion import Formulation, make_formulation
from smlib.diffusion.edm import EDMPrecond, edm_formulation, edm_weight
from smlib.diffusion.spectral_loss import SpectralLossSpec, spectral_loss

FORMULATIONS = ("ddpm", "edm")
#: what an EDM arm's backbone embeds: 1000 c_noise (its sincos(1000 t) fed c_noise; chapter 8's committed runs) or
#: c_noise itself, as EDM's PositionalEmbedding does (NVlabs/edm@008a4e5:training/networks.py)
EDM_TIME_INPUTS = ("1000*c_noise", "c_noise")


@dataclass(frozen=True)
class SpectralArm:
    """One arm: ``formulation`` "ddpm" or "edm"; ``term`` a spectral loss name or None; ``lam`` its scale;
    ``weighted``: multiply it by lambda_EDM(sigma) (the paper's "weighted" form) or by 1; ``options``: the rest of
    the :class:`SpectralLossSpec` (wavelet, levels, phase, ...)."""

    label: str
    formulation: str = "ddpm"
    term: str | None = None
    lam: float = 0.0
    weighted: bool = False
    options: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.formulation not in FORMULATIONS:
            raise ValueError(f"formulation must be one of {', '.join(FORMULATIONS)}, got {self.formulation!r}.")
        if self.term is not None:
            SpectralLossSpec(self.term, **self.options)   # an unknown loss or option fails here, in one line

    @property
    def regularised(self) -> bool:
        """Whether the spectral term is computed at all (lam = 0 skips it: training is then the plain one)."""
        return self.term is not None and self.lam != 0

    def spec(self, signal_dims: int = 2) -> SpectralLossSpec | None:
        return SpectralLossSpec(self.term, signal_dims=signal_dims, **self.options) if self.term else None


def formulation_for(arm: SpectralArm) -> Formulation:
    """DDPM's linear-beta VP with eps-prediction, or EDM as an x0-predicting formulation on the continuous VP path."""
    return make_formulation("ddpm-linear") if arm.formulation == "ddpm" else edm_formulation("vp-continuous")


def model_for(arm: SpectralArm, backbone: nn.Module, formulation: Formulation,
              time_input: str = "c_noise") -> nn.Module:
    """The network the loss and the sampler call: the backbone (DDPM) or EDM's preconditioning around it, whose
    backbone embeds c_noise (``time_input="c_noise"``, EDM's own) or 1000 c_noise (chapter 8's committed runs)."""
    if time_input not in EDM_TIME_INPUTS:
        raise ValueError(f"time_input must be one of {', '.join(EDM_TIME_INPUTS)}, got {time_input!r}.")
    if arm.formulation != "edm":
        return backbone
    return EDMPrecond(backbone, formulation.path, t_scale=1.0 if time_input == "1000*c_noise" else None)


class SpectralObjective:
    """The per-sample loss of one arm: :meth:`terms` gives the base loss and the spectral term, :meth:`loss` their
    batch mean with both parts logged (the ``loss`` half of a :class:`smlib.train.Task`)."""

    def __init__(self, model: nn.Module, formulation: Formulation, arm: SpectralArm, signal_dims: int = 2):
        self.model, self.formulation, self.arm = model, formulation, arm
        self.spec = arm.spec(signal_dims)

    def terms(self, x0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(base loss (B,), spectral term lam w L_S (B,) or None) of a batch of clean signals x0 (B, C, ...)."""
        base, logs = self.formulation.loss(self.model, x0, None, return_x0_hat=self.arm.regularised)
        if self.arm.formulation == "edm":
            base = edm_weight(self.formulation, logs["t"]) * base
        if not self.arm.regularised:
            return base, None
        w = edm_weight(self.formulation, logs["t"]) if self.arm.weighted else 1.0
        return base, self.arm.lam * w * spectral_loss(self.spec, x0, logs["x0_hat"])

    def mean_loss(self, x0: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """The batch mean of base + term, and the means of both parts (detached) for the log."""
        base, term = self.terms(x0)
        logs = {"loss/base": base.mean().detach()}
        if term is None:
            return base.mean(), logs
        logs["loss/spectral"] = term.mean().detach()
        return (base + term).mean(), logs


__all__ = ["FORMULATIONS", "EDM_TIME_INPUTS", "SpectralArm", "formulation_for", "model_for", "SpectralObjective"]
