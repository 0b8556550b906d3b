"""Peak memory of one training step of every recipe, at the ``small`` and ``paper`` sizes.

A step is what :func:`smlib.train.fit` does for the recipe's task (forward, backward, clipping, AdamW, the EMA
update; bf16 autocast on CUDA), measured after warm-up steps that create the optimiser state. One fresh
subprocess per configuration, so configurations do not contaminate each other.

* **CPU** (MiB of resident memory). ``rss_after_build``: after imports, the recipe's construction (model,
  objective, frozen networks) and its synthetic batch, with freed heap handed back (``malloc_trim``). ``peak``:
  ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` over the measured step, the warm-up's high-water mark reset by
  ``/proc/self/clear_refs`` (where refused, ``peak_covers`` says the warm-up is included). ``step_peak = peak -
  rss_after_build``: what training adds, including one-time costs of the first step (optimiser state, EMA, and
  the library code and oneDNN caches it pages in, often 100-200 MiB). ``step_transient = peak -
  rss_after_warmup``: the step's own activations, gradients and temporaries, without those one-time costs; it is
  the number that grows with the batch. ``peak_total``: the whole process. ``optimizer_and_ema``: AdamW moments and
  the EMA, counted from the parameters.
* **CUDA**: ``torch.cuda.max_memory_allocated`` over the measured step after ``reset_peak_memory_stats``, beside
  the memory allocated after construction and after warm-up (``step_transient`` likewise), and the reserved peak.

Configurations. The autoencoder lab's variants share one architecture; measured are those whose step differs:
``ae/plain``, ``ae/esm``, ``ae/dsm``, ``ae/scale_equivariance`` (its heavier step: the extra pair active at factor
2, i.e. p = 1 and factors (2,)), ``ae/vf`` (VA-VAE's VF loss; its frozen encoder's features are precomputed at
small, as the recipe does for a fixed subset, and computed on every batch at paper). EQ-VAE's step is a plain or a
smaller reconstruction and SD-VAE adds a KL sum, so neither is measured. At ``paper`` ESM and DSM are skipped too:
their spectra of a 256 px batch are MiBs beside the GiBs of the AE, LPIPS and the PatchGAN (within 5 % of plain at
small), and each paper AE measurement takes minutes on 2 cores. ``diffusion``: the diffusability recipe
(posterior sample, normalisation, the formulation's loss on the preset's backbone, EMA); at paper also
``diffusion/celebahq256`` (U-ViT-M/2, the preset's second setting). The paper AE preset adds LPIPS (0.5) and the
PatchGAN to every variant; it is measured in the phase after ``gan_start`` (adversarial term in the generator's
loss, discriminator steps; G and D alternate, so warm-up and measurement are one G and one D step each). Frozen
networks (LPIPS's VGG, VF's encoder) get random weights: the same architecture and memory, and no download.
Inputs are synthetic tensors of the recipe's shapes.

Batches: ``small`` at its preset's batch. ``paper`` at the per-GPU batch of the paper setting: the AE's 12
(``per_gpu_batch_size: 12`` on 4 GPUs, forever208/SpectrumMatching@3d8680c:configs/train_vae_celeba256.yaml; the
preset's global 48 over 4 processes), the diffusion recipe's 256 / 8 = 32 (8 processes, as its recipe launches it)
and celebahq256's 256 / 4 = 64. On a CPU a paper AE step takes tens of seconds per image on 2 cores, so the paper
sizes are measured at batch 1 and 2 and reported as a slope (per example) and intercept, extrapolated to the
per-GPU batch and labelled ``extrapolated``; on CUDA they are measured at the per-GPU batch itself.

    python benchmarks/bench_memory.py [--quick] [--device cuda]    # -> results/benchmarks/memory.json
    measure("ae/plain", "small", "cpu")                             # one configuration, in this process

``--quick``: ``ae/plain``, ``ae/scale_equivariance`` and ``diffusion`` (on a CPU at ``small`` only).
"""
from __future__ import annotations

import dataclasses
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from common import bench_args, results_path, write_result

CONFIGS = {
    "ae/plain": "autoencoder lab, plain AE (L1; + LPIPS + PatchGAN at paper)",
    "ae/esm": "autoencoder lab, ESM-AE (image and latent spectra every step)",
    "ae/dsm": "autoencoder lab, DSM-AE (block-DCT low-pass of image and latent)",
    "ae/scale_equivariance": "autoencoder lab, Scale Equivariance with the extra pair active at factor 2 "
                             "(p forced to 1, factors (2,): its heaviest step)",
    "ae/vf": "autoencoder lab, VA-VAE's VF loss (frozen encoder; precomputed features at small, online at paper)",
    "diffusion": "diffusability recipe (LatentDiffusionTask; DiT/SiT of the preset, EMA)",
    "diffusion/celebahq256": "diffusability recipe, paper setting celebahq256 (U-ViT-M/2, DDPM)",
}
QUICK = ("ae/plain", "ae/scale_equivariance", "diffusion")
PRESETS = ("small", "paper")
#: processes the paper settings train on: the per-GPU batch is the preset's global batch over these
PAPER_PROCESSES = {"ae": 4, "diffusion": 8, "diffusion/celebahq256": 4}
CPU_PAPER_BATCHES = (1, 2)


