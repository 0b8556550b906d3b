"""The autoencoder lab: train every regularizer variant with one budget, then measure reconstructions and latents.

    result = fit_autoencoder("dsm", preset="ci", dataset="cifar10")         # trains (or reuses) runs/autoencoders/...
    table = run_variants(["plain", "sd-vae", "esm"], preset="ci")            # several, plus a results file
    python -m smlib autoencoder --preset small --variant all                 # the same from the command line
    torchrun --nproc_per_node 8 -m smlib autoencoder --preset paper --variant dsm

A run is: build the AE and its :class:`~smlib.regularizers.AELoss` from a variant (:mod:`smlib.experiments.variants`)
and a preset; train it with :func:`smlib.train.fit` through :class:`AutoencoderTask` (with an optional PatchGAN
discriminator on alternate steps, the authors' protocol); evaluate it with :func:`evaluate_autoencoder`
(PSNR, SSIM, rFID-N and KID on TF-Inception pool3 features of held-out test images, and the latent diagnostics of
:mod:`smlib.metrics.latent`). Runs live in ``runs/autoencoders/<preset>/<variant>-<key>/`` where ``key`` hashes the
model, objective, data and optimiser settings (not the step count), so re-running a notebook reuses a finished run,
and a longer ``steps`` resumes it. Inception reference features are cached under the smlib cache
(``$SMLIB_CACHE`` or ``~/.cache/smlib``) in ``autoencoders/``.

Evaluation protocol (stated with every number): reconstructions decode a posterior *sample* (seeded), as the
authors' evaluation and the diffusion model see it; they are clamped to [-1, 1] and rounded to uint8 levels before
PSNR, SSIM and Inception. rFID-N compares the N reconstructions with the same N originals (FID-N: only comparable
at equal N); KID is the unbiased estimate over random subsets. The CIFAR-10 files here are JPEG q75, so none of
these numbers compare with published CIFAR-10 figures.
"""
from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import json
import math
import sys
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn

from smlib import presets
from smlib.atomic import atomic_path
from smlib.data import cache_dir, image_batch, load_dataset
from smlib.device import resolve_device
from smlib.experiments.variants import get_variant, list_variants, resolve_spec
from smlib.metrics.fid import ReferenceStats, fid_from_features, kid
from smlib.metrics.image import psnr, ssim, to_uint8_grid
from smlib.metrics.latent import lowpass_pair, noise_to_signal, spectrum_summary
from smlib.models.autoencoder import AutoEncoder, ae_config, count_parameters
from smlib.models.discriminator import PatchDiscriminator
from smlib.regularizers import GANLoss, AELoss, build_regularizers
from smlib.train import TrainConfig, fit, load_checkpoint, write_json
from smlib.train.checkpoint import canonical_config
from smlib.train.config import TRAJECTORY_KEYS
from smlib.train.distributed import is_initialized
from smlib.train.provenance import REPO_ROOT, provenance

CHAPTER = "autoencoders"
RUNS_ROOT = REPO_ROOT / "runs" / CHAPTER
RESULTS_ROOT = REPO_ROOT / "results" / CHAPTER
ALL_VARIANTS = tuple(list_variants())

# ---------------------------------------------------------------------------------------------- presets
_COMMON = dict(dataset="cifar10", resolution=32, ae="tiny-f4d4", variants=ALL_VARIANTS, delta=1.0, dsm_block=8,
               weight_decay=0.0, betas=(0.9, 0.999), grad_clip=1.0, hflip=False, lpips_weight=0.0,
               gan=False, gan_start=0, disc_weight=0.5, eval_seed=0, eval_batch=100, n_examples=4,
               lowpass_ks=(0, 4, 8, 10, 12), vf_encoder="efficientnet-lite2", vf_layer="blocks.4")
PRESETS = {
    # Minutes for all variants on 2 CPU cores: a narrow AE, a few hundred images, rFID-48 (rough by design).
    "ci": dict(_COMMON, ae_channels=(16, 32, 32), n_train=1024, steps=120, batch_size=16, lr=1e-3, warmup_steps=20,
               log_every=20, ckpt_every=120, fid_n=48, kid_subset=24, n_spectrum=128, lowpass_fid_ks=(),
               lowpass_fid_n=0, vf_input=64),
    # The book's table: about 5-8 minutes per variant on 2 CPU cores.
    "small": dict(_COMMON, ae_channels=(16, 32, 32), n_train=8192, steps=1500, batch_size=32, lr=1e-3,
                  warmup_steps=100, log_every=50, ckpt_every=250, fid_n=500, kid_subset=250, n_spectrum=500,
                  lowpass_fid_ks=(10,), lowpass_fid_n=200, vf_input=128),
    # The authors' recipe (notes §1.5) on CelebA at 256 px, f8d4, with LPIPS and the PatchGAN from step 50,001.
    "paper": dict(_COMMON, dataset="celeba", resolution=256, ae="f8d4", ae_channels=None, n_train=None, hflip=True,
                  steps=500_000, batch_size=48, lr=5e-5, warmup_steps=2000, weight_decay=0.005, log_every=100,
                  ckpt_every=10_000, lpips_weight=0.5, gan=True, gan_start=50_000, fid_n=50_000, kid_subset=1000,
                  n_spectrum=1000, lowpass_fid_ks=(4, 8, 10, 12), lowpass_fid_n=5000, eval_batch=50,
                  vf_encoder="dinov2-vitb14", vf_layer=None, vf_input=224),
}
presets.register(CHAPTER, PRESETS)


