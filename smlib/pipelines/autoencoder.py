"""The autoencoder pipeline (chapter 4's lab, and the autoencoders chapters 3, 5 and 6 diffuse or measure): train
every regularizer variant with one budget, then score reconstructions and latents.

    cfg = AutoencoderConfig.at("ci", dataset="cifar10")
    result = fit_autoencoder("dsm", cfg)                      # trains (or reuses) runs/autoencoders/ci/dsm-<key>
    model = load_autoencoder(result)                          # its weights, from the run folder
    python -m smlib autoencoder --preset small --variant all --seeds 0 1 2   # chapter 4's sweep
    torchrun --nproc_per_node 8 -m smlib autoencoder --preset paper --variant dsm

A run is: build the AE and its :class:`~smlib.regularizers.AELoss` from a variant
(:mod:`smlib.pipelines.autoencoder_config`) and a config (:class:`AutoencoderConfig`); train it with
:func:`smlib.train.fit` through :class:`AutoencoderTask` (with an optional PatchGAN discriminator on alternate
steps, the authors' protocol); evaluate it with :func:`smlib.metrics.reconstruction.evaluate_autoencoder` (PSNR,
SSIM, rFID-N and KID on TF-Inception pool3 features of held-out test images, and the latent diagnostics of
:mod:`smlib.metrics.latent`). Runs live in ``runs/autoencoders/<preset>/<variant>-<key>/`` where ``key`` hashes the
model, objective, data and optimiser settings (not the step count), so re-running a notebook reuses a finished run,
and a longer ``steps`` resumes it. The CIFAR-10 files here are JPEG q75, so none of the numbers compare with
published CIFAR-10 figures.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from smlib.atomic import atomic_path
from smlib.data import cache_dir, image_batch, load_dataset
from smlib.device import resolve_device
from smlib.metrics.reconstruction import EVAL_SETTINGS, evaluate_autoencoder
from smlib.models.autoencoder import AutoEncoder, ae_config
from smlib.models.discriminator import PatchDiscriminator
from smlib.models.factory import count_parameters
from smlib.pipelines.autoencoder_config import AutoencoderConfig, get_variant, resolve_spec
from smlib.pipelines.autoencoder_runs import folder_record, load_autoencoder, located, read_run, weights_file
from smlib.provenance import provenance, repo_relative
from smlib.regularizers import AELoss, GANLoss, build_regularizers, normalise_spec
from smlib.regularizers.vf import FeatureSource, encode_features
from smlib.results import check_writable, pack_uint8, read_result, runs_root, write_result
from smlib.train import TrainConfig, fit, load_checkpoint
from smlib.train.checkpoint import canonical_config
from smlib.train.config import TRAJECTORY_KEYS
from smlib.train.distributed import is_initialized

#: where the pipeline keeps its run folders and caches (``runs/autoencoders/``) and chapter 4 its results
CHAPTER = "autoencoders"


def model_config(cfg: AutoencoderConfig):
    """The :class:`~smlib.models.autoencoder.AEConfig` of a run: ``cfg.ae`` at ``cfg.resolution`` (+ channels)."""
    kw = {"resolution": int(cfg.resolution)}
    if getattr(cfg, "ae_channels", None):
        kw["channels"] = tuple(cfg.ae_channels)
    return ae_config(cfg.ae, **kw)


# ---------------------------------------------------------------------------------------------- VF features
def build_vf_source(cfg: AutoencoderConfig, device="cpu") -> FeatureSource:
    """The VF loss's frozen encoder (``cfg.vf_encoder`` at ``cfg.vf_input`` px, layer ``cfg.vf_layer``)."""
    from smlib.models.encoders import build_encoder

    enc = build_encoder(cfg.vf_encoder, device=device, input_size=cfg.vf_input, layer=cfg.vf_layer)
    label = f"{enc.label}, layer {cfg.vf_layer or 'last'}, {enc.input_size} px -> {enc.grid[0]}x{enc.grid[1]}"
    return FeatureSource(enc, label)


# ---------------------------------------------------------------------------------------------- recipe
@dataclass
class AERecipe:
    """What one variant trains: the AE, its objective, an optional discriminator, the resolved spec and config."""

    variant: str
    model: AutoEncoder
    ae_loss: AELoss
    discriminator: PatchDiscriminator | None
    spec: dict
    config: AutoencoderConfig
    vf_source: FeatureSource | None = None


