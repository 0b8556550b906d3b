"""Perceptual and adversarial terms of the SD-VAE recipe: LPIPS and a hinge PatchGAN (notes §1.5, §5).

As released by the Spectrum Matching authors (``stage1_vae_trainer.py``):

* reconstruction ``L_rec = mean|x - x_hat| + 0.5 * LPIPS_vgg(x_hat, x)`` (pixel-mean L1; LPIPS batch-mean);
* discriminator (hinge): ``L_D = mean[ ReLU(1 - D(x)) + ReLU(1 + D(x_hat)) ]`` (no 1/2 factor, unlike CompVis);
* generator: ``L_G = -mean D(x_hat)``, added as ``disc_weight * lambda * L_G`` with the adaptive weight
  ``lambda = ||grad_last L_rec|| / max(||grad_last L_G||, 1e-8)``, clamped to <= 1e4, where "last" is the decoder's
  output conv weight. ``disc_weight`` = 0.5; D starts at step 50,001 and G/D then alternate (the trainer's job).

**LPIPS offline.** LPIPS needs ImageNet VGG16 weights from torchvision's download server, which this machine cannot
reach. ``LPIPS()`` therefore raises one clear error here (LPIPS is disabled in the offline presets: use
``lpips_weight=0``). ``LPIPS(allow_random_backbone=True)`` builds the ``lpips`` package's network with a *random* VGG
trunk and the shipped linear heads; it runs the code path in tests but is not a perceptual metric, and says so in its
``label``.
"""
from __future__ import annotations

import urllib.error
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from smlib.regularizers.base import FrozenHolder, as_float

RANDOM_BACKBONE_LABEL = "LPIPS with RANDOM backbone (test only)"


class LPIPSUnavailableError(RuntimeError):
    """The LPIPS backbone weights cannot be obtained (no network, not in the torch hub cache)."""


class LPIPS(FrozenHolder):
    """Frozen LPIPS distance. forward(x, y) with x, y: (B, 3, H, W) in [-1, 1] -> (B,) per-image distances.

    Gradients flow to the inputs, never to the network (held outside the parameter tree, not saved in state_dict).
    """

    def __init__(self, net: str = "vgg", allow_random_backbone: bool = False):
        super().__init__()
        import lpips as lpips_pkg  # optional dependency (the ``weights`` extra); imported here because it is slow

        self.net = net
        self.random_backbone = bool(allow_random_backbone)
        if self.random_backbone:
            with warnings.catch_warnings():  # lpips 0.1.4 uses torchvision's deprecated ``pretrained=`` argument
                warnings.simplefilter("ignore", UserWarning)
                model = lpips_pkg.LPIPS(net=net, pretrained=True, pnet_rand=True, verbose=False)
            self.label = RANDOM_BACKBONE_LABEL
        else:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    model = lpips_pkg.LPIPS(net=net, pretrained=True, pnet_rand=False, verbose=False)
            except (urllib.error.URLError, OSError, RuntimeError) as err:
                raise LPIPSUnavailableError(
                    f"LPIPS backbone weights ({net}, torchvision ImageNet) cannot be downloaded here ({type(err).__name__}); "
                    f"LPIPS is disabled in the offline presets: set lpips_weight=0, or put the torchvision file in "
                    f"{torch.hub.get_dir()}/checkpoints.") from None
            self.label = f"LPIPS ({net}, pretrained backbone, lpips 0.1 heads)"
        self.hold("lpips", model)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.held("lpips")(x, y).flatten()

    def describe(self) -> dict:
        return {"lpips": self.label}


# ----------------------------------------------------------------------------------------------- GAN losses
def hinge_d_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """Hinge discriminator loss, mean ReLU(1 - D(real)) + mean ReLU(1 + D(fake)) (the authors' form, no 1/2)."""
    return F.relu(1.0 - logits_real).mean() + F.relu(1.0 + logits_fake).mean()


def generator_loss(logits_fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating hinge generator loss -mean D(x_hat)."""
    return -logits_fake.mean()


def adaptive_gan_weight(rec_loss: torch.Tensor, g_loss: torch.Tensor, last_layer: torch.Tensor,
                        max_weight: float = 1e4, eps: float = 1e-8) -> torch.Tensor:
    """||grad_last rec_loss|| / max(||grad_last g_loss||, eps), clamped to <= max_weight and detached (scalar)."""
    g_rec = torch.autograd.grad(rec_loss, last_layer, retain_graph=True)[0]
    g_gen = torch.autograd.grad(g_loss, last_layer, retain_graph=True)[0]
    return (g_rec.norm() / g_gen.norm().clamp(min=eps)).clamp(max=max_weight).detach()


class GANLoss(nn.Module):
    """The adversarial terms; the discriminator itself is owned by the trainer (separate optimiser).

    ``generator_term(rec_loss, x_hat, discriminator, last_layer)`` -> (disc_weight * lambda * L_G, logs);
    ``discriminator_term(discriminator, x_real, x_fake)`` -> (L_D, logs). Pass the reconstruction *target* as
    x_real (for DSM that is the masked image x_M) and ``x_hat.detach()`` as x_fake.
    """

    def __init__(self, disc_weight: float = 0.5, max_weight: float = 1e4, adaptive: bool = True):
        super().__init__()
        self.disc_weight, self.max_weight, self.adaptive = float(disc_weight), float(max_weight), bool(adaptive)

    def generator_term(self, rec_loss: torch.Tensor, x_hat: torch.Tensor, discriminator: nn.Module,
                       last_layer: torch.Tensor | None):
        g_loss = generator_loss(discriminator(x_hat))
        if self.adaptive and last_layer is not None and torch.is_grad_enabled() and g_loss.requires_grad:
            lam = adaptive_gan_weight(rec_loss, g_loss, last_layer, self.max_weight)
        else:
            lam = torch.ones((), device=x_hat.device)
        return self.disc_weight * lam * g_loss, {"g_loss": as_float(g_loss), "gan_adaptive_weight": as_float(lam)}

    def discriminator_term(self, discriminator: nn.Module, x_real: torch.Tensor, x_fake: torch.Tensor):
        logits_real, logits_fake = discriminator(x_real), discriminator(x_fake.detach())
        loss = hinge_d_loss(logits_real, logits_fake)
        return loss, {"d_loss": as_float(loss), "logits_real": as_float(logits_real.mean()),
                      "logits_fake": as_float(logits_fake.mean())}

    def describe(self) -> dict:
        return {"disc_weight": self.disc_weight, "max_weight": self.max_weight, "adaptive": self.adaptive}


__all__ = ["LPIPS", "LPIPSUnavailableError", "RANDOM_BACKBONE_LABEL", "hinge_d_loss", "generator_loss",
           "adaptive_gan_weight", "GANLoss"]