def resolve_config(preset: str = "ci", **overrides) -> SimpleNamespace:
    """The chapter's knobs at ``preset`` with non-None overrides (unknown knobs raise a one-line KeyError)."""
    known = set(PRESETS["ci"]) | set(PRESETS["paper"])
    unknown = sorted(k for k, v in overrides.items() if v is not None and k not in known)
    if unknown:
        raise KeyError(f"unknown autoencoder setting(s) {unknown}; known: {sorted(known)}.")
    return presets.resolve(CHAPTER, preset, **overrides)


def model_config(cfg: SimpleNamespace):
    """The :class:`~smlib.models.autoencoder.AEConfig` of a run: ``cfg.ae`` at ``cfg.resolution`` (+ channels)."""
    kw = {"resolution": int(cfg.resolution)}
    if getattr(cfg, "ae_channels", None):
        kw["channels"] = tuple(cfg.ae_channels)
    return ae_config(cfg.ae, **kw)


# ---------------------------------------------------------------------------------------------- VF features
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


def build_vf_source(cfg: SimpleNamespace, device="cpu") -> FeatureSource:
    """The VF loss's frozen encoder (``cfg.vf_encoder`` at ``cfg.vf_input`` px, layer ``cfg.vf_layer``)."""
    from smlib.models.encoders import build_encoder

    enc = build_encoder(cfg.vf_encoder, device=device, input_size=cfg.vf_input, layer=cfg.vf_layer)
    label = f"{enc.label}, layer {cfg.vf_layer or 'last'}, {enc.input_size} px -> {enc.grid[0]}x{enc.grid[1]}"
    return FeatureSource(enc, label)


@torch.no_grad()
def encode_features(encoder: nn.Module, images: torch.Tensor, batch: int = 64, device="cpu") -> torch.Tensor:
    """Frozen features of (N, 3, H, W) images -> (N, D, h, w) float32 on the CPU."""
    return torch.cat([encoder(images[i:i + batch].to(device)).float().cpu() for i in range(0, len(images), batch)])


# ---------------------------------------------------------------------------------------------- recipe
@dataclass
class AERecipe:
    """What one variant trains: the AE, its objective, an optional discriminator, the resolved spec and config."""

    variant: str
    model: AutoEncoder
    ae_loss: AELoss
    discriminator: PatchDiscriminator | None
    spec: dict
    config: SimpleNamespace
    vf_source: FeatureSource | None = None


def check_sizes(cfg: SimpleNamespace, spec: dict) -> int:
    """Latent side of the run; raises one clear line when the image or a DSM block does not fit it."""
    mc = model_config(cfg)
    if cfg.resolution % mc.factor:
        raise ValueError(f"resolution {cfg.resolution} is not a multiple of the AE factor f={mc.factor}.")
    latent = cfg.resolution // mc.factor
    if "dsm" in spec:
        block = int(spec["dsm"].get("block", 8))
        if latent % block or cfg.resolution % block:
            raise ValueError(f"DSM block {block} does not divide the {latent}x{latent} latent of {mc.name} at "
                             f"{cfg.resolution} px; set dsm_block to a divisor of {latent} (and of the image size).")
    return latent


