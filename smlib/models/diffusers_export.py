"""Export an smlib :class:`~smlib.models.autoencoder.AutoEncoder` to diffusers' ``AutoencoderKL`` folder format.

    from smlib.models.diffusers_export import export_to_diffusers
    export_to_diffusers(model, "exports/dsm-f8d4", scaling_factor=1 / latent_std)
    AutoencoderKL.from_pretrained("exports/dsm-f8d4")          # the same encoder and decoder, any diffusers tool

What maps, layer by layer (smlib/models/autoencoder.py against diffusers 0.42.1,
``diffusers/models/autoencoders/vae.py`` ``Encoder``/``Decoder`` with ``DownEncoderBlock2D``/``UpDecoderBlock2D``):

==============================================  =====================================================================
smlib                                           diffusers ``AutoencoderKL``
==============================================  =====================================================================
``ResnetBlock`` (GN-SiLU-conv3x3 twice, 1x1     ``ResnetBlock2D`` with ``temb_channels=None``, ``output_scale_factor
shortcut when the width changes)                =1``: the same ops in the same order; ``shortcut`` -> ``conv_shortcut``
``Downsample("conv")``: pad (0, 1, 0, 1) with   ``Downsample2D(use_conv=True, padding=0)``: the same zero pad, the same
zeros, 3x3 stride-2 conv                        conv (``downsamplers.0.conv``)
``Upsample``: nearest 2x, conv3x3               ``Upsample2D(use_conv=True)``: the same (``upsamplers.0.conv``)
``AttentionBlock``: GN, 1x1 q/k/v, one head,    ``Attention`` of ``UNetMidBlock2D`` with ``attention_head_dim =
scale 1/sqrt(C), 1x1 proj_out, residual         channels`` (one head, the same scale): ``to_q/to_k/to_v/to_out.0`` are
                                                ``Linear`` layers, so a 1x1 conv weight (C, C, 1, 1) becomes (C, C)
mid block (resnet, attention, resnet)           ``UNetMidBlock2D`` (``mid_block_add_attention`` = ``attention``)
``norm_out``, SiLU, ``conv_out``                ``conv_norm_out``, ``conv_act``, ``conv_out``
``quant_conv``, ``post_quant_conv`` (1x1)       the same names, ``use_quant_conv = use_post_quant_conv = True``
posterior: logvar clamped to [-30, 20]          ``DiagonalGaussianDistribution``: the same clamp and channel order
GroupNorm eps 1e-6, affine                      eps 1e-6 (``resnet_eps``) everywhere
==============================================  =====================================================================

The decoder's levels run deepest first in both, with ``layers_per_block + 1`` resnets each. So the export is exact
(same reconstructions to float round-off, tested) for every smlib config except two, which it refuses in one line:

* ``downsample="avgpool"``: diffusers' ``DownEncoderBlock2D`` always downsamples with a strided conv; a parameter-free
  2x2 mean has no counterpart (a conv with fixed 1/4 weights and stride 2 would need a 2x2 kernel, and
  ``Downsample2D`` builds a 3x3 one).
* a channel count not divisible by ``groups``: smlib then uses the largest divisor of that width below ``groups``
  (narrow test models), while diffusers builds every GroupNorm with the one ``norm_num_groups``; a GroupNorm with
  another group count normalises over other channel sets, so no renaming of weights reproduces it.

What carries no weight and so does not travel: ``dropout`` (diffusers' ``AutoencoderKL`` builds its blocks with
dropout 0; at inference both are the identity, so reconstructions match, but fine-tuning the export in diffusers
trains without the dropout), the lab's training objective (VF projection, discriminator), and the latent scale: a
diffusers pipeline multiplies latents by ``config.scaling_factor`` (SD-VAE's 0.18215 is the diffusers default),
which for an smlib AE is 1 / std of its sampled latents (what :mod:`smlib.data.latents` fits); pass it, or the
export records 1.0 (latents used as they come).
"""
from __future__ import annotations

import re
from pathlib import Path

import torch

from smlib.models.autoencoder import AEConfig, AutoEncoder, _num_groups

#: the diffusers release this mapping was checked against (requirements.txt pins it)
DIFFUSERS_VERSION = "0.42.1"


def export_problems(config: AEConfig) -> list[str]:
    """Why an :class:`AEConfig` does not map exactly onto ``AutoencoderKL`` ([] when it does)."""
    problems = []
    if config.downsample != "conv":
        problems.append(f"downsample={config.downsample!r} has no diffusers counterpart (DownEncoderBlock2D always "
                        "downsamples with a strided 3x3 conv)")
    odd = sorted({c for c in config.channels if _num_groups(c, config.groups) != config.groups})
    if odd:
        problems.append(f"channel count(s) {odd} are not divisible by groups={config.groups}, so smlib normalises "
                        "them with fewer groups while diffusers uses norm_num_groups for every GroupNorm")
    return problems


