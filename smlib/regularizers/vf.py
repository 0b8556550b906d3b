"""VA-VAE's vision-foundation (VF) alignment loss (Yao et al., CVPR 2025; ``hustvl/LightningDiT`` ``vavae``; notes §5).

A trainable 1x1 conv projects the latent to the foundation encoder's width, z' = W z: (B, D, h, w). The frozen
encoder's features f of the same image are resized to the latent grid. With i, j over the h*w positions:

    L_cos     = mean_{b,i}    ReLU( 1 - m1 - cos(z'_i, f_i) )                         m1 = cos_margin = 0.5
    L_distmat = mean_{b,i,j}  ReLU( |cos(z'_i, z'_j) - cos(f_i, f_j)| - m2 )          m2 = distmat_margin = 0.25
    L_vf      = cos_weight * L_cos + distmat_weight * L_distmat

The margins stop the loss once the latent is "close enough", so it shapes the latent without forcing it to copy the
features. The total weight is adaptive, as in VA-VAE:

    w = vf_weight * clamp( ||grad_{enc last} L_rec|| / (||grad_{enc last} L_vf|| + 1e-4), 0, 1e8 ),   detached

where "enc last" is the encoder's last conv weight (``model.encoder_last_layer``) and L_rec the reconstruction loss of
the step (passed as ``rec_loss``). Without ``rec_loss`` (or without gradients) the weight is ``vf_weight``.

The projection is owned by this module: ``.parameters()`` returns exactly its weights, so add them to the AE's
optimiser. The encoder is held frozen outside the parameter tree (not optimised, not saved) and must map images in
[-1, 1] to token grids (B, D, h_f, w_f), e.g. ``smlib.models.encoders.build_encoder(name)``. Its label is recorded by
:meth:`VFLoss.describe` as ``vf_encoder``. VA-VAE uses DINOv2-L/14 on the f16 grid; offline presets use what the
registry can load.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from smlib.regularizers.base import Penalty, as_float


def vf_terms(z_proj: torch.Tensor, feats: torch.Tensor, cos_margin: float = 0.5,
             distmat_margin: float = 0.25) -> tuple[torch.Tensor, torch.Tensor]:
    """The two margin terms. z_proj, feats: (B, D, h, w) on the same grid -> (L_cos, L_distmat) scalars."""
    if z_proj.shape != feats.shape:
        raise ValueError(f"projected latent {tuple(z_proj.shape)} and features {tuple(feats.shape)} must match.")
    zp = F.normalize(z_proj.flatten(2), dim=1)   # (B, D, N), unit tokens
    ft = F.normalize(feats.flatten(2), dim=1)
    cos_term = F.relu(1.0 - cos_margin - (zp * ft).sum(dim=1)).mean()
    gram_z = torch.einsum("bdi,bdj->bij", zp, zp)
    gram_f = torch.einsum("bdi,bdj->bij", ft, ft)
    distmat_term = F.relu((gram_z - gram_f).abs() - distmat_margin).mean()
    return cos_term, distmat_term


def _feature_dim(encoder: nn.Module, probe_size: int) -> int:
    for attr in ("out_dim", "embed_dim", "num_features", "out_channels"):
        d = getattr(encoder, attr, None)
        if isinstance(d, int) and d > 0:
            return d
    p = next(encoder.parameters(), None)
    probe = torch.zeros(1, 3, probe_size, probe_size, device=p.device if p is not None else "cpu")
    with torch.no_grad():
        return int(encoder(probe).shape[1])


class VFLoss(Penalty):
    """VF loss with a trainable 1x1 projection z -> z' and a frozen foundation encoder."""

    name = "vf"

    def __init__(self, encoder: nn.Module, latent_channels: int, *, feature_dim: int | None = None,
                 label: str | None = None, vf_weight: float = 0.1, cos_margin: float = 0.5,
                 distmat_margin: float = 0.25, cos_weight: float = 1.0, distmat_weight: float = 1.0,
                 adaptive: bool = True, max_adaptive: float = 1e8, probe_size: int = 64):
        super().__init__()
        if encoder is None:
            raise ValueError("VFLoss needs a frozen image encoder, e.g. smlib.models.encoders.build_encoder(name).")
        self.hold("encoder", encoder)
        dim = int(feature_dim) if feature_dim is not None else _feature_dim(encoder, probe_size)
        self.proj = nn.Conv2d(int(latent_channels), dim, kernel_size=1)
        self.label = label or getattr(encoder, "name", None) or getattr(encoder, "label", None) \
            or type(encoder).__name__
        self.vf_weight, self.cos_margin, self.distmat_margin = float(vf_weight), float(cos_margin), float(distmat_margin)
        self.cos_weight, self.distmat_weight = float(cos_weight), float(distmat_weight)
        self.adaptive, self.max_adaptive = bool(adaptive), float(max_adaptive)

    @property
    def encoder(self) -> nn.Module:
        return self.held("encoder")

    def features(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Frozen features of x (B, 3, H, W) resized to the latent grid: (B, D, h, w)."""
        with torch.no_grad():
            f = self.encoder(x)
            if tuple(f.shape[-2:]) != tuple(size):
                f = F.interpolate(f.float(), size=size, mode="bilinear", align_corners=False, antialias=True)
        return f.detach()

    def vf_loss(self, x: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """Unweighted L_vf for images x (B, 3, H, W) and latents z (B, d, h, w) -> (scalar, logs)."""
        z_proj = self.proj(z)
        feats = self.features(x, tuple(z.shape[-2:])).to(z_proj.dtype)
        cos_term, dist_term = vf_terms(z_proj, feats, self.cos_margin, self.distmat_margin)
        loss = self.cos_weight * cos_term + self.distmat_weight * dist_term
        return loss, {"vf": as_float(loss), "vf_cos": as_float(cos_term), "vf_distmat": as_float(dist_term)}

    def adaptive_weight(self, rec_loss: torch.Tensor | None, vf_loss: torch.Tensor, last_layer: torch.Tensor | None):
        """vf_weight * ||grad rec|| / (||grad vf|| + 1e-4) at ``last_layer``, clamped and detached."""
        if not self.adaptive or rec_loss is None or last_layer is None or not torch.is_grad_enabled() \
                or not (rec_loss.requires_grad and vf_loss.requires_grad):
            return torch.tensor(self.vf_weight, device=vf_loss.device), False
        g_rec = torch.autograd.grad(rec_loss, last_layer, retain_graph=True, allow_unused=True)[0]
        g_vf = torch.autograd.grad(vf_loss, last_layer, retain_graph=True, allow_unused=True)[0]
        if g_rec is None or g_vf is None:
            return torch.tensor(self.vf_weight, device=vf_loss.device), False
        ratio = g_rec.norm() / (g_vf.norm() + 1e-4)
        return self.vf_weight * ratio.clamp(0.0, self.max_adaptive).detach(), True

    def forward(self, x: torch.Tensor, model=None, posterior=None, z: torch.Tensor | None = None,
                rec_loss: torch.Tensor | None = None):
        """x: (B, 3, H, W), z: (B, d, h, w) sample -> (w * L_vf, logs). ``rec_loss`` enables the adaptive weight."""
        if z is None:
            raise ValueError("VFLoss needs the latent sample z (B, d, h, w).")
        loss, logs = self.vf_loss(x.detach(), z)
        last = getattr(model, "encoder_last_layer", None) if model is not None else None
        w, adapted = self.adaptive_weight(rec_loss, loss, last)
        logs["vf_weight"] = as_float(w)
        logs["vf_adaptive"] = float(adapted)
        return w * loss, logs

    def describe(self) -> dict:
        return {"name": self.name, "vf_encoder": self.label, "feature_dim": self.proj.out_channels,
                "vf_weight": self.vf_weight, "cos_margin": self.cos_margin, "distmat_margin": self.distmat_margin,
                "cos_weight": self.cos_weight, "distmat_weight": self.distmat_weight, "adaptive": self.adaptive}


class FeatureSource(nn.Module):
    """A frozen encoder for the VF loss that can be handed precomputed features.

    ``provide(feats)`` queues features (B, D, h, w) for the next call; ``forward(x)`` returns them (checking the
    batch size) or, with nothing queued, runs the wrapped encoder on x. Without augmentation the frozen features of
    a training image never change, so the recipe computes them once instead of at every step.
    """

    def __init__(self, encoder: nn.Module, label: str):
        super().__init__()
        self.encoder = encoder
        self.out_dim = int(encoder.out_dim)
        self.label = label
        self._queued: torch.Tensor | None = None

    def provide(self, feats: torch.Tensor) -> None:
        self._queued = feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._queued is not None:
            feats, self._queued = self._queued, None
            if feats.shape[0] != x.shape[0]:
                raise ValueError(f"queued VF features are for {feats.shape[0]} images, the batch has {x.shape[0]}.")
            return feats.to(device=x.device, dtype=x.dtype)
        return self.encoder(x)


@torch.no_grad()
def encode_features(encoder: nn.Module, images: torch.Tensor, batch: int = 64, device="cpu") -> torch.Tensor:
    """Frozen features of (N, 3, H, W) images -> (N, D, h, w) float32 on the CPU."""
    return torch.cat([encoder(images[i:i + batch].to(device)).float().cpu() for i in range(0, len(images), batch)])


__all__ = ["FeatureSource", "encode_features", "VFLoss", "vf_terms"]
