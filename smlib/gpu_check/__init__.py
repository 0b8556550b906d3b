"""``python -m smlib gpu-check``: one command that says whether every recipe runs at paper scale on this GPU machine,
how fast, how close to the chip's limit, in how much memory, and whether multi-GPU training starts.

    python -m smlib gpu-check                     # a CUDA machine: about 8 minutes -> results/benchmarks/gpu.json
    python -m smlib gpu-check --dry --results /tmp/gpu.json    # CPU: the same stages at ci size, in a minute

Stages, each recorded in the results file, each skipped (and said so) once its share of the time budget is spent
(:data:`STAGE_SHARES`):

1. **environment** - GPU names and memory, driver, torch / CUDA / cuDNN versions; **peak**: the chip's dense rate
   measured now (a large bf16 matmul; float32 on a CPU), the yardstick of every share below.
2. **recipes** - every recipe's ``paper`` configuration (:mod:`.probes`) trains for ``--steps`` steps through
   :func:`smlib.train.fit` in bf16 on synthetic data of the paper's shapes and per-GPU batch. Recorded: median
   seconds per step after warm-up, images per second per GPU, peak ``torch.cuda.max_memory_allocated``, checkpoint
   size; and one optimiser step measured alone (:class:`.measure.TrainStep`): its model FLOPs counted with
   ``torch.utils.flop_counter.FlopCounterMode``, seconds, achieved TFLOP/s and share of the measured peak, memory.
3. **compile** - the same step with the networks under ``torch.compile`` (:func:`.measure.compile_task`), for
   every recipe in turn (SiT-B/2 first) while the budget lasts: compile time, seconds, TFLOP/s, share, memory (or
   the error, if it fails).
4. **limits** - where SiT-B/2's step (batch 256, compiled when that worked) spends its time
   (:func:`.measure.time_split`: data, forward, backward, optimizer; attention, matmul and optimizer kernels; the
   device's idle time, i.e. launch overhead), and the lines that read it.
5. **peers, benchmarks** - the peer packages installed from carried wheels (:func:`.stages.install_peers`), then
   ``benchmarks/bench_*.py --device cuda --quick`` as subprocesses, each writing its own JSON, folded in.
6. **torchrun** - two steps of the diffusion recipe under ``torchrun`` over all visible GPUs (2 gloo processes on
   CPU in dry mode), so DDP start-up, the all-reduce and the rank-0 checkpoint are exercised.

Dry mode runs every stage on the CPU at the ``ci`` presets for two steps; its compile stage uses the ``eager``
backend (graph capture only) on SiT alone, and it skips the peers and benchmarks. It is what
``tests/test_gpu_check.py`` runs; its numbers mean nothing beyond "the stage runs" (its peak is the CPU's float32
matmul rate, labelled so).
"""
from __future__ import annotations

import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import torch

from smlib.gpu_check import measure
from smlib.gpu_check.probes import (AUTOENCODER_VARIANTS, DCTDIFF_SETTINGS, DIFFUSION_SETTINGS, REPA_ARMS, Probe,
                                    autoencoder_probe, dctdiff_probe, diffusion_probe, probes, spectral_reg_probe)
from smlib.gpu_check.stages import install_peers, run_benchmarks, run_torchrun, torchrun_worker
from smlib.provenance import REPO_ROOT, provenance, repo_relative
from smlib.results import write_result

RESULTS = REPO_ROOT / "results" / "benchmarks" / "gpu.json"
#: when each stage stops starting new work, as a fraction of the budget from the start (so every stage gets time);
#: the benchmarks run until 10 s before the budget ends, and torchrun after it (at most a minute more)
STAGE_SHARES = {"recipes": 0.45, "compile": 0.70, "limits": 0.78}


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


# ------------------------------------------------------------------------------------------------ stages
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
    measure.reset_peak_memory(device)   # a fresh torchrun rank has no CUDA allocator until its first allocation
    t0 = time.perf_counter()
    result = fit(probe.task, tc, probe.data, resume=False, progress=False,
                 callback=lambda step, logs: times.append(logs["sec_per_step"]))
    measure.sync(device)
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


