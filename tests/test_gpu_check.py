"""``python -m smlib gpu-check``: the dry mode runs every stage on the CPU and writes an honest record; the GPU mode
refuses a machine without CUDA in one line; benchmark subprocesses are folded in, failures recorded."""
from __future__ import annotations

import json
import math
import subprocess
import sys
import time

import pytest
import torch

from smlib import gpu_check
from smlib.provenance import REPO_ROOT


def _smlib(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "smlib", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO_ROOT, env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})


def test_dry_mode_trains_every_recipe_and_a_two_process_torchrun(tmp_path):
    out = tmp_path / "gpu.json"
    proc = _smlib("gpu-check", "--dry", "--results", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    record = json.loads(out.read_text())
    names = [n for n, _ in gpu_check.probes("ci")]
    assert list(record["recipes"]) == names
    for name in names:
        r = record["recipes"][name]
        assert "error" not in r, (name, r)
        assert r["steps"] == 2 and math.isfinite(r["final_loss"]) and r["sec_per_step"] > 0, (name, r)
        assert r["checkpoint_mib"] > 0
    assert all("dry mode" in r["skipped"] for r in record["compile"].values())
    assert record["torchrun"]["world_size"] == 2 and record["torchrun"]["checkpoint_written"] is True
    assert record["provenance"]["command"].startswith("python -m smlib gpu-check --dry --results")
    assert record["environment"]["torch"] == torch.__version__
    assert "torchrun: world 2" in proc.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is for machines without CUDA")
def test_gpu_mode_without_cuda_is_refused_in_one_line():
    proc = _smlib("gpu-check", timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "--dry" in lines[0]


def test_dry_mode_needs_an_explicit_results_path():
    with pytest.raises(ValueError, match="--results"):
        gpu_check.gpu_check(dry=True)


def test_benchmark_subprocesses_are_folded_in_and_failures_recorded(tmp_path):
    bench = tmp_path / "benchmarks"
    bench.mkdir()
    (bench / "bench_good.py").write_text(
        "import argparse, json\np = argparse.ArgumentParser()\n"
        "[p.add_argument(a) for a in ('--device', '--results')]\np.add_argument('--quick', action='store_true')\n"
        "a = p.parse_args()\njson.dump({'ratio': 1.5, 'device': a.device, 'quick': a.quick,"
        " 'provenance': {}}, open(a.results, 'w'))\n")
    (bench / "bench_bad.py").write_text("raise SystemExit('no peer installed')\n")
    out = gpu_check.run_benchmarks("cuda", tmp_path / "out", time.time() + 120, bench_dir=bench)
    assert out["good"] == {"ratio": 1.5, "device": "cuda", "quick": True}
    assert out["bad"]["error"] == ["no peer installed"]
    late = gpu_check.run_benchmarks("cuda", tmp_path / "out", time.time(), bench_dir=bench)
    assert late == {"bad": {"skipped": "time budget spent"}, "good": {"skipped": "time budget spent"}}


@pytest.mark.parametrize("arm", gpu_check.REPA_ARMS)
def test_repa_probe_trains_the_alignment_term_on_targets_of_the_encoders_shape(arm):
    probe = gpu_check.diffusion_probe(None, "paper", arm=arm, n_batches=1)
    assert probe.config["target_grid"] == [16, 16] and probe.config["target_dim"] == 768   # DINOv2-B/14 at 224 px
    assert probe.config["tap_depth"] == 4                                                    # SiT-B/2: block 4 of 12
    small = gpu_check.diffusion_probe(None, "ci", arm=arm, n_batches=1)
    _, logs = small.task.loss(tuple(t[:2] for t in small.data), 1)
    assert {"loss_diffusion", "loss_align"} <= set(logs) and logs["loss_align"] != 0