#: at paper, ESM's and DSM's spectra of a 256 px batch are a few MiB beside the GiBs of the autoencoder, LPIPS and
#: the PatchGAN (and within 5 % of plain at small), while each paper AE measurement takes minutes on 2 cores
PAPER_SKIPS = ("ae/esm", "ae/dsm")


def applies(config: str, preset: str) -> bool:
    """celebahq256 is a setting of the paper preset only; ESM and DSM are measured at small only."""
    if preset == "paper":
        return config not in PAPER_SKIPS
    return config != "diffusion/celebahq256"


# ------------------------------------------------------------------------------------------------- the recipes
def _family(config: str) -> str:
    return "ae" if config.startswith("ae/") else config


def per_gpu_batch(config: str, preset: str) -> int:
    """The batch one process trains on: the preset's batch at ``small``, global / processes at ``paper``."""
    cfg = _chapter_config(config, preset)
    return cfg.batch_size if preset != "paper" else cfg.batch_size // PAPER_PROCESSES[_family(config)]


def _chapter_config(config: str, preset: str):
    if config.startswith("ae/"):
        from smlib.pipelines.autoencoder import AutoencoderConfig

        return AutoencoderConfig.at(preset)
    from smlib.experiments.diffusability import DiffusabilityConfig

    return DiffusabilityConfig.at(preset, setting="celebahq256" if config == "diffusion/celebahq256" else None)


def _ae_task(config: str, cfg, batch: int):
    """(task, train config overrides, data, steps per round) for an autoencoder variant at ``cfg``'s sizes."""
    from smlib.pipelines import autoencoder as lab
    from smlib.pipelines.autoencoder_config import get_variant
    from smlib.models.encoders import build_encoder
    from smlib.regularizers import LPIPS
    from smlib.regularizers.aeloss import ReconstructionLoss
    from smlib.regularizers.vf import FeatureSource

    variant = config.split("/", 1)[1]
    spec = dict(get_variant(variant).spec)
    if variant == "scale_equivariance":
        spec["scale_equivariance"] = dict(spec["scale_equivariance"], p=1.0, factors=(2,))
    vf_source = None
    if variant == "vf":   # random weights: DINOv2 needs the network; the memory is the architecture's
        enc = build_encoder(cfg.vf_encoder, pretrained=False, device="cpu", input_size=cfg.vf_input,
                            layer=cfg.vf_layer)
        vf_source = FeatureSource(enc, f"{cfg.vf_encoder} (random weights)")
    cfg = cfg.replace(gan_start=0)   # the heavier phase of a GAN recipe: adversarial term and D steps
    recipe = lab.build_recipe(variant, cfg.replace(lpips_weight=0.0), regularizers=spec, vf_source=vf_source)
    recipe.config = cfg
    if cfg.lpips_weight > 0:   # a random VGG: no download attempt, the same memory as the pretrained one
        lpips = LPIPS(allow_random_backbone=True)
        recipe.ae_loss.reconstruction = ReconstructionLoss(1.0, lpips, cfg.lpips_weight)
    images = torch.rand(batch, 3, cfg.resolution, cfg.resolution) * 2 - 1
    data = images
    if vf_source is not None and cfg.n_train is not None:   # the recipe precomputes features once per image
        with torch.no_grad():   # their shape from one image; the values do not matter here
            shape = vf_source.encoder(images[:1]).shape[1:]
        data = (images, torch.randn(batch, *shape))
    steps = 2 if recipe.discriminator is not None else 1   # G and D alternate
    return lab.AutoencoderTask(recipe), dict(aux_start_step=0, aux_alternate=True), data, steps


