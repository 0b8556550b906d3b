"""Diffusion backbones by name or size, and one parameter count for every model.

    model = build_backbone({"arch": "dit", "name": "B/2"}, latent_shape=(4, 32, 32), num_classes=1000)
    model = build_backbone({"arch": "uvit", "hidden_size": 128, "depth": 4, "num_heads": 4, "patch_size": 1},
                           (4, 8, 8))
    model = build_backbone({"arch": "unet", "model_channels": 32, "channel_mult": [1, 2, 2]}, (3, 32, 32))

The size tables live beside the models (``DIT_CONFIGS`` in :mod:`smlib.models.dit`, ``UVIT_CONFIGS`` in
:mod:`smlib.models.uvit`), as in DiT's ``DiT_models``.
"""
from __future__ import annotations

from torch import nn

ARCHS = ("dit", "uvit", "unet")


def build_backbone(spec: dict, latent_shape: tuple[int, int, int], num_classes: int = 0) -> nn.Module:
    """A diffusion backbone on latents (d, h, h).

    spec: ``{"arch": "dit" | "uvit", "name": "B/2"}`` (a named size of :func:`smlib.models.dit.build_dit` /
    :func:`smlib.models.uvit.build_uvit`) or explicit ``hidden_size``, ``depth``, ``num_heads``, ``patch_size``;
    ``{"arch": "unet", ...}`` takes :class:`smlib.models.unet.UNet`'s arguments (``model_channels``,
    ``channel_mult``, ``num_blocks``, ``attn_resolutions``, ``dropout``); other keys (``class_dropout_prob``,
    ``learn_sigma``, ...) go to the constructor."""
    from smlib.models.dit import DiT, build_dit
    from smlib.models.uvit import UViT, build_uvit

    spec = dict(spec)
    arch = spec.pop("arch", "dit")
    if arch not in ARCHS:
        raise ValueError(f"model arch must be one of {', '.join(ARCHS)}, got {arch!r}.")
    d, h, w = latent_shape
    if h != w:
        raise ValueError(f"latents must be square, got {h}x{w}.")
    kw = dict(input_size=h, in_channels=d, num_classes=num_classes, **spec)
    if arch == "unet":
        from smlib.models.unet import UNet

        if "name" in kw:
            raise ValueError("the unet arch has no named sizes; give model_channels, channel_mult, num_blocks.")
        return UNet(**kw)
    name = kw.pop("name", None)
    if name is not None:
        return (build_dit if arch == "dit" else build_uvit)(name, **kw)
    return (DiT if arch == "dit" else UViT)(**kw)


def count_parameters(module: nn.Module) -> int:
    """Number of parameters (trainable or not)."""
    return sum(p.numel() for p in module.parameters())


__all__ = ["ARCHS", "build_backbone", "count_parameters"]