def check_sizes(cfg: AutoencoderConfig, spec: dict) -> int:
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


def build_recipe(variant: str = "plain", cfg: AutoencoderConfig | str = "ci", *, regularizers=None,
                 vf_source: nn.Module | None = None, seed: int = 0) -> AERecipe:
    """Build the AE, its AELoss and (if ``cfg.gan``) a PatchGAN for a named variant (or a custom spec).

    regularizers: a :func:`smlib.regularizers.build_regularizers` spec that replaces the variant's (the variant
    name is then only a label). vf_source: the VF loss's frozen encoder (default: :func:`build_vf_source`).
    Weights are initialised from ``seed``. Unknown variants or regularizers and a DSM block that does not divide
    the latent raise ValueError.
    """
    cfg = AutoencoderConfig.resolve(cfg)
    if regularizers is None:
        spec = dict(get_variant(variant).spec)
    else:
        spec = {n: kw for n, kw in normalise_spec(regularizers)}
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

    def __init__(self, recipe: AERecipe, data_config: dict | None = None, init: dict | None = None):
        self.recipe = recipe
        self.model = TrainedAE(recipe.model, recipe.ae_loss)
        self.aux_model = recipe.discriminator
        self.gan_start = int(recipe.config.gan_start)
        self.data_config = dict(data_config or {})
        self.init = dict(init or {})   # the run a fine-tuning starts from (part of the run's key)

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
            **({"init": self.init} if self.init else {}),
        }


# ---------------------------------------------------------------------------------------------- data
def data_description(cfg: AutoencoderConfig, dataset: str, seed: int, vf: bool) -> dict:
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


def eval_images(cfg: AutoencoderConfig, dataset: str, data_root=None, n: int | None = None) -> torch.Tensor:
    """The held-out images every variant is scored on: a seeded (``eval_seed``) random subset of the test split.

    Returns (n, 3, R, R); the first k of them are the same images for any n >= k.
    """
    n = n or max(cfg.fid_n, cfg.n_spectrum, cfg.lowpass_fid_n, cfg.n_examples)
    return image_batch(dataset, int(n), cfg.resolution, split="test", seed=int(cfg.eval_seed), root=data_root)


def check_inputs(cfg: AutoencoderConfig, *, data_root=None, evaluate: bool = True, run_dir=None) -> None:
    """What a run needs, checked before its first step, each failure one line saying which knob to set: the training
    split holds ``n_train`` images, the test split exists and holds the images the evaluation scores
    (:func:`eval_images`), and the run folder can be written."""
    train = load_dataset(cfg.dataset, split="train", resolution=cfg.resolution, root=data_root)
    if cfg.n_train is not None and not 1 <= int(cfg.n_train) <= len(train):
        raise ValueError(f"n_train={cfg.n_train} but the {cfg.dataset} train split has {len(train)} images; set "
                         f"n_train to at most {len(train)} (--set n_train={len(train)}), or to null for the whole "
                         "split (--set n_train=null).")
    if evaluate:
        try:
            test = load_dataset(cfg.dataset, split="test", resolution=cfg.resolution, root=data_root)
        except ValueError as e:
            raise ValueError(f"the lab scores every run on held-out test images, but {e}") from None
        knobs = ("fid_n", "n_spectrum", "lowpass_fid_n", "n_examples")
        n = max(int(getattr(cfg, k)) for k in knobs)
        if n > len(test):
            raise ValueError(f"the evaluation needs {n} test images (the largest of {', '.join(knobs)}) but the "
                             f"{cfg.dataset} test split has {len(test)}; lower those knobs to at most {len(test)} "
                             f"(--set {max(knobs, key=lambda k: int(getattr(cfg, k)))}={len(test)}) or add test "
                             "images.")
    if run_dir is not None:
        check_writable(run_dir, "run folder (under runs_dir, --runs-dir)")


def train_config(cfg: AutoencoderConfig, seed: int, device, out_dir) -> TrainConfig:
    """The :class:`~smlib.train.TrainConfig` of a run (no EMA, constant LR after warm-up, G/D alternation)."""
    return cfg.train_config(seed=seed, device=device, out_dir=out_dir, aux_start_step=int(cfg.gan_start),
                            aux_alternate=True)