def build_recipe(variant: str = "plain", preset: str = "ci", *, regularizers=None, vf_source: nn.Module | None = None,
                 device="cpu", seed: int = 0, **overrides) -> AERecipe:
    """Build the AE, its AELoss and (if ``cfg.gan``) a PatchGAN for a named variant (or a custom spec).

    regularizers: a :func:`smlib.regularizers.build_regularizers` spec that replaces the variant's (the variant
    name is then only a label). vf_source: the VF loss's frozen encoder (default: :func:`build_vf_source`).
    Weights are initialised from ``seed``. Unknown variants or regularizers and a DSM block that does not divide
    the latent raise ValueError.
    """
    cfg = resolve_config(preset, **overrides)
    if regularizers is None:
        spec = dict(get_variant(variant).spec)
    else:
        spec = {n: kw for n, kw in _spec_items(regularizers)}
    if "dsm" in spec:
        dsm = dict(spec["dsm"] or {})
        block = int(cfg.dsm_block)
        if block != int(dsm.get("block", 8)) and (regularizers is None or "ks" not in dsm):
            # the authors' family for 8x8 blocks keeps u+v <= 6, 4, 2; the same shape for b x b blocks
            dsm["ks"] = (0, block, block + block // 4, block + block // 2)
        dsm["block"] = block
        spec["dsm"] = dsm
    latent = check_sizes(cfg, spec)
    spec = resolve_spec(spec, latent)
    if "vf" in spec and vf_source is None:
        vf_source = build_vf_source(cfg, device="cpu")
    torch.manual_seed(seed)
    model = AutoEncoder(model_config(cfg))
    regs = build_regularizers(spec, latent_channels=model.latent_channels, vf_encoder=vf_source)
    lpips = None
    if cfg.lpips_weight > 0:
        from smlib.regularizers import LPIPS

        lpips = LPIPS()  # raises LPIPSUnavailableError offline: set lpips_weight=0
    ae_loss = AELoss(regs, lpips=lpips, lpips_weight=cfg.lpips_weight, gan=GANLoss(disc_weight=cfg.disc_weight))
    disc = PatchDiscriminator() if cfg.gan else None
    return AERecipe(variant, model, ae_loss, disc, spec, cfg, vf_source if "vf" in spec else None)


def _spec_items(spec) -> list[tuple[str, dict]]:
    from smlib.regularizers import _normalise_spec  # the registry's own parser: the same names and forms

    return _normalise_spec(spec)


# ---------------------------------------------------------------------------------------------- task
class TrainedAE(nn.Module):
    """The trained state of a run: the AE and the objective's own weights (VF's projection). ``ae``, ``objective``."""

    def __init__(self, ae: AutoEncoder, objective: AELoss):
        super().__init__()
        self.ae = ae
        self.objective = objective


class AutoencoderTask:
    """:class:`smlib.train.Task` for an :class:`AERecipe`. Batches are images (B, 3, H, W), an (images, labels)
    pair, or (images, vf_features). The discriminator (if any) is ``aux_model``; its loss sees the reconstruction
    target (x_M under DSM) as real, and the generator's adversarial term is on from ``gan_start`` (0-based)."""

    def __init__(self, recipe: AERecipe, data_config: dict | None = None):
        self.recipe = recipe
        self.model = TrainedAE(recipe.model, recipe.ae_loss)
        self.aux_model = recipe.discriminator
        self.gan_start = int(recipe.config.gan_start)
        self.data_config = dict(data_config or {})

    def _unpack(self, batch) -> torch.Tensor:
        if isinstance(batch, torch.Tensor):
            return batch
        x, extra = batch[0], batch[1]
        if self.recipe.vf_source is not None and isinstance(extra, torch.Tensor) and extra.ndim == 4:
            self.recipe.vf_source.provide(extra)
        return x

    def loss(self, batch, step: int):
        x = self._unpack(batch)
        disc = self.aux_model if self.aux_model is not None and step >= self.gan_start else None
        out = self.recipe.ae_loss(x, self.recipe.model, discriminator=disc)
        return out.loss, out.logs

    def aux_loss(self, batch, step: int):
        x = self._unpack(batch)
        with torch.no_grad():  # the generator's output, with this step's own random plans
            out = self.recipe.ae_loss(x, self.recipe.model)
        if not out.gan_applicable:  # EQ-VAE's down-scaled pairs are too small for a PatchGAN
            return 0.0 * self.aux_model(x).mean(), {"d_skipped": 1.0}
        return self.recipe.ae_loss.gan.discriminator_term(self.aux_model, out.x_target, out.x_hat)

    def setup(self, device) -> None:
        self.recipe.ae_loss.to(device)  # frozen helpers (VF encoder, LPIPS) follow the model

    def config_dict(self) -> dict:
        cfg = self.recipe.config
        return {
            "variant": self.recipe.variant, "spec": self.recipe.spec,
            "ae": model_config(cfg).to_dict(), "objective": self.recipe.ae_loss.describe(),
            "gan": {"start": self.gan_start, "disc_weight": cfg.disc_weight} if self.aux_model is not None else None,
            "data": self.data_config,
        }


# ---------------------------------------------------------------------------------------------- data
def data_description(cfg: SimpleNamespace, dataset: str, seed: int, vf: bool) -> dict:
    """What a run trains on, for its config (and so its key)."""
    desc = {"dataset": dataset, "split": "train", "resolution": int(cfg.resolution), "n_train": cfg.n_train,
            "data_seed": int(seed), "hflip": bool(cfg.hflip and cfg.n_train is None)}
    if vf and cfg.n_train is not None:
        desc["vf_features"] = "precomputed once per training image (no augmentation)"
    return desc


def training_data(recipe: AERecipe, dataset: str, data_root=None, seed: int = 0, device="cpu"):
    """What :func:`smlib.train.fit` trains on.

    With ``n_train`` set: that many training images as one tensor (a seeded random subset, the same for every
    variant with the same seed), paired with precomputed VF features for the vf variant (cached under the smlib
    cache). With ``n_train=None``: the whole split as a Dataset (random h-flips if ``hflip``).
    """
    cfg = recipe.config
    if cfg.n_train is None:
        return load_dataset(dataset, split="train", resolution=cfg.resolution, root=data_root, hflip=cfg.hflip)
    images = image_batch(dataset, int(cfg.n_train), cfg.resolution, split="train", seed=seed, root=data_root)
    if recipe.vf_source is None:
        return images
    key = f"vf-{cfg.vf_encoder}-{cfg.vf_layer}-{cfg.vf_input}px-{dataset}-train-{cfg.resolution}px-n{cfg.n_train}-s{seed}"
    path = cache_dir() / CHAPTER / f"{key}.pt"
    if path.is_file():
        feats = torch.load(path, map_location="cpu", weights_only=True)
    else:
        dev = resolve_device(device)
        feats = encode_features(recipe.vf_source.encoder.to(dev), images, device=dev)
        _atomic_torch_save(feats, path)
    return images, feats


def _atomic_torch_save(obj, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def eval_images(cfg: SimpleNamespace, dataset: str, data_root=None, n: int | None = None) -> torch.Tensor:
    """The held-out images every variant is scored on: a seeded (``eval_seed``) random subset of the test split.

    Returns (n, 3, R, R); the first k of them are the same images for any n >= k.
    """
    n = n or max(cfg.fid_n, cfg.n_spectrum, cfg.lowpass_fid_n, cfg.n_examples)
    return image_batch(dataset, int(n), cfg.resolution, split="test", seed=int(cfg.eval_seed), root=data_root)


def train_config(cfg: SimpleNamespace, seed: int, device, out_dir) -> TrainConfig:
    """The :class:`~smlib.train.TrainConfig` of a run (no EMA, constant LR after warm-up, G/D alternation)."""
    return TrainConfig(steps=int(cfg.steps), batch_size=int(cfg.batch_size), lr=float(cfg.lr),
                       weight_decay=float(cfg.weight_decay), betas=tuple(cfg.betas),
                       warmup_steps=int(cfg.warmup_steps), grad_clip=cfg.grad_clip, ema_decay=None, eval_every=None,
                       ckpt_every=int(cfg.ckpt_every), log_every=int(cfg.log_every), seed=int(seed),
                       device=str(device), out_dir=str(out_dir), aux_start_step=int(cfg.gan_start),
                       aux_alternate=True)


def run_key(task_config: dict, tc: TrainConfig) -> str:
    """10 hex digits identifying a run's trajectory: task config plus the trajectory keys of the TrainConfig."""
    train = tc.to_dict()
    blob = json.dumps(canonical_config({"task": task_config, "train": {k: train[k] for k in TRAJECTORY_KEYS}}),
                      sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:10]


# ---------------------------------------------------------------------------------------------- evaluation
@lru_cache(maxsize=2)
def _inception(device: str):
    from smlib.metrics.inception import InceptionFeatures

    return InceptionFeatures(device, batch_size=50)


def inception_features(images: torch.Tensor, device="cpu") -> np.ndarray:
    """TF-Inception pool3 features of (N, 3, H, W) images in [-1, 1] (rounded to uint8 levels) -> (N, 2048)."""
    return _inception(str(resolve_device(device)))(images)


def reference_features(images: torch.Tensor, key: str, device="cpu") -> np.ndarray:
    """Inception features of a reference set, cached as ``<cache>/autoencoders/ref-<key>.npy``. (N, 2048)."""
    path = cache_dir() / CHAPTER / f"ref-{key}-n{len(images)}-inception-pool3-tf.npy"
    if path.is_file():
        feats = np.load(path)
        if feats.shape[0] == len(images):
            return feats
    feats = inception_features(images, device)
    with atomic_path(path) as tmp:
        np.save(tmp, feats)
    return feats


def _fid_kid(recon: np.ndarray, ref: np.ndarray, subset: int) -> dict:
    r = fid_from_features(recon, ReferenceStats.from_features(ref))
    k_mean, k_std = kid(recon, ref, subset_size=min(subset, len(recon), len(ref)), n_subsets=100, seed=0)
    return {"fid": r.fid, "fid_label": r.label, "kid": k_mean, "kid_std": k_std}


def pack_uint8(x: torch.Tensor) -> dict:
    """(N, 3, H, W) in [-1, 1], or already uint8 -> {"shape", "b64"}: uint8 bytes, base64, for small example
    grids in JSON."""
    if x.dtype != torch.uint8:
        x = torch.round((x.clamp(-1, 1) + 1) * 127.5).to(torch.uint8)
    u8 = x.cpu().numpy()
    return {"shape": list(u8.shape), "b64": base64.b64encode(u8.tobytes()).decode()}


def unpack_uint8(packed: dict) -> np.ndarray:
    """Inverse of the example packing: -> (N, 3, H, W) uint8 array."""
    return np.frombuffer(base64.b64decode(packed["b64"]), dtype=np.uint8).reshape(packed["shape"])


def eval_settings(cfg: SimpleNamespace) -> dict:
    """The evaluation knobs a cached result must match."""
    keys = ("fid_n", "kid_subset", "n_spectrum", "delta", "lowpass_ks", "lowpass_fid_ks", "lowpass_fid_n",
            "n_examples", "eval_seed", "dsm_block")
    return canonical_config({k: getattr(cfg, k) for k in keys})


@torch.no_grad()
def evaluate_autoencoder(model: AutoEncoder, cfg: SimpleNamespace, dataset: str = "cifar10", data_root=None,
                         device="auto", images: torch.Tensor | None = None) -> dict:
    """Score an AE on held-out images: reconstruction metrics and latent diagnostics.

    images: (N, 3, R, R) (default :func:`eval_images`). Returns a flat dict of floats plus ``spectra`` (16-bin
    lists), ``lowpass_psnr`` / ``lowpass_fid`` ({k: value}) and ``examples`` (packed uint8 grids). ``fid_n`` = 0
    skips Inception (rFID, KID, low-pass FID). Reconstructions decode a seeded posterior sample.
    """
    dev = resolve_device(device)
    x = (eval_images(cfg, dataset, data_root) if images is None else images).to(dev)
    model = model.to(dev).eval()
    gen = torch.Generator(device=dev).manual_seed(int(cfg.eval_seed))
    mus, logvars, zs, recons = [], [], [], []
    for chunk in x.split(int(cfg.eval_batch)):
        post = model.encode(chunk)
        z = post.sample(gen)
        mus.append(post.mean)
        logvars.append(post.logvar)
        zs.append(z)
        recons.append(model.decode(z).clamp(-1, 1))
    mu, logvar, z, x_hat = (torch.cat(t) for t in (mus, logvars, zs, recons))
    x_hat_u8 = to_uint8_grid(x_hat)
    out = {"n_eval": int(len(x)), "psnr": float(psnr(x_hat_u8, x).mean()), "ssim": float(ssim(x_hat_u8, x).mean()),
           "l1": float((x_hat - x).abs().mean()), "noise_to_signal": noise_to_signal(mu, logvar),
           "latent_shape": list(z.shape[1:]), "reconstruct_from": "posterior sample (seeded)"}
    # latent diagnostics, on the sampled latent (what the authors measure and a diffusion model trains on) and mean
    n_s = min(int(cfg.n_spectrum), len(x))
    summary = spectrum_summary(x[:n_s].cpu(), z[:n_s].cpu(), delta=cfg.delta)
    summary_mu = spectrum_summary(x[:n_s].cpu(), mu[:n_s].cpu(), delta=cfg.delta)
    spectra = {k: summary.pop(k) for k in list(summary) if k.startswith("p_")}
    spectra["p_mu"], spectra["p_mu_dc"] = summary_mu["p_z"], summary_mu["p_z_dc"]
    out.update(summary)
    out.update({"kl_to_target_mean": summary_mu["kl_to_target"], "psd_slope_mean": summary_mu["psd_slope_latent"],
                "rmsc_mean": summary_mu["rmsc"]})
    out["spectra"] = spectra
    # low-pass decoding with the shared block-DCT mask (DSM's frequency correspondence)
    block, lp_psnr, lp_imgs = int(cfg.dsm_block), {}, {}
    for k in cfg.lowpass_ks:
        x_m, z_m = lowpass_pair(x[:n_s], z[:n_s], int(k), block)
        rec = torch.cat([model.decode(c) for c in z_m.split(int(cfg.eval_batch))]).clamp(-1, 1)
        lp_psnr[str(k)] = float(psnr(to_uint8_grid(rec), to_uint8_grid(x_m)).mean())
        lp_imgs[int(k)] = (x_m[:cfg.n_examples], rec[:cfg.n_examples])
    out["lowpass_psnr"] = lp_psnr
    # Inception metrics
    key = f"{dataset}-test-{cfg.resolution}px-seed{cfg.eval_seed}"
    if cfg.fid_n:
        n = min(int(cfg.fid_n), len(x))
        r = _fid_kid(inception_features(x_hat[:n], dev), reference_features(x[:n], key, dev), cfg.kid_subset)
        out.update({"rfid": r["fid"], "rfid_label": r["fid_label"].replace("FID", "rFID"), "fid_n": n,
                    "kid": r["kid"], "kid_std": r["kid_std"]})
    lp_fid = {}
    for k in cfg.lowpass_fid_ks if cfg.fid_n else ():
        n = min(int(cfg.lowpass_fid_n), len(x))
        x_m, z_m = lowpass_pair(x[:n], z[:n], int(k), block)
        rec = torch.cat([model.decode(c) for c in z_m.split(int(cfg.eval_batch))]).clamp(-1, 1)
        ref = reference_features(to_uint8_grid(x_m), f"{key}-lowpass-b{block}-k{k}", dev)
        lp_fid[str(k)] = _fid_kid(inception_features(rec, dev), ref, cfg.kid_subset)["fid"]
    out["lowpass_fid"], out["lowpass_fid_n"] = lp_fid, (min(int(cfg.lowpass_fid_n), len(x)) if lp_fid else 0)
    e = int(cfg.n_examples)
    out["examples"] = {"original": pack_uint8(x[:e]), "reconstruction": pack_uint8(x_hat[:e]),
                       **{f"lowpass_target_k{k}": pack_uint8(t) for k, (t, _) in lp_imgs.items()},
                       **{f"lowpass_decoded_k{k}": pack_uint8(r) for k, (_, r) in lp_imgs.items()}}
    return out


# ---------------------------------------------------------------------------------------------- one run
def _rank() -> int:
    return torch.distributed.get_rank() if is_initialized() else 0


def run_dir_for(preset: str, variant: str, key: str, root: str | Path | None = None) -> Path:
    """``<root or runs/autoencoders>/<preset>/<variant>-<key>``."""
    return Path(root or RUNS_ROOT) / preset / f"{variant}-{key}"


def fit_autoencoder(variant: str = "plain", preset: str = "ci", dataset: str | None = None, data_root=None,
                    device="auto", seed: int = 0, out_dir: str | Path | None = None, *, regularizers=None,
                    runs_root: str | Path | None = None, force: bool = False, evaluate: bool = True,
                    progress: bool = False, **overrides) -> dict:
    """Train (or resume, or reuse) one variant and evaluate it; returns a JSON-able result dict.

    out_dir: the run folder (default ``runs/autoencoders/<preset>/<variant>-<key>``; an existing checkpoint there
    written for another config raises ValueError). A finished run with the same key, steps and evaluation
    settings is returned from its ``result.json`` (``"cached": True``) unless ``force`` (which also retrains from
    scratch). ``overrides`` are preset knobs (``steps=``, ``n_train=``, ``fid_n=`` ...). Under torchrun every rank
    trains; only rank 0 evaluates and writes.
    """
    t0 = time.time()
    dev = resolve_device(device)
    cfg = resolve_config(preset, dataset=dataset, **overrides)
    dataset = cfg.dataset
    name = variant if regularizers is None else (variant if variant != "plain" else "custom")
    recipe = build_recipe(variant, preset, regularizers=regularizers, seed=seed, dataset=dataset, **overrides)
    recipe.variant = name
    task = AutoencoderTask(recipe, data_description(cfg, dataset, seed, recipe.vf_source is not None))
    probe = train_config(cfg, seed, dev, "unused")
    key = run_key(task.config_dict(), probe)
    run_dir = Path(out_dir) if out_dir is not None else run_dir_for(preset, name, key, runs_root)
    result_path = run_dir / "result.json"
    if result_path.is_file() and not force:
        cached = json.loads(result_path.read_text())
        if (cached.get("key") == key and cached.get("steps") == int(cfg.steps)
                and (not evaluate or cached.get("eval_settings") == eval_settings(cfg))):
            cached["cached"] = True
            return cached
    data = training_data(recipe, dataset, data_root, seed, dev)
    tc = train_config(cfg, seed, dev, run_dir)
    train = fit(task, tc, data, resume=not force, progress=progress)
    if _rank() != 0:
        return {"variant": name, "rank": _rank(), "steps": train.step}
    result = {
        "variant": name, "preset": preset, "key": key, "steps": train.step, "completed": train.completed,
        "run_dir": str(run_dir), "checkpoint": str(train.checkpoint), "dataset": dataset, "seed": int(seed),
        "spec": canonical_config(recipe.spec), "objective": recipe.ae_loss.describe(),
        "ae": model_config(cfg).to_dict(), "ae_parameters": count_parameters(recipe.model),
        "train": {k: v for k, v in tc.to_dict().items() if k not in ("out_dir",)},
        "train_logs": train.train_logs, "train_wall_time_s": round(train.wall_time_s, 1),
        "device": train.device, "eval_settings": eval_settings(cfg), "cached": False,
    }
    if evaluate and train.completed:
        t_eval = time.time()
        result["metrics"] = evaluate_autoencoder(recipe.model, cfg, dataset, data_root, dev)
        result["eval_wall_time_s"] = round(time.time() - t_eval, 1)
    result["wall_time_this_call_s"] = round(time.time() - t0, 1)
    result["provenance"] = provenance()
    if train.completed:
        write_json(result_path, result)
    return result


def load_autoencoder(result: dict | str | Path, device="cpu") -> AutoEncoder:
    """The trained AE of a run (a result dict, its ``result.json`` or the run folder), weights from ``last.pt``."""
    if not isinstance(result, dict):
        p = Path(result)
        result = json.loads((p / "result.json" if p.is_dir() else p).read_text())
    cfg = dict(result["ae"])
    cfg["channels"] = tuple(cfg["channels"])
    from smlib.models.autoencoder import AEConfig

    model = AutoEncoder(AEConfig(**cfg))
    state = load_checkpoint(result["checkpoint"])["model"]
    model.load_state_dict({k[3:]: v for k, v in state.items() if k.startswith("ae.")})
    return model.to(resolve_device(device)).eval()


# ---------------------------------------------------------------------------------------------- many runs
TABLE_COLUMNS = ("variant", "steps", "rfid", "fid_n", "kid", "kid_std", "psnr", "ssim", "kl_to_target",
                 "l1_to_target", "kl_to_target_unitstd", "psd_slope_latent", "psd_slope_image_at_latent", "rmsc",
                 "noise_to_signal", "latent_std", "train_wall_time_s")


def table_rows(results: dict[str, dict]) -> list[dict]:
    """One flat row per variant (the columns of ``TABLE_COLUMNS`` plus ``lowpass_psnr_k*`` and ``lowpass_fid_k*``)."""
    rows = []
    for name, r in results.items():
        m = r.get("metrics", {})
        row = {c: m.get(c, r.get(c)) for c in TABLE_COLUMNS}
        row["variant"] = name
        row.update({f"lowpass_psnr_k{k}": v for k, v in m.get("lowpass_psnr", {}).items()})
        row.update({f"lowpass_fid_k{k}": v for k, v in m.get("lowpass_fid", {}).items()})
        rows.append(row)
    return rows


def write_results(results: dict[str, dict], path: str | Path, header: dict) -> Path:
    """Write ``path`` (.json: header + every run without its example images) and a sibling ``.csv`` table; the
    example grids go to ``<stem>_examples.json``."""
    path = Path(path)
    runs = {n: {k: v for k, v in r.items() if k != "metrics"} | {"metrics": {k: v for k, v in r.get("metrics", {}).items()
                                                                            if k != "examples"}}
            for n, r in results.items()}
    write_json(path, {**header, "runs": runs})
    write_json(path.with_name(path.stem + "_examples.json"),
               {n: r.get("metrics", {}).get("examples") for n, r in results.items()})
    rows = table_rows(results)
    cols = list(dict.fromkeys(k for row in rows for k in row))
    with atomic_path(path.with_suffix(".csv")) as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        for row in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    return path


def run_variants(variants=None, preset: str = "ci", dataset: str | None = None, data_root=None, device="auto",
                 seed: int = 0, results_path: str | Path | None = None, runs_root: str | Path | None = None,
                 force: bool = False, progress: bool = False, **overrides) -> dict[str, dict]:
    """:func:`fit_autoencoder` for each variant (default: the preset's list), in order; returns {name: result}.

    With ``results_path`` the aggregate (header with provenance, command and total wall time, every run's result,
    a CSV table) is rewritten after every variant, so a long run shows its progress and survives interruption:
    rerunning the same command resumes the unfinished variant and reuses the finished ones.
    """
    cfg = resolve_config(preset, dataset=dataset, **overrides)
    names = list(cfg.variants if variants in (None, "all", ["all"]) else variants)
    t0, results = time.time(), {}
    for name in names:
        results[name] = fit_autoencoder(name, preset, dataset, data_root, device, seed, runs_root=runs_root,
                                        force=force, progress=progress, **overrides)
        if results_path is not None and _rank() == 0:
            done = [n for n in names if n in results and results[n].get("metrics")]
            header = {"chapter": CHAPTER, "preset": preset, "dataset": cfg.dataset, "seed": seed,
                      "variants_planned": names, "variants_done": done, "complete": len(done) == len(names),
                      "settings": canonical_config(vars(cfg)),
                      "total_wall_time_s_this_call": round(time.time() - t0, 1),
                      "total_train_wall_time_s": round(sum(r.get("train_wall_time_s", 0) for r in results.values()), 1),
                      "total_eval_wall_time_s": round(sum(r.get("eval_wall_time_s", 0) for r in results.values()), 1),
                      "protocol": ("rFID-N and KID: TF-Inception pool3 features of N reconstructions (posterior "
                                   "sample, uint8) vs the same N originals of the test split (seeded subset); "
                                   "PSNR/SSIM on uint8-rounded reconstructions; spectra on the posterior sample, "
                                   "16 bins, KL(target || latent) per image with DC removed; CIFAR-10 files are "
                                   "JPEG q75"),
                      "provenance": provenance()}
            write_results(results, results_path, header)
    return results


# ---------------------------------------------------------------------------------------------- CLI
def _parse_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def cli(argv: list[str] | None = None) -> None:
    """``python -m smlib autoencoder --preset small --variant all [--results results/autoencoders/small.json]``."""
    p = argparse.ArgumentParser(prog="python -m smlib autoencoder",
                                description="Train and evaluate autoencoder variants (resumable; finished runs are "
                                            "reused from runs/autoencoders/).")
    p.add_argument("--preset", default="ci", choices=sorted(PRESETS))
    p.add_argument("--variant", default="all",
                   help=f"'all' or comma-separated names: {', '.join(ALL_VARIANTS)}")
    p.add_argument("--regularizer", default=None,
                   help="custom recipe instead of a variant: comma-separated regularizer names, or a JSON spec "
                        "like '{\"esm\": {\"delta\": 0.6}}'")
    p.add_argument("--dataset", default=None)
    p.add_argument("--data-root", default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--out-dir", default=None, help="run folder (one variant only)")
    p.add_argument("--runs-root", default=None, help="where run folders go (default runs/autoencoders)")
    p.add_argument("--results", default=None, help="aggregate JSON (+ CSV) to write, e.g. results/autoencoders/small.json")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a preset knob (JSON value)")
    p.add_argument("--force", action="store_true", help="retrain from scratch and re-evaluate")
    p.add_argument("--progress", action="store_true")
    args = p.parse_args(argv)
    overrides = {}
    for item in args.set:
        if "=" not in item:
            p.error(f"--set expects KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        overrides[k.strip()] = _parse_value(v)
    if args.steps is not None:
        overrides["steps"] = args.steps
    try:
        if args.regularizer is not None:
            spec = _parse_value(args.regularizer)
            spec = spec.split(",") if isinstance(spec, str) else spec
            r = fit_autoencoder("custom", args.preset, args.dataset, args.data_root, args.device, args.seed,
                                args.out_dir, regularizers=spec, runs_root=args.runs_root, force=args.force,
                                progress=args.progress, **overrides)
            results = {r["variant"]: r}
            if args.results:
                write_results(results, args.results, {"preset": args.preset, "provenance": provenance()})
        elif args.out_dir is not None:
            names = args.variant.split(",")
            if len(names) != 1 or names[0] == "all":
                p.error("--out-dir needs exactly one --variant")
            r = fit_autoencoder(names[0], args.preset, args.dataset, args.data_root, args.device, args.seed,
                                args.out_dir, force=args.force, progress=args.progress, **overrides)
            results = {names[0]: r}
        else:
            variants = None if args.variant == "all" else args.variant.split(",")
            results = run_variants(variants, args.preset, args.dataset, args.data_root, args.device, args.seed,
                                   results_path=args.results, runs_root=args.runs_root, force=args.force,
                                   progress=args.progress, **overrides)
    except (ValueError, KeyError, FileNotFoundError) as err:
        sys.exit(f"error: {err}")
    if _rank() == 0:
        for row in table_rows(results):
            print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()
                           if v is not None and not (isinstance(v, float) and math.isnan(v))))


__all__ = ["PRESETS", "ALL_VARIANTS", "resolve_config", "model_config", "build_recipe", "AERecipe", "AutoencoderTask",
           "TrainedAE", "FeatureSource", "build_vf_source", "data_description", "training_data", "eval_images", "train_config", "run_key",
           "evaluate_autoencoder", "fit_autoencoder", "load_autoencoder", "run_variants", "write_results",
           "table_rows", "reference_features", "inception_features", "unpack_uint8", "cli"]
