"""AELoss: one training objective for every AE in the book, composed from named regularizers.

One step, for a batch x (B, C, H, W) in [-1, 1]:

    1. plans    every PairTransform draws its random choices (training mode only; eval draws nothing)
    2. input    x_in = prepare_input(x)                       (EQ-VAE's low-resolution prior preservation; else x)
    3. encode   posterior = E(x_in); z = posterior.sample()   (reparameterised, as the authors do also for ESM/DSM)
    4. pairs    main pair (x_t, z_t) = (x_in, z), passed through every *replacing* transform in order
                (DSM: (x_M, z_M); EQ-VAE: (rot(scale(x)), rot(scale(z)))); *extra* transforms (Scale Equivariance)
                each add a pair built from the untransformed (x_in, z)
    5. rec      L_rec = mean|x_t - D(z_t)| + lpips_weight * LPIPS   (+ weight * the same for every extra pair)
    6. penalty  + KL, ESM, VF on the unmasked (x_in, posterior, z); VF gets L_rec for its adaptive weight
    7. GAN      + disc_weight * lambda * (-mean D(D(z_t)))  when a discriminator is passed (the trainer decides when;
                the authors start at step 50,001 and alternate G/D steps); lambda from the decoder's last layer

So DSM changes *what is reconstructed* (and what the discriminator sees as real: ``out.x_target``), while ESM only
adds a term. ``AELoss`` with no regularizers is the plain-AE floor; with ``kl`` it is the SD-VAE recipe.
The discriminator step is ``ae_loss.gan.discriminator_term(disc, out.x_target, out.x_hat)`` when
``out.gan_applicable`` (EQ-VAE / SE pairs can be smaller than the 32 px a PatchGAN needs; they get no GAN term).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from smlib.regularizers.base import PairTransform, Penalty, as_float, plan_logs
from smlib.regularizers.perceptual import LPIPS, GANLoss


MIN_GAN_SIZE = 32  # a 3-layer PatchGAN needs at least 32 px a side


@dataclass
class AEStepOutput:
    """What one :class:`AELoss` call returns. Tensors keep their graphs; ``logs`` are floats."""

    loss: torch.Tensor                     # scalar, everything summed and weighted
    logs: dict[str, float]
    x_target: torch.Tensor                 # (B, C, H', W') what the decoder had to produce (x, x_M, rot(scale(x)))
    x_hat: torch.Tensor                    # (B, C, H', W') the decoder's output for the main pair
    posterior: object                      # DiagonalGaussian of the encoder input
    z: torch.Tensor                        # (B, d, h, w) unmasked latent sample
    x_input: torch.Tensor                  # (B, C, H, W) what the encoder saw
    plans: dict[str, dict] = field(default_factory=dict)

    @property
    def gan_applicable(self) -> bool:
        """Whether the main pair is large enough for a PatchGAN (>= 32 px a side); skip the D step otherwise."""
        return min(self.x_target.shape[-2:]) >= MIN_GAN_SIZE


class ReconstructionLoss(nn.Module):
    """``l1_weight * mean|x - x_hat| + lpips_weight * mean LPIPS(x_hat, x)``. x, x_hat: (B, C, H, W) -> scalar, logs."""

    def __init__(self, l1_weight: float = 1.0, lpips: LPIPS | None = None, lpips_weight: float = 0.0):
        super().__init__()
        if lpips_weight > 0 and lpips is None:
            raise ValueError("lpips_weight > 0 needs an LPIPS module (smlib.regularizers.perceptual.LPIPS); "
                             "offline, use lpips_weight=0.")
        self.l1_weight, self.lpips_weight = float(l1_weight), float(lpips_weight)
        self.lpips = lpips

    def forward(self, x_hat: torch.Tensor, x: torch.Tensor, prefix: str = "rec"):
        l1 = F.l1_loss(x_hat, x)
        loss = self.l1_weight * l1
        logs = {f"{prefix}_l1": as_float(l1)}
        if self.lpips is not None and self.lpips_weight > 0:
            p = self.lpips(x_hat, x).mean()
            loss = loss + self.lpips_weight * p
            logs[f"{prefix}_lpips"] = as_float(p)
        logs[prefix] = as_float(loss)
        return loss, logs

    def describe(self) -> dict:
        d = {"l1_weight": self.l1_weight, "lpips_weight": self.lpips_weight}
        if self.lpips is not None:
            d["lpips"] = self.lpips.label
        return d


class AELoss(nn.Module):
    """The composed AE objective. ``out = ae_loss(x, model, discriminator=None)`` -> :class:`AEStepOutput`.

    regularizers: list from :func:`smlib.regularizers.build_regularizers` (penalties and pair transforms, any order;
    replacing transforms are chained in the given order). ``trainable_parameters()`` are the regularizers' own
    weights (VF's projection) - add them to the AE optimiser. Frozen networks (LPIPS, VF's encoder) are not
    parameters. ``sample_posterior=False`` uses the posterior mean instead of a sample.
    """

    def __init__(self, regularizers=(), *, l1_weight: float = 1.0, lpips: LPIPS | None = None,
                 lpips_weight: float = 0.0, gan: GANLoss | None = None, sample_posterior: bool = True):
        super().__init__()
        regs = list(regularizers)
        for r in regs:
            if not isinstance(r, (Penalty, PairTransform)):
                raise TypeError(f"AELoss takes Penalty/PairTransform regularizers, got {type(r).__name__}.")
        names = [r.name for r in regs]
        if len(set(names)) != len(names):
            raise ValueError(f"each regularizer may appear once, got {names}.")
        self.regularizers = nn.ModuleList(regs)
        self.reconstruction = ReconstructionLoss(l1_weight, lpips, lpips_weight)
        self.gan = gan if gan is not None else GANLoss()
        self.sample_posterior = bool(sample_posterior)

    # -- bookkeeping ----------------------------------------------------------------------------------------------
    @property
    def transforms(self) -> list[PairTransform]:
        return [r for r in self.regularizers if isinstance(r, PairTransform)]

    @property
    def penalties(self) -> list[Penalty]:
        return [r for r in self.regularizers if isinstance(r, Penalty)]

    def trainable_parameters(self):
        """Parameters the AE optimiser must also update (VF's 1x1 projection); frozen nets are excluded."""
        return [p for p in self.parameters() if p.requires_grad]

    def describe(self) -> dict:
        """JSON-able settings: every regularizer's description, the reconstruction and GAN settings."""
        d = {"regularizers": [r.describe() for r in self.regularizers], "reconstruction": self.reconstruction.describe(),
             "gan": self.gan.describe(), "sample_posterior": self.sample_posterior}
        for r in self.regularizers:
            if "vf_encoder" in r.describe():
                d["vf_encoder"] = r.describe()["vf_encoder"]
        return d

    def rng_state(self) -> dict:
        """Private generator states of the stochastic regularizers (None where the global RNG is used)."""
        return {t.name: t.get_rng_state() for t in self.transforms}

    def load_rng_state(self, state: dict) -> None:
        for t in self.transforms:
            if t.name in state:
                t.set_rng_state(state[t.name])

    def sample_plans(self) -> dict[str, dict]:
        """One plan per transform for this step; empty in eval mode (no masks, no transforms)."""
        return {t.name: t.sample_plan() for t in self.transforms} if self.training else {}

    # -- the step -------------------------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, model, *, discriminator: nn.Module | None = None,
                generator: torch.Generator | None = None, plans: dict[str, dict] | None = None) -> AEStepOutput:
        """x: (B, C, H, W) in [-1, 1]; model: AutoEncoder; discriminator: include the GAN generator term if given."""
        plans = self.sample_plans() if plans is None else plans
        f = model.factor
        logs: dict[str, float] = {}

        x_in = x
        for t in self.transforms:
            if t.name in plans:
                x_in = t.prepare_input(x_in, plans[t.name], f)
                logs.update(plan_logs(t.name, plans[t.name]))

        posterior = model.encode(x_in)
        z = posterior.sample(generator) if self.sample_posterior else posterior.mode()

        x_t, z_t = x_in, z
        extras = []
        for t in self.transforms:
            if t.name not in plans:
                continue
            if t.replaces_reconstruction:
                pair = t.apply(x_t, z_t, plans[t.name], f)
                if pair is not None:
                    x_t, z_t = pair
            else:
                pair = t.apply(x_in, z, plans[t.name], f)
                if pair is not None:
                    extras.append((t, pair))

        x_hat = model.decode(z_t)
        rec, rec_logs = self.reconstruction(x_hat, x_t)
        logs.update(rec_logs)
        total = rec
        for t, (xe, ze) in extras:
            l_e, e_logs = self.reconstruction(model.decode(ze), xe, prefix=t.name)
            logs.update(e_logs)
            total = total + t.weight * l_e

        for p in self.penalties:
            l_p, p_logs = p(x_in, model, posterior, z, rec_loss=rec)
            logs.update(p_logs)
            total = total + l_p

        if discriminator is not None:
            if min(x_hat.shape[-2:]) >= MIN_GAN_SIZE:
                l_g, g_logs = self.gan.generator_term(rec, x_hat, discriminator, model.decoder_last_layer)
                logs.update(g_logs)
                total = total + l_g
            else:
                logs["gan_skipped"] = 1.0  # a PatchGAN needs >= 32 px; tiny transformed pairs get no GAN term

        logs["loss"] = as_float(total)
        return AEStepOutput(loss=total, logs=logs, x_target=x_t, x_hat=x_hat, posterior=posterior, z=z,
                            x_input=x_in, plans=plans)


@contextmanager
def compiled_step_context():
    """Wrap a whole compiled AE step (forward *and* backward) in this.

    The objective differentiates its own graph before the step's backward: SD's adaptive GAN weight and VA-VAE's
    adaptive VF weight call ``torch.autograd.grad(..., retain_graph=True)``. AOTAutograd's *donated buffers* (a
    memory optimisation of ``torch.compile``: a compiled backward frees the activations it saved, so it may run once)
    forbid that whenever the backward was compiled ahead of time (as inductor does once shapes turn dynamic), with
    "This backward function was compiled with non-empty donated buffers ...". They are off inside this context;
    torch reads the setting both when it compiles and when the backward runs, hence the whole step.
    """
    import torch._functorch.config as functorch_config

    with functorch_config.patch(donated_buffer=False):
        yield


__all__ = ["AELoss", "AEStepOutput", "ReconstructionLoss", "compiled_step_context"]
