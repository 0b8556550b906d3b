"""Autoencoder regularizers, by name, and the composed AE objective.

    regs = build_regularizers({"esm": {"weight": 0.01, "delta": 1.0}})       # or "esm", ["kl", "dsm"], [{"name": ...}]
    ae_loss = AELoss(regs, lpips=None, lpips_weight=0.0)
    out = ae_loss(x, model)                                                   # AEStepOutput: loss, logs, x_target, ...

Names: ``none`` (plain AE floor: no regularizer), ``kl`` (SD-VAE), ``esm`` and ``dsm`` (Spectrum Matching),
``scale_equivariance``, ``eqvae``, ``vf`` (VA-VAE). See :mod:`smlib.regularizers.aeloss` for how they compose:
KL, ESM and VF are additive *penalties* on the unmasked latent; DSM and EQ-VAE *replace* the reconstruction pair;
Scale Equivariance *adds* a pair.

Recipes of the released code (notes §1.5): SD-VAE = ``{"kl": {"weight": 1e-6}}``; ESM-AE = ``{"esm": {}}``
(kl 0, weight 0.01, delta 1.0); DSM-AE = ``{"dsm": {}}`` (kl 0, ks (0, 8, 10, 12), block 8). All with L1 +
0.5 LPIPS + PatchGAN from step 50,001 where LPIPS weights are available.
"""
from __future__ import annotations

from collections.abc import Mapping

from smlib.regularizers.aeloss import AELoss, AEStepOutput, ReconstructionLoss
from smlib.regularizers.base import FrozenHolder, PairTransform, Penalty, Regularizer
from smlib.regularizers.dsm import DSM
from smlib.regularizers.eqvae import EQVAE
from smlib.regularizers.esm import ESMLoss, esm_divergence, esm_image_target
from smlib.regularizers.kl import KLPenalty
from smlib.regularizers.perceptual import (LPIPS, GANLoss, LPIPSUnavailableError, adaptive_gan_weight,
                                           generator_loss, hinge_d_loss)
from smlib.regularizers.scale_equivariance import ScaleEquivariance
from smlib.regularizers.vf import VFLoss, vf_terms

REGULARIZERS: dict[str, type | None] = {
    "none": None,
    "kl": KLPenalty,
    "esm": ESMLoss,
    "dsm": DSM,
    "scale_equivariance": ScaleEquivariance,
    "eqvae": EQVAE,
    "vf": VFLoss,
}


def normalise_spec(spec) -> list[tuple[str, dict]]:
    if spec is None:
        return []
    if isinstance(spec, str):
        return [(spec, {})]
    if isinstance(spec, Mapping):
        if "name" in spec:
            kw = dict(spec)
            return [(kw.pop("name"), kw)]
        return [(name, dict(kw or {})) for name, kw in spec.items()]
    items = []
    for entry in spec:
        items.extend(normalise_spec(entry))
    return items


def build_regularizers(spec, *, latent_channels: int | None = None, vf_encoder=None, device="auto") -> list:
    """Instantiate regularizers from a spec.

    spec: a name (``"esm"``), a list of names or ``{"name": ..., **kwargs}`` dicts, or a ``{name: kwargs}`` dict.
    ``none`` contributes nothing. For ``vf``: ``latent_channels`` (the AE's d) is required, and the frozen encoder is
    ``vf_encoder`` if given, else built with ``smlib.models.encoders.build_encoder(kwargs["encoder"], pretrained=
    kwargs.get("pretrained", True), device=device)``. Unknown names raise a one-line ValueError.
    """
    regs = []
    for name, kwargs in normalise_spec(spec):
        if name not in REGULARIZERS:
            raise ValueError(f"unknown regularizer {name!r}; known: {', '.join(sorted(REGULARIZERS))}.")
        cls = REGULARIZERS[name]
        if cls is None:
            continue
        if cls is VFLoss:
            kwargs = dict(kwargs)
            enc_name = kwargs.pop("encoder", None)
            pretrained = kwargs.pop("pretrained", True)
            encoder = vf_encoder
            if encoder is None:
                if enc_name is None:
                    raise ValueError("the vf regularizer needs an encoder: pass vf_encoder=... or "
                                     "{'vf': {'encoder': 'efficientnet-lite2'}}.")
                from smlib.models.encoders import build_encoder
                encoder = build_encoder(enc_name, pretrained=pretrained, device=device)
            if latent_channels is None:
                raise ValueError("the vf regularizer needs latent_channels= (the AE's latent channel count d).")
            kwargs.setdefault("label", enc_name)
            regs.append(VFLoss(encoder, latent_channels, **kwargs))
        else:
            try:
                regs.append(cls(**kwargs))
            except TypeError as err:
                raise ValueError(f"bad options for regularizer {name!r}: {err}") from None
    return regs


__all__ = ["REGULARIZERS", "build_regularizers", "AELoss", "AEStepOutput", "ReconstructionLoss",
           "Regularizer", "Penalty", "PairTransform", "FrozenHolder",
           "KLPenalty", "ESMLoss", "esm_divergence", "esm_image_target", "DSM", "ScaleEquivariance", "EQVAE",
           "VFLoss", "vf_terms", "LPIPS", "LPIPSUnavailableError", "GANLoss", "hinge_d_loss", "generator_loss",
           "adaptive_gan_weight"]