def run_key(task_config: dict, tc: TrainConfig) -> str:
    """10 hex digits identifying a run's trajectory: task config plus the trajectory keys of the TrainConfig."""
    train = tc.to_dict()
    blob = json.dumps(canonical_config({"task": task_config, "train": {k: train[k] for k in TRAJECTORY_KEYS}}),
                      sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:10]


# ---------------------------------------------------------------------------------------------- one run
def eval_settings(cfg: AutoencoderConfig) -> dict:
    """The evaluation knobs a cached result must match."""
    return canonical_config({k: getattr(cfg, k) for k in EVAL_SETTINGS})

def _rank() -> int:
    return torch.distributed.get_rank() if is_initialized() else 0


def run_dir_for(preset: str, variant: str, key: str, runs_dir: str | Path | None = None) -> Path:
    """``<runs_dir or runs>/autoencoders/<preset>/<variant>-<key>``."""
    return runs_root(runs_dir) / CHAPTER / preset / f"{variant}-{key}"


def fit_autoencoder(variant: str = "plain", cfg: AutoencoderConfig | str = "ci", *, data_root=None, device="auto",
                    seed: int = 0, out_dir: str | Path | None = None, regularizers=None,
                    runs_dir: str | Path | None = None, force: bool = False, evaluate: bool = True,
                    progress: bool = False) -> dict:
    """Train (or resume, or reuse) one variant and evaluate it; returns a JSON-able result dict.

    cfg: an :class:`AutoencoderConfig` (or a preset name). out_dir: the run folder (default
    ``runs/autoencoders/<preset>/<variant>-<key>``; an existing checkpoint there written for another config raises
    ValueError). A finished run with the same key, steps and evaluation settings is returned from its
    ``result.json`` (``"cached": True``) unless ``force`` (which also retrains from scratch). Before the first step
    the data and the run folder are checked (:func:`check_inputs`). Under torchrun every rank trains; only rank 0
    evaluates and writes. Paths in the returned result are repo-relative (absolute outside the checkout); the
    folder's own ``result.json`` names its files relative to the folder (:func:`folder_record`).
    """
    t0 = time.time()
    dev = resolve_device(device)
    cfg = AutoencoderConfig.resolve(cfg)
    dataset = cfg.dataset
    name = variant if regularizers is None else (variant if variant != "plain" else "custom")
    recipe = build_recipe(variant, cfg, regularizers=regularizers, seed=seed)
    recipe.variant = name
    init = None
    if regularizers is None and get_variant(variant).init_from:   # fine-tune another variant's finished run
        init, state, cfg = finetune_start(variant, cfg, data_root=data_root, device=dev, seed=seed,
                                          runs_dir=runs_dir, evaluate=evaluate, progress=progress)
        recipe.model.load_state_dict(state)
        recipe.config = cfg
    task = AutoencoderTask(recipe, data_description(cfg, dataset, seed, recipe.vf_source is not None),
                           init=init and {k: init[k] for k in FINETUNE_IDENTITY})
    probe = train_config(cfg, seed, dev, "unused")
    key = run_key(task.config_dict(), probe)
    run_dir = Path(out_dir) if out_dir is not None else run_dir_for(cfg.preset, name, key, runs_dir)
    result_path = run_dir / "result.json"
    cached = read_result(result_path) if not force else None     # a corrupt file is named in one line
    if (cached is not None and cached.get("key") == key and cached.get("steps") == int(cfg.steps)
            and (not evaluate or cached.get("eval_settings") == eval_settings(cfg))):
        return {**located(cached, run_dir), "cached": True}
    check_inputs(cfg, data_root=data_root, evaluate=evaluate, run_dir=run_dir)
    data = training_data(recipe, dataset, data_root, seed, dev)
    tc = train_config(cfg, seed, dev, run_dir)
    train = fit(task, tc, data, resume=not force, progress=progress)
    if _rank() != 0:
        return {"variant": name, "rank": _rank(), "steps": train.step}
    result = {
        "variant": name, "preset": cfg.preset, "key": key, "steps": train.step, "completed": train.completed,
        "run_dir": repo_relative(run_dir), "checkpoint": repo_relative(train.checkpoint), "dataset": dataset,
        "seed": int(seed),
        "spec": canonical_config(recipe.spec), "objective": recipe.ae_loss.describe(),
        "ae": model_config(cfg).to_dict(), "ae_parameters": count_parameters(recipe.model),
        "train": {k: v for k, v in tc.to_dict().items() if k != "out_dir"},
        "train_logs": train.train_logs, "train_wall_time_s": round(train.wall_time_s, 1),
        "device": train.device, "eval_settings": eval_settings(cfg), "cached": False,
    }
    if init is not None:   # which run this one was fine-tuned from, and the steps of both
        result.update(init, total_steps=int(init["init_steps"]) + int(train.step))
    if evaluate and train.completed:
        t_eval = time.time()
        metrics = evaluate_autoencoder(recipe.model, eval_images(cfg, dataset, data_root), cfg, dataset=dataset,
                                       device=dev)
        metrics["examples"] = {k: pack_uint8(v) for k, v in metrics["examples"].items()}
        result["metrics"] = metrics
        result["eval_wall_time_s"] = round(time.time() - t_eval, 1)
    result["wall_time_this_call_s"] = round(time.time() - t0, 1)
    result["provenance"] = provenance()
    if train.completed:
        write_result(result_path, folder_record(result))
    return result


