"""EDM's trained DDPM++ networks as smlib U-Nets: a state dict of ``NVlabs/edm``'s ``SongUNet`` -> the weights of
:class:`smlib.models.unet.UNet`, so a released EDM checkpoint can be fine-tuned or sampled here (chapter 8's paper
preset: the seed paper fine-tunes EDM's public checkpoints).

EDM publishes its networks as pickles of its own classes, which a ``weights_only`` load refuses. Turn one into plain
tensors once, where EDM's code is importable (``git clone https://github.com/NVlabs/edm``, its folder on the path):

    import pickle, torch
    with open("edm-cifar10-32x32-uncond-vp.pkl", "rb") as f:
        torch.save(pickle.load(f)["ema"].model.state_dict(), "edm-cifar10-32x32-uncond-vp.pt")

and then, here:

    net = unet_from_edm("edm-cifar10-32x32-uncond-vp.pt", input_size=32, **EDM_CIFAR10)
    d = EDM().denoise(net, x, sigma, t_scale=net.t_scale)        # EDM's D(x; sigma), as EDMPrecond computes it

The key map, read from ``NVlabs/edm@008a4e5:training/networks.py`` (``SongUNet``, ``UNetBlock``): the encoder's
first convolution is ``conv_in``; its other blocks, in order, are ``enc``; the decoder's ``in0``/``in1`` are ``mid``;
its other blocks, in order, ``dec``; ``aux_norm``/``aux_conv`` of the last level are ``norm_out``/``conv_out``.
Inside a block the names are the same. Two things differ: EDM's attention reads its qkv projection's output
channels interleaved (channel c of q, k, v at rows 3c, 3c+1, 3c+2), ours in three consecutive blocks, so the rows
are permuted; and EDM's class label is a linear map of sqrt(L) times a one-hot vector (zero for no label), ours a
table of L + 1 rows, so row y is sqrt(L) W[:, y] + b and the null row is b. EDM's ``map_augment`` (augmentation
labels, used in its training only, absent at sampling) and the resampling filters (fixed buffers) are dropped.
"""
from __future__ import annotations

import math
import os
from collections.abc import Mapping

import torch

from smlib.models.unet import UNet

#: EDM's DDPM++ for CIFAR-10 32 px (its ``--arch=ddpmpp``): 55.7 M parameters
EDM_CIFAR10 = dict(model_channels=128, channel_mult=(2, 2, 2), num_blocks=4, attn_resolutions=(16,))
#: EDM's DDPM++ for FFHQ / AFHQv2 64 px (``--arch=ddpmpp --cres=1,2,2,2``)
EDM_64PX = dict(model_channels=128, channel_mult=(1, 2, 2, 2), num_blocks=4, attn_resolutions=(16,))

_DROPPED = ("map_augment.", "resample_filter")


def _block_names(state: Mapping[str, torch.Tensor], part: str) -> list[str]:
    """The module names under ``enc.`` or ``dec.`` in the order the state dict holds them (EDM's ModuleDict order)."""
    names = []
    for key in state:
        if key.startswith(part + "."):
            name = key.split(".")[1]
            if name not in names:
                names.append(name)
    return names


def _interleaved_to_blocks(t: torch.Tensor) -> torch.Tensor:
    """qkv rows (3C, ...) ordered c-major (EDM) -> q, k, v blocks of C rows each (smlib)."""
    c = t.shape[0] // 3
    return t.reshape(c, 3, *t.shape[1:]).transpose(0, 1).reshape(t.shape)


def is_edm_state(state: Mapping) -> bool:
    """Whether a state dict is laid out as EDM's SongUNet (its first convolution is ``enc.<res>x<res>_conv``)."""
    return any(k.startswith("enc.") and k.split(".")[1].endswith("_conv") for k in state)


def unet_state_from_edm(edm_state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A SongUNet state dict (DDPM++: positional embedding, standard encoder and decoder) -> UNet's, keys and
    tensors as the module docstring maps them. A state dict of another architecture fails in one line."""
    state = {k: v for k, v in edm_state.items() if not any(d in k for d in _DROPPED)}
    enc, dec = _block_names(state, "enc"), _block_names(state, "dec")
    if not enc or not enc[0].endswith("_conv") or any("aux_residual" in n or "aux_skip" in n for n in enc):
        raise ValueError("not a DDPM++ SongUNet state dict (no standard encoder under 'enc.'); pass the state_dict "
                         "of an EDM '-vp' network's .model.")
    rename = {f"enc.{enc[0]}.": "conv_in."}
    rename.update({f"enc.{n}.": f"enc.{i}." for i, n in enumerate(enc[1:])})
    blocks = [n for n in dec if "aux" not in n]
    rename.update({f"dec.{n}.": f"mid.{i}." for i, n in enumerate(blocks[:2])})
    rename.update({f"dec.{n}.": f"dec.{i}." for i, n in enumerate(blocks[2:])})
    aux = [n for n in dec if "aux" in n]
    if sorted(n.split("_", 1)[1] for n in aux) != ["aux_conv", "aux_norm"]:
        raise ValueError(f"expected a standard decoder with one output head, got {aux}; pass a DDPM++ network.")
    rename.update({f"dec.{n}.": ("norm_out." if n.endswith("aux_norm") else "conv_out.") for n in aux})
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.startswith("map_label."):
            continue
        prefix = next((p for p in rename if key.startswith(p)), None)
        new = rename[prefix] + key[len(prefix):] if prefix else key
        out[new] = _interleaved_to_blocks(value) if ".qkv." in key else value
    if "map_label.weight" in state:
        w, b = state["map_label.weight"], state["map_label.bias"]          # (noise_channels, L), (noise_channels,)
        labels = w.shape[1]
        out["y_embedder.table.weight"] = torch.cat([w.T * math.sqrt(labels) + b, b[None]])
    return out


def unet_from_edm(source: str | os.PathLike | Mapping[str, torch.Tensor], input_size: int, in_channels: int = 3,
                  num_classes: int = 0, **unet_kwargs) -> UNet:
    """A :class:`UNet` holding an EDM network's weights; ``source`` a state dict or a file of one (loaded with
    ``weights_only=True``), ``unet_kwargs`` its architecture (:data:`EDM_CIFAR10`, :data:`EDM_64PX`; add
    ``dropout`` to fine-tune as EDM trained). A mismatch of architecture fails in one line naming it."""
    if not isinstance(source, Mapping):
        source = torch.load(source, map_location="cpu", weights_only=True)
    net = UNet(input_size, in_channels, num_classes=num_classes, **unet_kwargs)
    state = unet_state_from_edm(source)
    try:
        net.load_state_dict(state)
    except RuntimeError as e:
        raise ValueError(f"the EDM weights do not fit this UNet ({str(e).splitlines()[0]} ...); give the "
                         "architecture the checkpoint was trained with (EDM_CIFAR10, EDM_64PX) and num_classes.") from e
    return net


__all__ = ["EDM_CIFAR10", "EDM_64PX", "is_edm_state", "unet_state_from_edm", "unet_from_edm"]
