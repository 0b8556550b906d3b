"""``python -m smlib gpu-check``: one command that says whether every recipe runs at paper scale on this GPU machine,
how fast, in how much memory, and whether multi-GPU training starts.

    python -m smlib gpu-check                     # a CUDA machine: at most 8 minutes -> results/benchmarks/gpu.json
    python -m smlib gpu-check --dry --results /tmp/gpu.json    # CPU: the same stages at ci size, in a minute

Stages, each recorded in the results file, each skipped (and said so) once the time budget is spent:

1. **environment** - GPU names and memory, driver, torch / CUDA / cuDNN versions.
2. **recipes** - every recipe's ``paper`` configuration (the autoencoder lab's variants; latent diffusion in both
   paper settings; chapter 6's REPA and DoG-REPA on the SiT-B/2 latents with DINOv2-shaped targets; DCTdiff on
   CIFAR-10 and FFHQ-256; chapter 8's EDM with its spectral term) trains for ``--steps`` steps through :func:`smlib.train.fit`
   in bf16 on synthetic data of the paper's shapes and per-GPU batch (the machine holds no ImageNet or CelebA).
   Recorded: median seconds per step after warm-up, images per second per GPU, peak ``torch.cuda.max_memory_allocated``, checkpoint size and time.
   Offline substitutions are the same as everywhere in the library and are labelled in the record: LPIPS off
   (its VGG backbone needs the network) and VA-VAE's DINOv2 replaced by EfficientNet-Lite2.
3. **compile** - for one autoencoder and the diffusion backbone, the same step eager and under ``torch.compile``,
   timed after compilation; the record keeps the compile time and the ratio (or the error, if it fails).
4. **benchmarks** - ``benchmarks/bench_*.py --device cuda --quick`` as subprocesses (when the checkout has them),
   each writing its own JSON, folded into this record.
5. **torchrun** - two steps of the diffusion recipe under ``torchrun`` over all visible GPUs (2 gloo processes on
   CPU in dry mode), so DDP start-up, the all-reduce and the rank-0 checkpoint are exercised.

Dry mode runs stages 1, 2 and 5 on the CPU at the ``ci`` presets for two steps, skips compile and the benchmarks,
and is what ``tests/test_gpu_check.py`` runs; its numbers mean nothing beyond "the stage runs".
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from smlib.provenance import REPO_ROOT, provenance, repo_relative
from smlib.results import write_result

RESULTS = REPO_ROOT / "results" / "benchmarks" / "gpu.json"
AUTOENCODER_VARIANTS = ("sd-vae", "esm", "dsm", "scale_equivariance", "eqvae", "vf")
DIFFUSION_SETTINGS = ("imagenet256", "celebahq256")
DCTDIFF_SETTINGS = ("cifar10", "ffhq256")
REPA_ARMS = ("repa", "dog-0.5-2")     # the MLP projector on raw tokens; the conv projector on DoG-filtered ones


# ------------------------------------------------------------------------------------------------ environment
def environment() -> dict:
    """What the machine is: GPUs (name, memory), driver, and the torch / CUDA / cuDNN builds."""
    gpus = []
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            gpus.append({"name": p.name, "memory_gib": round(p.total_memory / 2**30, 1),
                         "capability": f"{p.major}.{p.minor}"})
    driver = None
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30)
        driver = out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None
    except (OSError, subprocess.SubprocessError):
        pass
    return {"gpus": gpus, "driver": driver, "torch": torch.__version__, "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
            "bf16_supported": bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())}


# ------------------------------------------------------------------------------------------------ probes
@dataclass
class Probe:
    """One recipe at one configuration, ready for :func:`smlib.train.fit`: a task, synthetic data, the per-GPU
    batch and what was substituted. ``images_per_step``: examples one step consumes on this process."""

    name: str
    task: object
    data: object
    batch_size: int
    substitutions: list[str] = field(default_factory=list)
    config: dict = field(default_factory=dict)


def autoencoder_probe(variant: str, preset: str, world_size: int = 1, n_batches: int = 2) -> Probe:
    """The autoencoder lab's ``variant`` at ``preset`` with synthetic images of its resolution."""
    from smlib.experiments.autoencoders import AutoencoderConfig
    from smlib.experiments.autoencoders.recipe import AutoencoderTask, build_recipe, train_config

    cfg = AutoencoderConfig.at(preset)
    subs = []
    if cfg.gan and cfg.gan_start > 0:  # time the steady state: generator and discriminator both in play
        cfg, subs = cfg.replace(gan_start=0), [f"GAN from step 0 (the preset's regime after step {cfg.gan_start})"]
    if cfg.lpips_weight > 0:
        cfg, subs = cfg.replace(lpips_weight=0.0), subs + ["LPIPS off (its VGG backbone needs the network)"]
    if variant == "vf" and cfg.vf_encoder.startswith("dinov2"):
        cfg = cfg.replace(vf_encoder="efficientnet-lite2", vf_layer="blocks.4", vf_input=224)
        subs.append("VA-VAE: EfficientNet-Lite2 (blocks.4, 224 px) instead of DINOv2 (offline)")
    recipe = build_recipe(variant, cfg, seed=0)
    task = AutoencoderTask(recipe, {"synthetic": True})
    batch = max(1, cfg.batch_size // world_size)
    g = torch.Generator().manual_seed(0)
    images = torch.rand(n_batches * cfg.batch_size, 3, cfg.resolution, cfg.resolution, generator=g) * 2 - 1
    return Probe(f"autoencoder/{variant}", task, images, batch, subs,
                 {"preset": preset, "variant": variant, "resolution": cfg.resolution, "ae": cfg.ae,
                  "global_batch": cfg.batch_size, "gan": cfg.gan, "steps_in_preset": cfg.steps,
                  "train": train_config(cfg, 0, "cpu", ".").to_dict()})


def diffusion_probe(setting: str | None, preset: str, world_size: int = 1, n_batches: int = 2,
                    arm: str | None = None) -> Probe:
    """The latent diffusion recipe at ``preset`` (paper: ``setting``) on synthetic posterior moments of the latent
    shape that preset's autoencoder produces.

    ``arm`` (a chapter 6 arm, e.g. ``"repa"``): chapter 6's preset, with that arm's alignment head and loss on
    synthetic targets of its encoder's width and grid (the frozen encoder runs before training, never in a step)."""
    from smlib.data.latents import LatentNormalizer
    from smlib.diffusion import make_formulation
    from smlib.experiments.autoencoders import AutoencoderConfig
    from smlib.experiments.autoencoders.recipe import model_config
    from smlib.experiments.diffusability import DiffusabilityConfig
    from smlib.experiments.diffusability.recipe import LatentDiffusionTask
    from smlib.models.factory import build_backbone

    if arm is None:
        cfg = DiffusabilityConfig.at(preset, setting=setting)
    else:
        from smlib.experiments.repa import RepaConfig
        cfg = RepaConfig.at(preset)
    ae = model_config(AutoencoderConfig.at(cfg.ae_preset).replace(resolution=cfg.resolution))
    d, side = ae.latent_channels, cfg.resolution // ae.factor
    classes = cfg.num_classes if cfg.class_conditional else 0
    torch.manual_seed(0)
    model = build_backbone(cfg.model, (d, side, side), classes)
    formulation = make_formulation(cfg.formulation, **dict(cfg.formulation_kwargs))
    normalizer = LatentNormalizer(shift=(0.0,), scale=(1.0,))
    g = torch.Generator().manual_seed(0)
    n = n_batches * cfg.batch_size
    targets, subs, extra = None, [], {}
    if arm is not None:
        from smlib.data.targets import TargetCache
        from smlib.diffusion.alignment import build_aligned
        from smlib.models.encoders import build_encoder

        enc = build_encoder(cfg.encoder, pretrained=False, device="cpu", input_size=cfg.encoder_input_size,
                            layer=cfg.encoder_layer or None)
        targets = TargetCache(torch.randn(n, enc.grid[0] * enc.grid[1], enc.out_dim, generator=g),
                              torch.arange(n), torch.zeros(n, dtype=torch.bool), enc.grid)
        model = build_aligned(model, cfg.alignment(arm), targets.dim)
        subs = [f"synthetic target tokens of {cfg.encoder}'s shape ({enc.out_dim} x {enc.grid[0]}x{enc.grid[1]})"]
        extra = {"arm": arm, "encoder": cfg.encoder, "target_grid": list(enc.grid), "target_dim": enc.out_dim,
                 "tap_depth": model.alignment.depth}
    task = LatentDiffusionTask(model, formulation, normalizer, "moments", {"synthetic": True,
                               "model": dict(cfg.model), "latent": [d, side, side]}, classes > 0, targets=targets)
    moments = torch.cat([torch.randn(n, d, side, side, generator=g), torch.full((n, d, side, side), -4.0)], 1)
    labels = torch.randint(0, max(classes, 1), (n,), generator=g)
    data = (moments, labels) if arm is None else (moments, labels, torch.arange(n))
    name = f"diffusion/{setting or preset}" if arm is None else f"repa/{arm}/{preset}"
    return Probe(name, task, data, max(1, cfg.batch_size // world_size), subs,
                 {"preset": preset, "setting": setting, "model": dict(cfg.model), "latent": [d, side, side],
                  "global_batch": cfg.batch_size, "formulation": cfg.formulation, "steps_in_preset": cfg.steps,
                  **extra, "train": cfg.train_config(seed=0, device="cpu", out_dir=".").to_dict()})


def dctdiff_probe(setting: str | None, preset: str, world_size: int = 1, n_batches: int = 2) -> Probe:
    """DCTdiff as released (the ladder's top rung) at ``preset`` (paper: ``setting``) on synthetic images of the
    setting's resolution; the tokens are computed in every step, as in training."""
    from smlib.experiments.dctdiff import DCTdiffConfig, build_run

    cfg = DCTdiffConfig.at(preset, setting=setting)
    g = torch.Generator().manual_seed(0)
    n = n_batches * cfg.batch_size
    images = torch.rand(n, 3, cfg.resolution, cfg.resolution, generator=g) * 2 - 1
    task = build_run("ebfr", cfg, images[:1], seed=0)
    return Probe(f"dctdiff/{setting or preset}", task, (images, torch.full((n,), -1)),
                 max(1, cfg.batch_size // world_size), [],
                 {"preset": preset, "setting": setting, "model": dict(cfg.model), "tokens": task.config["tokens"],
                  "global_batch": cfg.batch_size, "steps_in_preset": cfg.steps,
                  "train": cfg.train_config(seed=0, device="cpu", out_dir=".").to_dict()})


def spectral_reg_probe(preset: str, world_size: int = 1, n_batches: int = 2) -> Probe:
    """Chapter 8's EDM arm with the weighted amplitude-and-phase term (its FFTs in every step) at ``preset``, on
    synthetic CIFAR-sized images; the paper preset's U-ViT-M/2 from a random initialisation (no ``init_from``)."""
    from smlib.experiments.spectral_regularisation import SpectralRegConfig, build_run

    cfg = SpectralRegConfig.at(preset)
    g = torch.Generator().manual_seed(0)
    n = n_batches * cfg.batch_size
    images = torch.rand(n, 3, cfg.resolution, cfg.resolution, generator=g) * 2 - 1
    task = build_run("edm-ap-1", cfg, images[:1], seed=0)
    return Probe(f"spectral-reg/{preset}", task, (images, torch.full((n,), -1)), max(1, cfg.batch_size // world_size),
                 ["random initialisation instead of a fine-tuned checkpoint"] if preset == "paper" else [],
                 {"preset": preset, "arm": "edm-ap-1", "model": dict(cfg.model), "global_batch": cfg.batch_size,
                  "steps_in_preset": cfg.steps, "train": cfg.train_config(seed=0, device="cpu", out_dir=".").to_dict()})


def probes(preset: str, world_size: int = 1) -> list:
    """Every recipe at ``preset`` (factories, so a failing build is recorded, not fatal)."""
    out = [(f"autoencoder/{v}", lambda v=v: autoencoder_probe(v, preset, world_size)) for v in AUTOENCODER_VARIANTS]
    if preset == "paper":
        out += [(f"diffusion/{s}", lambda s=s: diffusion_probe(s, preset, world_size)) for s in DIFFUSION_SETTINGS]
        out += [(f"dctdiff/{s}", lambda s=s: dctdiff_probe(s, preset, world_size)) for s in DCTDIFF_SETTINGS]
    else:
        out.append((f"diffusion/{preset}", lambda: diffusion_probe(None, preset, world_size)))
        out.append((f"dctdiff/{preset}", lambda: dctdiff_probe(None, preset, world_size)))
    out += [(f"repa/{a}/{preset}", lambda a=a: diffusion_probe(None, preset, world_size, arm=a)) for a in REPA_ARMS]
    out.append((f"spectral-reg/{preset}", lambda: spectral_reg_probe(preset, world_size)))
    return out


# ------------------------------------------------------------------------------------------------ stages
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_probe(probe: Probe, device: torch.device, steps: int, out_dir: Path, precision: str) -> dict:
    """Train ``probe`` for ``steps`` steps with :func:`smlib.train.fit` (global batch = ``probe.batch_size`` x
    world); seconds per step are the median after the first quarter of the steps (warm-up, cuDNN autotuning)."""
    from smlib.train import TrainConfig, fit
    from smlib.train.distributed import init_distributed

    world = init_distributed().world_size
    train = dict(probe.config["train"])
    train.update(steps=steps, batch_size=probe.batch_size * world, device=str(device), precision=precision,
                 out_dir=str(out_dir), ckpt_every=None, eval_every=None, log_every=max(1, steps), warmup_steps=0)
    tc = TrainConfig.from_dict(train)
    times: list[float] = []
    if device.type == "cuda":
        # a fresh torchrun rank has no CUDA allocator yet: resetting its statistics then fails with "Invalid
        torch.zeros(1, device=device)   # device argument" (seen on an H200, torch 2.11); one allocation creates it
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    result = fit(probe.task, tc, probe.data, resume=False, progress=False,
                 callback=lambda step, logs: times.append(logs["sec_per_step"]))
    _sync(device)
    total = time.perf_counter() - t0
    steady = times[max(1, len(times) // 4):] or times
    sec = statistics.median(steady)
    record = {"steps": result.step, "sec_per_step": sec, "images_per_s": probe.batch_size / sec,
              "per_gpu_batch": probe.batch_size, "wall_s": round(total, 2),
              "final_loss": result.train_logs.get("loss"),
              "checkpoint_mib": round(Path(result.checkpoint).stat().st_size / 2**20, 1)
              if Path(result.checkpoint).exists() else None}
    if device.type == "cuda":
        record["max_memory_allocated_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    return record


def compile_probe(probe: Probe, device: torch.device, steps: int) -> dict:
    """The same optimiser step eager and with the trained network under ``torch.compile`` (bf16 autocast on CUDA).

    The compiled callable replaces the network the task calls (the diffusion backbone, or the autoencoder's
    encode/decode path through the AE loss); compile time is the first compiled step's excess over an eager one."""
    task = probe.task
    model = task.model.to(device)
    if callable(getattr(task, "setup", None)):
        task.setup(device)
    data = probe.data
    batch = (tuple(t[:probe.batch_size].to(device) for t in data) if isinstance(data, tuple)
             else data[:probe.batch_size].to(device))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    amp = torch.bfloat16 if device.type == "cuda" else None

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            loss, _ = task.loss(batch, 1)
        loss.backward()
        opt.step()

    def timed(n: int) -> list[float]:
        out = []
        for _ in range(n):
            _sync(device)
            t0 = time.perf_counter()
            step()
            _sync(device)
            out.append(time.perf_counter() - t0)
        return out

    eager = timed(steps)[steps // 4:]
    holder = getattr(task, "recipe", None)
    if holder is not None:      # autoencoder: the AE loss module calls the AE; compile the whole objective
        original, holder.ae_loss = holder.ae_loss, torch.compile(holder.ae_loss)
        restore = lambda: setattr(holder, "ae_loss", original)  # noqa: E731
    else:                       # diffusion: the formulation calls task.model
        original, task.model = task.model, torch.compile(task.model)
        restore = lambda: setattr(task, "model", original)  # noqa: E731
    try:
        first = timed(1)[0]
        compiled = timed(steps)[steps // 4:]
    except Exception as err:  # noqa: BLE001 - a compile failure is a finding, recorded as such
        return {"eager_sec_per_step": statistics.median(eager), "error": f"{type(err).__name__}: {err}"[:500]}
    finally:
        restore()
    e, c = statistics.median(eager), statistics.median(compiled)
    return {"eager_sec_per_step": e, "compiled_sec_per_step": c, "speedup": e / c,
            "compile_s": round(first - c, 2), "helps": e / c > 1.05}


def run_benchmarks(device: str, out_dir: Path, deadline: float, bench_dir: Path = REPO_ROOT / "benchmarks") -> dict:
    """``<bench_dir>/bench_*.py --device <device> --quick --results <json>`` as subprocesses, until ``deadline``
    (a ``time.time()``); each one's JSON folded in under its name, or the last line of its error."""
    if not bench_dir.is_dir():
        return {"skipped": "no benchmarks/ folder in this installation"}
    out_dir.mkdir(parents=True, exist_ok=True)
    out = {}
    for script in sorted(bench_dir.glob("bench_*.py")):
        name = script.stem.removeprefix("bench_")
        left = deadline - time.time()
        if left < 20:
            out[name] = {"skipped": "time budget spent"}
            continue
        path = out_dir / f"{name}.json"
        cmd = [sys.executable, str(script), "--device", device, "--quick", "--results", str(path)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=left, cwd=bench_dir)
        except subprocess.TimeoutExpired:
            out[name] = {"error": f"did not finish in the {left:.0f} s left"}
            continue
        if proc.returncode != 0 or not path.exists():
            out[name] = {"error": (proc.stderr or proc.stdout).strip().splitlines()[-1:]}
            continue
        record = json.loads(path.read_text())
        record.pop("provenance", None)  # the check's own provenance covers it
        out[name] = record
    return out


def run_torchrun(n_procs: int, preset: str, device: str, steps: int, timeout: float) -> dict:
    """``torchrun --nproc_per_node n_procs -m smlib gpu-check --worker ...``: the diffusion recipe for ``steps``
    steps under DDP; returns what rank 0 reports (world size, seconds per step, checkpoint written)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "rank0.json"
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n_procs}",
               "-m", "smlib", "gpu-check", "--worker", "--preset", preset, "--device", device,
               "--steps", str(steps), "--results", str(report)]
        env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
        t0 = time.time()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=tmp)
        except subprocess.TimeoutExpired:
            return {"error": f"torchrun did not finish in {timeout:.0f} s"}
        if proc.returncode != 0 or not report.exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
            return {"error": f"torchrun exited {proc.returncode}", "tail": tail}
        out = json.loads(report.read_text())
        out["wall_s"] = round(time.time() - t0, 1)
        return out


def torchrun_worker(preset: str, device: str, steps: int, report: Path) -> None:
    """One rank of :func:`run_torchrun`: the diffusion probe under :func:`smlib.train.fit`; rank 0 writes."""
    from smlib.train.distributed import destroy_distributed, init_distributed

    info = init_distributed()
    dev = torch.device(device if device != "cuda" else f"cuda:{info.local_rank}")
    setting = DIFFUSION_SETTINGS[0] if preset == "paper" else None
    probe = diffusion_probe(setting, preset, info.world_size)
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = Path(tmp) / "run"
        record = train_probe(probe, dev, steps, out_dir, "bf16" if dev.type == "cuda" else "fp32")
        record["checkpoint_written"] = (out_dir / "last.pt").exists() if info.is_main else None
    if info.is_main:
        report.write_text(json.dumps({"world_size": info.world_size, "probe": probe.name, **record}))
    destroy_distributed()


# ------------------------------------------------------------------------------------------------ the check
def gpu_check(*, dry: bool = False, steps: int | None = None, budget_s: float = 420.0,
              results: str | Path | None = None, only: list[str] | None = None) -> dict:
    """Run the stages (module docstring) and write the record (default ``results/benchmarks/gpu.json``; dry mode
    requires an explicit ``results`` path, so that a CPU run never overwrites the GPU record).

    Raises ValueError without CUDA unless ``dry``. ``only``: names of probes to run (default: all)."""
    if not dry and not torch.cuda.is_available():
        raise ValueError("gpu-check needs a CUDA device (none is visible); on a CPU run "
                         "`python -m smlib gpu-check --dry --results /tmp/gpu.json` to check the stages.")
    if dry and results is None:
        raise ValueError("--dry writes CPU numbers: give --results PATH (the GPU record stays untouched).")
    t_start = time.time()
    deadline = t_start + budget_s
    device = torch.device("cpu" if dry else "cuda")
    preset, precision = ("ci", "fp32") if dry else ("paper", "bf16")
    steps = steps or (2 if dry else 24)
    record: dict = {"mode": "dry (CPU, ci presets)" if dry else "gpu (paper presets)", "preset": preset,
                    "steps_per_probe": steps, "precision": precision, "budget_s": budget_s,
                    "environment": environment(), "recipes": {}, "compile": {}}
    chosen = [(n, f) for n, f in probes(preset) if not only or n in only]
    with tempfile.TemporaryDirectory() as tmp:
        for name, factory in chosen:
            if time.time() > deadline:
                record["recipes"][name] = {"skipped": "time budget spent"}
                continue
            try:
                probe = factory()
                record["recipes"][name] = {"config": probe.config, "substitutions": probe.substitutions,
                                           **train_probe(probe, device, steps, Path(tmp) / name, precision)}
            except Exception as err:  # noqa: BLE001 - one failing recipe is a finding; the others still run
                record["recipes"][name] = {"error": f"{type(err).__name__}: {err}"[:500]}
            if device.type == "cuda":
                torch.cuda.empty_cache()
        for name in ("autoencoder/esm", f"diffusion/{DIFFUSION_SETTINGS[0] if preset == 'paper' else preset}"):
            if dry:
                record["compile"][name] = {"skipped": "dry mode: torch.compile is measured on the GPU only"}
            elif time.time() > deadline - 60:
                record["compile"][name] = {"skipped": "time budget spent"}
            elif not only or name in only:
                factory = dict(probes(preset))[name]
                try:
                    record["compile"][name] = compile_probe(factory(), device, steps)
                except Exception as err:  # noqa: BLE001
                    record["compile"][name] = {"error": f"{type(err).__name__}: {err}"[:500]}
        record["benchmarks"] = ({"skipped": "dry mode"} if dry else
                                run_benchmarks("cuda", Path(tmp) / "bench", deadline - 60))
    n_procs = 2 if dry else max(1, torch.cuda.device_count())
    record["torchrun"] = run_torchrun(n_procs, preset, str(device), 2, timeout=max(60.0, deadline + 60 - time.time()))
    record["wall_s"] = round(time.time() - t_start, 1)
    path = Path(results) if results is not None else RESULTS
    write_result(path, {**record, "provenance": provenance()})
    record["path"] = repo_relative(path)
    return record


def summary_lines(record: dict) -> list[str]:
    """One line per stage and recipe, for the terminal."""
    env = record["environment"]
    gpus = ", ".join(g["name"] for g in env["gpus"]) or "no GPU"
    lines = [f"{record['mode']}: {gpus}; torch {env['torch']}, CUDA {env['cuda']}, driver {env['driver']}"]
    for name, r in record["recipes"].items():
        if "sec_per_step" in r:
            mem = f", {r['max_memory_allocated_gib']} GiB" if "max_memory_allocated_gib" in r else ""
            lines.append(f"  {name:32s} {r['images_per_s']:8.1f} img/s per GPU (batch {r['per_gpu_batch']}){mem}")
        else:
            lines.append(f"  {name:32s} {r.get('error') or r.get('skipped')}")
    for name, r in record["compile"].items():
        lines.append(f"  compile {name:24s} " + (f"x{r['speedup']:.2f} (compile {r['compile_s']} s)"
                                                 if "speedup" in r else str(r.get("error") or r.get("skipped"))))
    t = record["torchrun"]
    lines.append(f"  torchrun: world {t['world_size']}, {t['sec_per_step']:.3f} s/step" if "world_size" in t
                 else f"  torchrun: {t.get('error')}")
    lines.append(f"written to {record['path']} in {record['wall_s']} s")
    return lines


__all__ = ["gpu_check", "environment", "autoencoder_probe", "diffusion_probe", "probes", "train_probe",
           "compile_probe", "run_torchrun", "torchrun_worker", "summary_lines", "Probe"]
