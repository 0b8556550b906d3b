"""``python -m smlib gpu-check``: the dry mode runs every stage on the CPU and writes an honest record (FLOPs per step,
share of the measured matmul rate, the SiT step's time split); the GPU mode refuses a machine without CUDA in one
line; FLOPs are counted as closed forms say; benchmark subprocesses are folded in, skipped for a missing peer, and
failures recorded; carried wheels install without an index."""
from __future__ import annotations

import json
import math
import subprocess
import sys
import time

import pytest
import torch

from smlib import gpu_check
from smlib.gpu_check import measure, stages
from smlib.provenance import REPO_ROOT


def _smlib(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "smlib", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO_ROOT, env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})


def test_dry_mode_trains_every_recipe_and_a_two_process_torchrun(tmp_path):
    out = tmp_path / "gpu.json"
    proc = _smlib("gpu-check", "--dry", "--results", str(out), "--budget-s", "1800")   # a loaded CPU is slow
    assert proc.returncode == 0, proc.stderr[-2000:]
    record = json.loads(out.read_text())
    names = [n for n, _ in gpu_check.probes("ci")]
    assert list(record["recipes"]) == names
    for name in names:
        r = record["recipes"][name]
        assert "error" not in r, (name, r)
        assert r["steps"] == 2 and math.isfinite(r["final_loss"]) and r["sec_per_step"] > 0, (name, r)
        assert r["checkpoint_mib"] > 0
        step = r["step"]   # one step measured alone: FLOPs counted, share of the CPU's measured matmul rate
        assert step["flops_per_step"] > 0 and step["counted_by"].startswith("torch.utils.flop_counter"), name
        e = step["eager"]
        assert e["achieved_tflops"] == pytest.approx(step["flops_per_step"] / e["sec_per_step"] / 1e12)
        assert e["share_of_peak"] == pytest.approx(e["achieved_tflops"] / record["peak"]["tflops"])
        assert e["peak_memory_gib"] > 0 and "CPU" in e["peak_memory_kind"]
    assert record["peak"]["tflops"] > 0 and record["peak"]["label"].startswith("CPU float32 matmul")
    assert record["recipes"]["diffusion/ci"]["step"]["attention_flops_per_step"] > 0
    sit = record["compile"]["diffusion/ci"]["compiled"]
    assert sit["backend"] == "eager" and {"sec_per_step", "compile_s", "share_of_peak", "peak_memory_gib"} <= set(sit)
    limits = record["limits"]
    assert limits["probe"] == "diffusion/ci" and limits["mode"] == "compiled (eager)" and limits["goal_met"] is None
    assert set(limits["split"]["parts_s"]) == set(gpu_check.measure.STEP_PARTS)
    assert limits["split"]["kernels_s"]["attention"] > 0 and limits["split"]["kernels_s"]["matmul"] > 0
    assert limits["reading"][0].startswith("model FLOP/s at") and limits["reading"][-1].startswith("parts: data")
    assert record["peers"] == {"skipped": "dry mode"}
    assert record["torchrun"]["world_size"] == 2 and record["torchrun"]["checkpoint_written"] is True
    assert record["provenance"]["command"].startswith("python -m smlib gpu-check --dry --results")
    assert record["budget_s"] == 1800
    assert record["environment"]["torch"] == torch.__version__
    assert "torchrun: world 2" in proc.stdout and "GFLOP/step" in proc.stdout and "limits of diffusion/ci" in proc.stdout


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


class _LinearTask:
    """A task whose step is one bias-free linear layer on inputs without gradient: FLOPs in closed form."""

    def __init__(self, b=6, i=8, o=4, attention=False):
        self.model = torch.nn.Linear(i, o, bias=False)
        self.attention = attention

    def loss(self, batch, step):
        y = self.model(batch)
        if self.attention:   # (B, heads 1, T = B, O) self-attention on the outputs
            q = y[None, None]
            y = torch.nn.functional.scaled_dot_product_attention(q, q, q)
        return y.square().mean(), {}


def test_flops_per_step_match_the_closed_forms():
    b, i, o = 6, 8, 4
    step = measure.TrainStep(_LinearTask(b, i, o), torch.randn(b, i), torch.device("cpu"), None)
    # forward x W^T: 2 B I O; backward: the weight's gradient only (x needs none): 2 B I O
    assert measure.count_flops(step)["flops_per_step"] == 4 * b * i * o
    step = measure.TrainStep(_LinearTask(b, i, o, attention=True), torch.randn(b, i), torch.device("cpu"), None)
    flops = measure.count_flops(step)
    # attention of T = B tokens of width O: forward Q K^T and P V, 2 T T O each; backward recomputes Q K^T and
    # takes four more products of that size (dP, dV, dQ, dK): 10 T T O
    assert flops["attention_flops_per_step"] == (4 + 10) * b * b * o
    assert flops["flops_per_step"] == 4 * b * i * o + flops["attention_flops_per_step"]


def test_efficiency_is_flops_over_time_against_the_peak():
    e = measure.efficiency(3e12, 2.0, {"tflops": 6.0})
    assert e == {"achieved_tflops": 1.5, "share_of_peak": 0.25}


def test_missing_peers_and_cpu_only_benchmarks_are_skipped_with_the_reason(tmp_path, monkeypatch):
    bench = tmp_path / "benchmarks"
    bench.mkdir()
    for name in ("needs_peer", "cpu_only", "heavy"):
        (bench / f"bench_{name}.py").write_text("raise SystemExit('must not run')\n")
    monkeypatch.setitem(stages.BENCH_NEEDS, "needs_peer", ("no_such_module_here",))
    monkeypatch.setitem(stages.BENCH_NEEDS, "heavy", ("fid_helper_pytorch_not_here",))
    monkeypatch.setitem(stages.CANNOT_TRAVEL, "fid_helper_pytorch_not_here", "84 MB: cannot travel")
    monkeypatch.setitem(stages.CPU_ONLY, "cpu_only", "numpy on the CPU")
    out = stages.run_benchmarks("cuda", tmp_path / "out", time.time() + 120, bench_dir=bench)
    assert out == {"cpu_only": {"skipped": "numpy on the CPU"}, "heavy": {"skipped": "84 MB: cannot travel"},
                   "needs_peer": {"skipped": "no_such_module_here is not installed (carry gpu_carry/)"}}


def _wheel(folder, name="smlibprobepkg", version="0.1"):
    """A minimal pure-Python wheel (PEP 427) holding one module."""
    import base64
    import hashlib
    import zipfile

    info = f"{name}-{version}.dist-info"
    files = {f"{name}/__init__.py": "VALUE = 7\n",
             f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = "".join(f"{p},sha256={base64.urlsafe_b64encode(hashlib.sha256(t.encode()).digest()).rstrip(b'=').decode()},"
                     f"{len(t.encode())}\n" for p, t in files.items()) + f"{info}/RECORD,,\n"
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for p, t in {**files, f"{info}/RECORD": record}.items():
            z.writestr(p, t)
    return path


def test_carried_wheels_install_without_an_index(tmp_path):
    assert "skipped" in stages.install_peers(tmp_path / "absent", tmp_path / "req.txt")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels)
    (tmp_path / "req.txt").write_text("smlibprobepkg==0.1\n")
    out = stages.install_peers(wheels, tmp_path / "req.txt", target=tmp_path / "site")
    assert out["installed"] is True and out["wheels"] == 1, out
    assert (tmp_path / "site" / "smlibprobepkg" / "__init__.py").read_text() == "VALUE = 7\n"