def _diffusion_task(config: str, cfg, batch: int):
    """(task, overrides, data, steps per round) for the diffusability recipe on synthetic posterior moments."""
    from smlib.data.latents import LatentNormalizer
    from smlib.diffusion import make_formulation
    from smlib.pipelines.autoencoder import AutoencoderConfig
    from smlib.pipelines.autoencoder import model_config
    from smlib.pipelines.latent_diffusion import LatentDiffusionTask
    from smlib.models.factory import build_backbone

    ae = model_config(AutoencoderConfig.at(cfg.ae_preset))
    d, h = ae.latent_channels, cfg.resolution // ae.factor
    k = cfg.num_classes if cfg.class_conditional else 0
    model = build_backbone(cfg.model, (d, h, h), k)
    moments = torch.randn(batch, 2 * d, h, h)
    moments[:, d:] = -2.0                                           # log-variances
    labels = torch.randint(0, max(k, 1), (batch,))
    normalizer = LatentNormalizer(shift=(0.0,) * d, scale=(1.0,) * d, mode=cfg.norm_mode)
    task = LatentDiffusionTask(model, make_formulation(cfg.formulation, **dict(cfg.formulation_kwargs)),
                               normalizer, "moments", {}, class_conditional=k > 0)
    return task, {}, (moments, labels), 1


# ------------------------------------------------------------------------------------------------- measuring
class _Done(Exception):
    pass


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # KiB on Linux


def _trim_heap() -> None:
    """Hand freed heap back to the OS (glibc), so the baseline RSS holds no memory a later step would reuse."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")   # resets the resident high-water mark that ru_maxrss reports
        return True
    except OSError:
        return False


def measure(config: str, preset: str, device: str = "cpu", batch: int | None = None) -> dict:
    """Peak memory of one training step of ``config`` at ``preset`` (in this process; call it in a fresh one).

    batch: default the per-GPU batch (:func:`per_gpu_batch`). Returns MiB: ``rss_after_build``, ``peak``,
    ``step_peak`` (= peak - rss_after_build) and ``peak_total`` on a CPU; ``allocated_after_build``, ``peak``,
    ``step_peak`` and ``reserved_peak`` on CUDA; with the step's wall time and what was measured.
    """
    from smlib.train import fit

    if config not in CONFIGS or preset not in PRESETS or (config == "diffusion/celebahq256" and preset != "paper"):
        raise ValueError(f"unknown configuration {config!r} at {preset!r}; choose one of: {', '.join(CONFIGS)}.")
    dev = torch.device(device)
    if dev.type == "cpu":
        torch.set_num_threads(2)
    cfg = _chapter_config(config, preset)
    batch = int(batch or per_gpu_batch(config, preset))
    torch.manual_seed(0)
    build = _ae_task if config.startswith("ae/") else _diffusion_task
    task, overrides, data, steps = build(config, cfg, batch)   # steps: one G (+ one D) step per round
    cuda = dev.type == "cuda"
    if cuda:
        task.model.to(dev)
        if getattr(task, "aux_model", None) is not None:
            task.aux_model.to(dev)
        if callable(getattr(task, "setup", None)):
            task.setup(dev)
        torch.cuda.synchronize(dev)
    out = {"config": config, "preset": preset, "device": str(dev), "batch": batch, "description": CONFIGS[config],
           "model": dict(cfg.model) if hasattr(cfg, "model") else cfg.ae,
           "parameters": sum(p.numel() for p in task.model.parameters())}
    if cuda:
        out["allocated_after_build_mib"] = torch.cuda.memory_allocated(dev) / 2**20
    else:
        _trim_heap()
        out["rss_after_build_mib"] = _rss_mib()
    marks = {}

    def callback(done: int, logs: dict) -> None:
        if done == steps:   # warm-up over: the optimiser state and the EMA exist
            if cuda:
                torch.cuda.synchronize(dev)
                marks["allocated_after_warmup"] = torch.cuda.memory_allocated(dev) / 2**20
                torch.cuda.reset_peak_memory_stats(dev)
            else:
                marks["warmup_peak"] = _maxrss_mib()
                _trim_heap()
                marks["after_warmup"] = _rss_mib()
                marks["reset"] = _reset_peak_rss()
            marks["t0"] = time.perf_counter()
        elif done == 2 * steps:
            if cuda:
                torch.cuda.synchronize(dev)
            marks["step_s"] = (time.perf_counter() - marks["t0"]) / steps
            raise _Done

    with tempfile.TemporaryDirectory() as tmp:
        tc = dataclasses.replace(cfg.train_config(seed=0, device=str(dev), out_dir=tmp, **overrides), steps=10**6,
                                 batch_size=batch, ckpt_every=None, log_every=10**9, eval_every=None)
        try:
            fit(task, tc, data, resume=False, progress=False, callback=callback)
        except _Done:
            pass
    out["seconds_per_step"] = marks["step_s"]
    if cuda:
        peak = torch.cuda.max_memory_allocated(dev) / 2**20
        out.update(peak_mib=peak, step_peak_mib=peak - out["allocated_after_build_mib"],
                   allocated_after_warmup_mib=marks["allocated_after_warmup"],
                   reserved_peak_mib=torch.cuda.max_memory_reserved(dev) / 2**20,
                   step_transient_mib=peak - marks["allocated_after_warmup"])
    else:
        peak = _maxrss_mib()
        out.update(peak_mib=peak, step_peak_mib=peak - out["rss_after_build_mib"],
                   rss_after_warmup_mib=marks["after_warmup"], step_transient_mib=peak - marks["after_warmup"],
                   peak_total_mib=max(peak, marks["warmup_peak"]),
                   peak_covers="the measured step" if marks["reset"] else "warm-up and measured step")
    out["optimizer_and_ema_mib"] = state_mib(task, cfg)
    return out


def state_mib(task, cfg) -> float:
    """What the warm-up adds for good, by count: AdamW's two moments of every trained parameter, and the EMA."""
    trained = sum(p.numel() for p in task.model.parameters() if p.requires_grad)
    aux = getattr(task, "aux_model", None)
    trained += sum(p.numel() for p in aux.parameters()) if aux is not None else 0
    ema = sum(p.numel() for p in task.model.parameters()) if getattr(cfg, "ema_decay", None) else 0
    return (2 * trained + ema) * 4 / 2**20