def diffusers_config(config: AEConfig, scaling_factor: float = 1.0) -> dict:
    """The ``AutoencoderKL(**kwargs)`` of an exactly-mapping :class:`AEConfig` (see :func:`export_problems`)."""
    levels = len(config.channels)
    return {
        "in_channels": config.image_channels, "out_channels": config.image_channels,
        "down_block_types": ["DownEncoderBlock2D"] * levels, "up_block_types": ["UpDecoderBlock2D"] * levels,
        "block_out_channels": list(config.channels), "layers_per_block": config.layers_per_block,
        "act_fn": "silu", "latent_channels": config.latent_channels, "norm_num_groups": config.groups,
        "sample_size": config.resolution, "scaling_factor": float(scaling_factor), "force_upcast": True,
        "use_quant_conv": True, "use_post_quant_conv": True, "mid_block_add_attention": bool(config.attention),
    }


# smlib parameter name -> diffusers parameter name, applied in order (first match wins)
_RENAMES = [
    (r"^(encoder|decoder)\.mid\.block_1\.", r"\1.mid_block.resnets.0."),
    (r"^(encoder|decoder)\.mid\.block_2\.", r"\1.mid_block.resnets.1."),
    (r"^(encoder|decoder)\.mid\.attn_1\.norm\.", r"\1.mid_block.attentions.0.group_norm."),
    (r"^(encoder|decoder)\.mid\.attn_1\.(q|k|v)\.", r"\1.mid_block.attentions.0.to_\2."),
    (r"^(encoder|decoder)\.mid\.attn_1\.proj_out\.", r"\1.mid_block.attentions.0.to_out.0."),
    (r"^encoder\.down\.(\d+)\.blocks\.", r"encoder.down_blocks.\1.resnets."),
    (r"^encoder\.down\.(\d+)\.downsample\.conv\.", r"encoder.down_blocks.\1.downsamplers.0.conv."),
    (r"^decoder\.up\.(\d+)\.blocks\.", r"decoder.up_blocks.\1.resnets."),
    (r"^decoder\.up\.(\d+)\.upsample\.conv\.", r"decoder.up_blocks.\1.upsamplers.0.conv."),
    (r"^(encoder|decoder)\.norm_out\.", r"\1.conv_norm_out."),
]


def _rename(name: str) -> str:
    for pattern, repl in _RENAMES:
        if re.match(pattern, name):
            name = re.sub(pattern, repl, name)
            break
    return name.replace(".shortcut.", ".conv_shortcut.")


def diffusers_state_dict(model: AutoEncoder) -> dict[str, torch.Tensor]:
    """``model``'s weights under diffusers' names; attention's 1x1 conv weights (C, C, 1, 1) become Linear (C, C)."""
    out = {}
    for name, t in model.state_dict().items():
        new = _rename(name)
        if ".attentions.0.to_" in new and new.endswith(".weight"):
            t = t.reshape(t.shape[0], t.shape[1])
        out[new] = t.detach().clone()
    return out


def to_diffusers(model: AutoEncoder, scaling_factor: float = 1.0):
    """An ``AutoencoderKL`` (CPU, float32, eval) holding ``model``'s weights. Raises a one-line ValueError where the
    mapping cannot be exact (:func:`export_problems`), where diffusers is missing, or where the installed diffusers
    names its weights otherwise than the release this mapping was checked against."""
    if not isinstance(model, AutoEncoder):
        raise ValueError(f"export_to_diffusers takes an smlib AutoEncoder, got {type(model).__name__}; load a run "
                         "with smlib.experiments.autoencoders.load_autoencoder first.")
    problems = export_problems(model.config)
    if problems:
        raise ValueError(f"this autoencoder does not map exactly onto diffusers' AutoencoderKL: {'; '.join(problems)}.")
    try:
        from diffusers import AutoencoderKL
    except ImportError as e:
        raise ValueError(f"diffusers is not installed ({e}); pip install diffusers=={DIFFUSERS_VERSION}.") from e
    kl = AutoencoderKL(**diffusers_config(model.config, scaling_factor))
    state = {k: v.float().cpu() for k, v in diffusers_state_dict(model).items()}
    missing, unexpected = kl.load_state_dict(state, strict=False)
    if missing or unexpected:  # a diffusers release with other names: say which, do not export a half-loaded model
        raise ValueError(f"diffusers {_diffusers_version()} names its AutoencoderKL weights differently from the "
                         f"{DIFFUSERS_VERSION} this export maps (missing {missing[:3]}, unexpected {unexpected[:3]}); "
                         f"install diffusers=={DIFFUSERS_VERSION}.")
    return kl.eval()


def _diffusers_version() -> str:
    import diffusers

    return diffusers.__version__


def export_to_diffusers(model: AutoEncoder, out_dir: str | Path, scaling_factor: float = 1.0) -> Path:
    """Write ``model`` as a diffusers ``AutoencoderKL`` folder (config.json + safetensors weights) to ``out_dir``.

    Load it back with ``AutoencoderKL.from_pretrained(out_dir)``. ``scaling_factor``: what diffusers pipelines
    multiply latents by (1 / std of the sampled latents for a lab AE; default 1.0). Returns ``out_dir``.
    Refuses (ValueError, one line) a config that does not map exactly (module docstring).
    """
    kl = to_diffusers(model, scaling_factor)
    out_dir = Path(out_dir)
    kl.save_pretrained(out_dir, safe_serialization=True)
    return out_dir


__all__ = ["DIFFUSERS_VERSION", "export_problems", "diffusers_config", "diffusers_state_dict", "to_diffusers",
           "export_to_diffusers"]
