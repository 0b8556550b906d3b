"""The two kinds of AE regularizer and the small pieces they share.

Every regularizer is an ``nn.Module`` called the same way,

    loss, logs = reg(x, model, posterior, z, rec_loss=None)

with x: (B, C, H, W) the encoder's input in [-1, 1], ``model`` the :class:`~smlib.models.autoencoder.AutoEncoder`,
``posterior`` its :class:`~smlib.models.autoencoder.DiagonalGaussian` and z: (B, d, h, w) the latent sample. ``loss``
is a scalar tensor that already includes the regularizer's weight; ``logs`` maps names to floats (unweighted values).
There are two kinds:

* :class:`Penalty` - an additive term computed from the *unmasked* latent: KL, ESM, VF.
* :class:`PairTransform` - changes *what is reconstructed*: it maps the pair (image, latent) to a transformed pair
  (x', z') and the decoder must map z' to x'. DSM (shared low-pass), Scale Equivariance (down-sampling) and EQ-VAE
  (scale + rot90). Called alone it returns ``weight * L1(D(z'), x')``; inside :class:`~smlib.regularizers.aeloss.AELoss`
  the pair goes through the full reconstruction loss (L1 + LPIPS, and the GAN for the main pair).

Random choices (DSM's cut k, SE's factor, EQ-VAE's scale and angle) are drawn once per step by
:meth:`PairTransform.sample_plan` from the regularizer's own ``torch.Generator`` (if a ``seed`` was given) or the global
torch RNG, always on the CPU so they do not depend on the device. ``get_rng_state``/``set_rng_state`` make runs
resumable. A plan is a plain dict, so tests and notebooks can also pass one explicitly.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def as_float(t: torch.Tensor | float) -> float:
    """A detached Python float for logs."""
    return float(t.detach()) if torch.is_tensor(t) else float(t)


def plan_logs(name: str, plan: dict) -> dict[str, float]:
    """Numeric entries of a transform's plan as floats, e.g. ``{"dsm_active": 1.0, "dsm_k": 8.0}``."""
    out = {}
    for k, v in plan.items():
        if isinstance(v, (bool, int, float)):
            out[f"{name}_{k}"] = float(v)
        elif isinstance(v, tuple) and v and all(isinstance(t, (int, float)) for t in v):
            out[f"{name}_{k}"] = float(v[0])  # scales (sy, sx): log the first
    return out


class FrozenHolder(nn.Module):
    """Keeps frozen helper networks (LPIPS, a foundation encoder) *outside* the parameter tree.

    They are not returned by ``.parameters()`` (so an optimiser built from it never sees them) and not saved in
    ``state_dict()``, but ``.to()``/``.cuda()``/``.half()`` still move them, and ``.train()`` never unfreezes them.
    """

    def __init__(self):
        super().__init__()
        self._frozen: dict[str, nn.Module] = {}

    def hold(self, key: str, module: nn.Module) -> nn.Module:
        module.requires_grad_(False)
        module.eval()
        self._frozen[key] = module
        return module

    def held(self, key: str) -> nn.Module:
        return self._frozen[key]

    def _apply(self, fn, recurse=True):
        super()._apply(fn, recurse)
        for m in self._frozen.values():
            m._apply(fn)
        return self


class Regularizer(FrozenHolder):
    """Common base: a registry ``name`` and a JSON-able description of the settings (for run configs)."""

    name: str = ""

    def describe(self) -> dict:
        """Settings worth recording next to a result, e.g. ``{"name": "vf", "vf_encoder": "efficientnet-lite2"}``."""
        return {"name": self.name}


class Penalty(Regularizer):
    """Additive term on the encoder's output. Subclasses implement ``forward(x, model, posterior, z, rec_loss)``."""

    kind = "penalty"


class PairTransform(Regularizer):
    """Builds a transformed reconstruction pair (x', z') from (x, z).

    ``replaces_reconstruction``: True (DSM, EQ-VAE) if the pair *replaces* the plain reconstruction for this step,
    False (Scale Equivariance) if it is an *extra* reconstruction term added with ``weight``.
    Subclasses implement ``sample_plan()`` and ``apply(x, z, plan)``; ``prepare_input`` may change the image before
    it is encoded (EQ-VAE's low-resolution prior preservation). ``weight`` scales an extra pair's loss and the
    standalone loss; inside :class:`~smlib.regularizers.aeloss.AELoss` a replacing pair *is* the main reconstruction
    and keeps weight 1.
    """

    kind = "transform"
    replaces_reconstruction = True

    def __init__(self, weight: float = 1.0, seed: int | None = None):
        super().__init__()
        self.weight = float(weight)
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed) if seed is not None else None

    # -- randomness -----------------------------------------------------------------------------------------------
    def _randint(self, n: int) -> int:
        """Uniform integer in [0, n) from the regularizer's generator (or the global torch RNG)."""
        return int(torch.randint(n, (1,), generator=self.generator))

    def _uniform(self) -> float:
        return float(torch.rand((), generator=self.generator))

    def get_rng_state(self) -> torch.Tensor | None:
        """State of the private generator, or None when the global torch RNG is used (save that instead)."""
        return None if self.generator is None else self.generator.get_state()

    def set_rng_state(self, state: torch.Tensor | None) -> None:
        if state is not None:
            if self.generator is None:
                self.generator = torch.Generator()
            self.generator.set_state(state)

    # -- the transform --------------------------------------------------------------------------------------------
    def sample_plan(self) -> dict:
        """Random choices for one training step (a dict; ``{"active": False}`` means "do nothing this step")."""
        raise NotImplementedError

    def prepare_input(self, x: torch.Tensor, plan: dict, factor: int) -> torch.Tensor:
        """Image the encoder sees this step. Default: unchanged. x: (B, C, H, W) -> (B, C, H', W')."""
        return x

    def apply(self, x: torch.Tensor, z: torch.Tensor, plan: dict, factor: int):
        """(x (B, C, H, W), z (B, d, h, w)) -> (x', z') or None when the plan is inactive. ``factor`` is the AE's f."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, model, posterior=None, z: torch.Tensor | None = None,
                rec_loss: torch.Tensor | None = None, plan: dict | None = None):
        """Standalone use: ``weight * mean|D(z') - x'|`` for one sampled (or given) plan; zero when inactive.

        In eval mode nothing is sampled and the loss is the plain reconstruction ``mean|D(z) - x|`` times weight if
        the transform replaces the reconstruction, else zero.
        """
        if z is None:
            posterior = model.encode(x) if posterior is None else posterior
            z = posterior.sample()
        if plan is None:
            plan = self.sample_plan() if self.training else {"active": False}
        pair = self.apply(x, z, plan, model.factor)
        logs = plan_logs(self.name, plan)
        logs[f"{self.name}_active"] = float(pair is not None)
        if pair is None:
            if not self.replaces_reconstruction:
                return z.new_zeros(()), logs
            pair = (x, z)
        x_t, z_t = pair
        loss = F.l1_loss(model.decode(z_t), x_t)
        logs[f"{self.name}_l1"] = as_float(loss)
        return self.weight * loss, logs


__all__ = ["Regularizer", "Penalty", "PairTransform", "FrozenHolder", "as_float", "plan_logs"]