# ---------------------------------------------------------------------------------------------- fine-tuning
#: the fields of a fine-tuning's start that enter its run key (the base run's folder does not: runs_dir may move)
FINETUNE_IDENTITY = ("init_from", "init_key", "init_steps", "finetune_share", "finetune_steps")


def finetune_start(variant: str, cfg: AutoencoderConfig | str = "ci", *, data_root=None, device="auto", seed: int = 0,
                   runs_dir: str | Path | None = None, evaluate: bool = True,
                   progress: bool = False) -> tuple[dict, dict, AutoencoderConfig]:
    """Where a variant with ``init_from`` starts: (record, AE state dict, config). Trains or reuses, with
    :func:`fit_autoencoder`, the ``init_from`` variant's run of the same preset, config and seed, and returns its
    final AE weights, the fine-tuning config (``steps`` = round(finetune_share * cfg.steps), at least 1) and a record
    for the result: ``init_from``, ``init_key``, ``init_run`` (its folder), ``init_steps``, ``finetune_share``,
    ``finetune_steps``. The base run's folder is recomputed from its key, so every rank of a torchrun finds it."""
    cfg = AutoencoderConfig.resolve(cfg)
    v = get_variant(variant)
    if not v.init_from or not 0.0 < v.finetune_share:
        raise ValueError(f"variant {variant!r} is trained from scratch (no init_from and a positive finetune_share).")
    base = fit_autoencoder(v.init_from, cfg, data_root=data_root, device=device, seed=seed, runs_dir=runs_dir,
                           evaluate=evaluate, progress=progress)
    probe = build_recipe(v.init_from, cfg, seed=seed)   # its key, as fit_autoencoder computes it
    task = AutoencoderTask(probe, data_description(cfg, cfg.dataset, seed, probe.vf_source is not None))
    key = run_key(task.config_dict(), train_config(cfg, seed, resolve_device(device), "unused"))
    folder = run_dir_for(cfg.preset, v.init_from, key, runs_dir)
    if base.get("key", key) != key:
        raise ValueError(f"the {v.init_from} run has key {base['key']}, expected {key}; report this as a bug.")
    if int(base.get("steps", -1)) != int(cfg.steps):
        raise ValueError(f"the {v.init_from} run in {folder} did not finish its {cfg.steps} steps; rerun it.")
    state = load_checkpoint(folder / "last.pt")["model"]
    steps = max(1, round(v.finetune_share * int(cfg.steps)))
    record = {"init_from": v.init_from, "init_key": key, "init_run": repo_relative(folder),
              "init_steps": int(cfg.steps), "finetune_share": float(v.finetune_share), "finetune_steps": int(steps)}
    return record, {k[3:]: t for k, t in state.items() if k.startswith("ae.")}, cfg.replace(steps=steps)


__all__ = ["CHAPTER", "AutoencoderConfig", "model_config", "build_recipe", "AERecipe", "AutoencoderTask", "TrainedAE",
           "build_vf_source", "check_sizes", "data_description", "training_data", "eval_images", "train_config",
           "run_key", "eval_settings", "run_dir_for", "fit_autoencoder", "read_run", "weights_file", "check_inputs",
           "folder_record", "located",
           "load_autoencoder", "FINETUNE_IDENTITY", "finetune_start"]