def run_child(config: str, preset: str, device: str, batch: int | None) -> dict:
    """:func:`measure` in a fresh interpreter (its last stdout line is the JSON)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", config, preset, device, str(batch or 0)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parent)
    if proc.returncode:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"config": config, "preset": preset, "batch": batch, "error": tail}
    return json.loads(proc.stdout.strip().splitlines()[-1])


EXTRAPOLATED = ("step_peak_mib", "step_transient_mib", "peak_total_mib", "peak_mib")


def extrapolate(points: list[dict], target: int) -> dict:
    """Lines through (batch, memory) at two batches, evaluated at ``target``: per key, MiB per example
    (``slope``), ``intercept`` and the value at the target batch."""
    out = {"at_batch": target, "extrapolated": True}
    (b1, b2) = points[0]["batch"], points[1]["batch"]
    for key in EXTRAPOLATED:
        if key in points[0]:
            m1, m2 = points[0][key], points[1][key]
            slope = (m2 - m1) / (b2 - b1)
            out[key] = {"slope_per_example": slope, "intercept": m1 - slope * b1, "value": m1 + slope * (target - b1)}
    return out


def main() -> None:
    args = bench_args(__doc__, rounds=1)
    device = torch.device(args.device)
    configs = QUICK if args.quick else tuple(CONFIGS)
    presets = ("small",) if args.quick and device.type == "cpu" else PRESETS
    results = {}
    for preset in presets:
        for config in configs:
            if not applies(config, preset):
                continue
            target = per_gpu_batch(config, preset)
            if preset == "paper" and device.type == "cpu":
                points = [run_child(config, preset, str(device), b) for b in CPU_PAPER_BATCHES]
                entry = {"per_gpu_batch": target, "measured": points}
                if not any("error" in p for p in points):
                    entry["per_gpu"] = extrapolate(points, target)
            else:
                point = run_child(config, preset, str(device), target)
                entry = {"per_gpu_batch": target, "measured": [point]}
                if "error" not in point:
                    entry["per_gpu"] = {"at_batch": target, "extrapolated": False,
                                        **{k: {"value": point[k]} for k in EXTRAPOLATED if k in point}}
            results[f"{config}@{preset}"] = entry
            last = entry["measured"][-1]
            if "error" in last:
                print(f"{config:24s} {preset:6s} failed: {last['error']}")
            else:
                pg = entry["per_gpu"]
                print(f"{config:22s} {preset:5s} batch {last['batch']:3d}: step peak {last['step_peak_mib']:8.1f}, "
                      f"transient {last['step_transient_mib']:8.1f}, total {last.get('peak_total_mib', last['peak_mib']):8.1f} "
                      f"MiB, {last['seconds_per_step']:6.2f} s/step; at per-GPU batch {target}: step peak "
                      f"{pg['step_peak_mib']['value']:8.1f} MiB{' (extrapolated)' if pg['extrapolated'] else ''}")
    path = write_result("memory", {
        "benchmark": "peak memory of one training step per recipe (MiB; CPU: peak RSS of a fresh process minus "
                     "its RSS after construction; CUDA: max_memory_allocated)",
        "device": str(device), "quick": bool(args.quick), "results": results}, results_path("memory", args))
    print(f"wrote {path}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        name, preset, dev, b = sys.argv[2:6]
        print(json.dumps(measure(name, preset, dev, int(b) or None)))
    else:
        main()