def measure_step(probe: Probe, device: torch.device, amp: torch.dtype | None, steps: int, peak: dict,
                 backend: str | None = None, known: dict | None = None) -> dict:
    """One optimiser step of ``probe`` alone (:class:`.measure.TrainStep`): FLOPs per step, median seconds after a
    quarter of warm-up, achieved TFLOP/s, share of ``peak`` and peak memory; with ``backend`` the same step with the
    networks compiled by it (first compiled step's excess over a steady one: compile time). ``known``: this
    function's eager result for the same probe, reused instead of measured again."""
    step = measure.TrainStep(probe.task, _first_batch(probe), device, amp)
    if known is not None and "eager" in known:
        out = {k: known[k] for k in ("flops_per_step", "attention_flops_per_step", "counted_by", "eager")}
    else:
        out = measure.count_flops(step)
        measure.reset_peak_memory(device)
        eager = statistics.median(step.timed(steps)[steps // 4:])
        out["eager"] = {"sec_per_step": eager, **measure.efficiency(out["flops_per_step"], eager, peak),
                        **measure.peak_memory(device)}
    if backend is None:
        return out
    eager = out["eager"]["sec_per_step"]
    undo = measure.compile_task(probe.task, backend=backend)
    try:
        measure.reset_peak_memory(device)
        first = step.timed(1)[0]
        compiled = statistics.median(step.timed(steps)[steps // 4:])
        out["compiled"] = {"backend": backend, "sec_per_step": compiled, "compile_s": round(first - compiled, 2),
                           "speedup": eager / compiled, **measure.efficiency(out["flops_per_step"], compiled, peak),
                           **measure.peak_memory(device)}
    except Exception as err:  # noqa: BLE001 - a compile failure is a finding, recorded as such
        out["compiled"] = {"backend": backend, "error": f"{type(err).__name__}: {err}".splitlines()[0][:300]}
    undo()
    return out


def _first_batch(probe: Probe):
    data = probe.data
    return tuple(t[:probe.batch_size] for t in data) if isinstance(data, tuple) else data[:probe.batch_size]


def _error(err: Exception) -> dict:
    return {"error": f"{type(err).__name__}: {err}".splitlines()[0][:300]}


def limits_stage(probe: Probe, device: torch.device, amp, backend: str | None, peak: dict, steps: int) -> dict:
    """SiT-B/2's step (``probe``) compiled with ``backend`` (eager if None or if compiling fails), split by
    :func:`.measure.time_split`, with its share of the peak and the lines that say what limits it."""
    step = measure.TrainStep(probe.task, _first_batch(probe), device, amp)
    flops = measure.count_flops(step)["flops_per_step"]
    mode = "eager"
    if backend is not None:
        measure.compile_task(probe.task, backend=backend)
        try:
            step.timed(2)
            mode = f"compiled ({backend})"
        except Exception as err:  # noqa: BLE001
            return {"probe": probe.name, **_error(err)}
    split = measure.time_split(step, steps)
    share = measure.efficiency(flops, split["profiled_step_s"], peak)["share_of_peak"]
    return {"probe": probe.name, "mode": mode, "per_gpu_batch": probe.batch_size, "share_of_peak": share,
            "goal": "share_of_peak >= 0.5 (SiT-B/2, batch 256, compiled, on a GPU)",
            "goal_met": share >= 0.5 if device.type == "cuda" else None, "split": split,
            "reading": measure.limits(split, share)}


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
    stage_end = {k: t_start + f * budget_s for k, f in STAGE_SHARES.items()}
    device = torch.device("cpu" if dry else "cuda")
    preset, precision, amp = ("ci", "fp32", None) if dry else ("paper", "bf16", torch.bfloat16)
    steps = steps or (2 if dry else 24)
    sit = f"diffusion/{DIFFUSION_SETTINGS[0] if preset == 'paper' else preset}"
    record: dict = {"mode": "dry (CPU, ci presets)" if dry else "gpu (paper presets)", "preset": preset,
                    "steps_per_probe": steps, "precision": precision, "budget_s": budget_s,
                    "environment": environment(), "peak": measure.matmul_peak(device), "recipes": {}, "compile": {}}
    chosen = [(n, f) for n, f in probes(preset) if not only or n in only]
    with tempfile.TemporaryDirectory() as tmp:
        for name, factory in chosen:
            if time.time() > stage_end["recipes"]:
                record["recipes"][name] = {"skipped": "time budget spent"}
                continue
            try:
                probe = factory()
                r = record["recipes"][name] = {"config": probe.config, "substitutions": probe.substitutions,
                                               **train_probe(probe, device, steps, Path(tmp) / name, precision)}
                del probe
                _empty_cache(device)
                r["step"] = measure_step(factory(), device, amp, steps, record["peak"])
            except Exception as err:  # noqa: BLE001 - one failing recipe is a finding; the others still run
                record["recipes"][name] = {**record["recipes"].get(name, {}), **_error(err)}
            _empty_cache(device)
        backend = "eager" if dry else "inductor"
        order = sorted(chosen, key=lambda nf: nf[0] != sit)     # SiT-B/2 first: the goal is stated for it
        if dry:   # the autoencoders' compiled step is tested on its own (tests/test_ae_compile.py)
            order = [nf for nf in order if nf[0] == sit]
        for name, factory in order:
            if time.time() > stage_end["compile"]:
                record["compile"][name] = {"skipped": "time budget spent"}
                continue
            try:
                r = measure_step(factory(), device, amp, steps, record["peak"], backend=backend,
                                 known=record["recipes"].get(name, {}).get("step"))
                record["compile"][name] = {"flops_per_step": r["flops_per_step"], "eager": r["eager"],
                                           "compiled": r["compiled"]}
            except Exception as err:  # noqa: BLE001
                record["compile"][name] = _error(err)
            _empty_cache(device)
        compiled_ok = "error" not in record["compile"].get(sit, {}).get("compiled", {"error": 1})
        if sit in dict(chosen) and time.time() < stage_end["limits"]:
            try:
                record["limits"] = limits_stage(dict(chosen)[sit](), device, amp, backend if compiled_ok else None,
                                                record["peak"], 3 if dry else 5)
            except Exception as err:  # noqa: BLE001
                record["limits"] = {"probe": sit, **_error(err)}
        else:
            record["limits"] = {"probe": sit, "skipped": "time budget spent" if sit in dict(chosen) else "not chosen"}
        _empty_cache(device)
        record["peers"] = {"skipped": "dry mode"} if dry else install_peers()
        record["benchmarks"] = ({"skipped": "dry mode"} if dry else
                                run_benchmarks("cuda", Path(tmp) / "bench", deadline - 10))
    n_procs = 2 if dry else max(1, torch.cuda.device_count())
    record["torchrun"] = run_torchrun(n_procs, preset, str(device), 2, timeout=max(60.0, deadline + 60 - time.time()))
    record["wall_s"] = round(time.time() - t_start, 1)
    path = Path(results) if results is not None else RESULTS
    write_result(path, {**record, "provenance": provenance()})
    record["path"] = repo_relative(path)
    return record


def _empty_cache(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()


def summary_lines(record: dict) -> list[str]:
    """One line per stage and recipe, for the terminal."""
    env = record["environment"]
    gpus = ", ".join(g["name"] for g in env["gpus"]) or "no GPU"
    lines = [f"{record['mode']}: {gpus}; torch {env['torch']}, CUDA {env['cuda']}, driver {env['driver']}",
             f"  peak: {record['peak']['tflops']:.3g} TFLOP/s ({record['peak']['label']})"]
    for name, r in record["recipes"].items():
        if "sec_per_step" in r:
            mem = f", {r['max_memory_allocated_gib']} GiB" if "max_memory_allocated_gib" in r else ""
            s = r.get("step", {})
            eff = (f", {s['flops_per_step'] / 1e9:.3g} GFLOP/step, {s['eager']['share_of_peak']:.0%} of peak"
                   if "eager" in s else "")
            lines.append(f"  {name:32s} {r['images_per_s']:8.1f} img/s per GPU (batch {r['per_gpu_batch']}){mem}{eff}")
        else:
            lines.append(f"  {name:32s} {r.get('error') or r.get('skipped')}")
    for name, r in record["compile"].items():
        c = r.get("compiled", {})
        lines.append(f"  compile {name:24s} " + (f"x{c['speedup']:.2f}, {c['share_of_peak']:.0%} of peak "
                                                 f"(compile {c['compile_s']} s)" if "speedup" in c
                                                 else str(c.get("error") or r.get("error") or r.get("skipped"))))
    lim = record.get("limits", {})
    if "reading" in lim:
        lines.append(f"  limits of {lim['probe']} ({lim['mode']}): " + "; ".join(lim["reading"][:4]))
    else:
        lines.append(f"  limits: {lim.get('error') or lim.get('skipped')}")
    t = record["torchrun"]
    lines.append(f"  torchrun: world {t['world_size']}, {t['sec_per_step']:.3f} s/step" if "world_size" in t
                 else f"  torchrun: {t.get('error')}")
    lines.append(f"written to {record['path']} in {record['wall_s']} s")
    return lines


__all__ = ["gpu_check", "environment", "autoencoder_probe", "diffusion_probe", "dctdiff_probe", "spectral_reg_probe",
           "probes", "train_probe", "measure_step", "limits_stage", "run_benchmarks", "run_torchrun", "install_peers",
           "torchrun_worker", "summary_lines", "Probe", "AUTOENCODER_VARIANTS", "DIFFUSION_SETTINGS",
           "DCTDIFF_SETTINGS", "REPA_ARMS"]
