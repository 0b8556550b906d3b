"""Any autoencoder behind one interface: an smlib run folder, a diffusers ``AutoencoderKL`` folder (or hub id), or a
model object already in memory.

    ae = load_audited("runs/autoencoders/small/dsm-0123456789")      # result.json + last.pt
    ae = load_audited("exports/sd-vae")                                # config.json + diffusion_pytorch_model.*
    mean, logvar = ae.moments(x)                                       # x: (B, C, H, W) in [-1, 1]
    x_hat = ae.decode(z)                                               # z: (B, d, H/f, W/f)

An smlib run's weights are read from ``PATH/last.pt``, relative to the folder, never through the checkpoint path
stored in its ``result.json`` (a copied or downloaded run folder keeps working). Every way of failing is one line
(ValueError / FileNotFoundError) that says what to point at instead.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from smlib.device import resolve_device
from smlib.models.autoencoder import AEConfig, AutoEncoder

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_NOT_AN_AE = ("expected an smlib autoencoder run folder (result.json and last.pt, e.g. "
              "runs/autoencoders/<preset>/<variant>-<key>/) or a diffusers AutoencoderKL folder (config.json and its "
              "weights)")


@dataclass
class AuditedAutoencoder:
    """An autoencoder as the audit sees it: posterior moments and a decoder, plus its shape.

    kind: "smlib" or "diffusers"; factor: spatial downsampling f; resolution: nominal training size (None if
    unknown); scaling_factor: what a diffusers pipeline multiplies latents by (None for smlib runs);
    description: JSON-able facts about where it came from (no absolute paths).
    """

    kind: str
    model: nn.Module
    image_channels: int
    latent_channels: int
    factor: int
    resolution: int | None
    scaling_factor: float | None = None
    description: dict = field(default_factory=dict)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.no_grad()
    def moments(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, C, H, W) in [-1, 1] -> (mean, logvar), each (B, d, H/f, W/f), logvar clamped to [-30, 20]."""
        if self.kind == "smlib":
            post = self.model.encode(x)
        else:
            post = self.model.encode(x).latent_dist
        return post.mean, post.logvar

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z: (B, d, h, w) -> x_hat: (B, C, f h, f w), unclamped."""
        if self.kind == "smlib":
            return self.model.decode(z)
        return self.model.decode(z).sample


def wrap(model: nn.Module, description: dict | None = None) -> AuditedAutoencoder:
    """An in-memory smlib ``AutoEncoder`` or diffusers ``AutoencoderKL`` as an :class:`AuditedAutoencoder`; the
    model is used as it is (its device, dtype and train/eval mode are left alone)."""
    if isinstance(model, AuditedAutoencoder):
        return model
    if isinstance(model, AutoEncoder):
        cfg = model.config
        desc = {"kind": "smlib", "config": cfg.to_dict(), **(description or {})}
        return AuditedAutoencoder("smlib", model, cfg.image_channels, cfg.latent_channels, cfg.factor,
                                  cfg.resolution, None, desc)
    if type(model).__name__ == "AutoencoderKL" and hasattr(model, "config"):
        c = model.config
        size = c.sample_size[0] if isinstance(c.sample_size, (list, tuple)) else c.sample_size
        desc = {"kind": "diffusers", "config": {k: v for k, v in dict(c).items() if not k.startswith("_")},
                **(description or {})}
        return AuditedAutoencoder("diffusers", model, int(c.in_channels), int(c.latent_channels),
                                  2 ** (len(c.block_out_channels) - 1), int(size) if size else None,
                                  float(c.scaling_factor) if c.scaling_factor is not None else None, desc)
    raise ValueError(f"cannot audit a {type(model).__name__}; pass an smlib AutoEncoder, a diffusers AutoencoderKL "
                     "or a folder holding one.")


def load_audited(path: str | Path | nn.Module, device=None) -> AuditedAutoencoder:
    """Load what ``path`` names (module docstring) in float32 and eval mode onto ``device`` (default cpu; "auto"
    resolves cuda, mps, cpu). A model object is wrapped as it is, and moved only when ``device`` is given."""
    if isinstance(path, (nn.Module, AuditedAutoencoder)):
        ae = wrap(path)
        if device is not None:
            ae.model.to(resolve_device(device))
        return ae
    ae = _load_path(Path(str(path)).expanduser(), str(path))
    ae.model.to(resolve_device(device or "cpu")).float().eval()
    return ae


def _load_path(p: Path, text: str) -> AuditedAutoencoder:
    if p.is_dir():
        if (p / "result.json").is_file():
            return load_smlib_run(p)
        for folder in (p, p / "vae"):  # a pipeline folder keeps its autoencoder in vae/
            if (folder / "config.json").is_file():
                return load_diffusers(folder)
        raise ValueError(f"{p} is not an autoencoder folder: {_NOT_AN_AE}.")
    if p.exists():
        raise ValueError(f"{p} is a file, not an autoencoder folder: {_NOT_AN_AE}.")
    if _HUB_ID.match(text):
        return load_diffusers(text)
    raise FileNotFoundError(f"no folder {p}: {_NOT_AN_AE}.")


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"


def load_smlib_run(folder: str | Path) -> AuditedAutoencoder:
    """The AE of an smlib run folder: its config from ``result.json["ae"]``, its weights from ``folder/last.pt``."""
    folder = Path(folder)
    try:
        result = json.loads((folder / "result.json").read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{folder}/result.json is unreadable ({_first_line(e)}); {_NOT_AN_AE}.") from e
    if not isinstance(result, dict) or not isinstance(result.get("ae"), dict):
        raise ValueError(f"{folder}/result.json has no 'ae' config, so it is not an autoencoder run (a diffusion or "
                         f"other run?); {_NOT_AN_AE}.")
    ckpt = folder / "last.pt"
    if not ckpt.is_file():
        raise FileNotFoundError(f"{folder} has result.json but no last.pt; copy the run's last.pt into that folder "
                                "(weights are read from the folder, not from the path stored in result.json).")
    cfg = dict(result["ae"])
    try:
        cfg["channels"] = tuple(cfg["channels"])
        model = AutoEncoder(AEConfig(**cfg))
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{folder}/result.json's 'ae' config does not build an smlib AutoEncoder "
                         f"({_first_line(e)}); was it written by another smlib version?") from e
    try:
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        weights = {k[3:]: v for k, v in state["model"].items() if k.startswith("ae.")}
        if not weights:
            raise KeyError("no 'ae.' weights in the checkpoint's model state")
        model.load_state_dict(weights)
    except Exception as e:  # noqa: BLE001 - any failure to read or fit the weights is the same one-line error
        raise ValueError(f"the weights in {ckpt} do not load into the AE its result.json describes "
                         f"({_first_line(e)}); re-copy last.pt from the run or retrain it.") from e
    desc = {"source": "smlib run folder", "run": folder.name, "variant": result.get("variant"),
            "preset": result.get("preset"), "seed": result.get("seed"), "steps": result.get("steps"),
            "key": result.get("key"), "dataset": result.get("dataset")}
    return wrap(model, desc)


def load_diffusers(where: str | Path) -> AuditedAutoencoder:
    """A diffusers ``AutoencoderKL`` from a local folder (config.json + weights) or, where the network allows, a
    hub id, via ``AutoencoderKL.from_pretrained``."""
    local = isinstance(where, Path) or Path(str(where)).is_dir()
    if local:
        try:
            cfg = json.loads((Path(where) / "config.json").read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"{where}/config.json is unreadable ({_first_line(e)}); {_NOT_AN_AE}.") from e
        name = cfg.get("_class_name") if isinstance(cfg, dict) else None
        if name != "AutoencoderKL" and not (isinstance(cfg, dict) and name is None and "latent_channels" in cfg
                                            and "block_out_channels" in cfg):
            raise ValueError(f"{where}/config.json describes {name or 'no diffusers model'}, not an AutoencoderKL; "
                             f"{_NOT_AN_AE}.")
    try:
        from diffusers import AutoencoderKL
    except ImportError as e:
        raise ValueError(f"reading a diffusers autoencoder needs diffusers ({e}); pip install diffusers==0.42.1.") from e
    try:
        model = AutoencoderKL.from_pretrained(str(where), low_cpu_mem_usage=False)
    except Exception as e:  # noqa: BLE001 - missing weights, bad shapes, no network: one line each
        where_text = f"the folder {where}" if local else f"the hub id {where!r} (no such local folder either)"
        raise ValueError(f"diffusers' AutoencoderKL.from_pretrained failed on {where_text} ({_first_line(e)}); "
                         "point at a folder with config.json and its weights file.") from e
    return wrap(model, {"source": "diffusers AutoencoderKL", "name": Path(str(where)).name if local else str(where)})


__all__ = ["AuditedAutoencoder", "wrap", "load_audited", "load_smlib_run", "load_diffusers"]
