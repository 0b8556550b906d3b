"""Training under torchrun: two gloo processes on CPU (tests/ddp_worker.py, launched once for the module) against
one process. DDP at half the batch per rank equals one process at the full batch; a crashed 2-process run resumes
to the unbroken one bit for bit; only rank 0 writes; a GAN whose graph changes with the step neither hangs nor
drifts; FSDP matches one process and resumes; no hand-written gradient reducer is left in smlib."""
import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ddp_worker import (BlockRegression, Regression, StepVaryingGAN, config, gan_config, gan_data,
                        regression_data)
from smlib.train import fit, load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    """The worker's output directory after one 2-process torchrun of every scenario."""
    out = tmp_path_factory.mktemp("torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(ROOT / "tests" / "ddp_worker.py"), str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"torchrun exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    return out


def weights(two, name, rank):
    return torch.load(two / "results" / f"{name}.rank{rank}.pt", weights_only=True)


def assert_tree_close(a, b, path="", exact=False):
    if isinstance(a, torch.Tensor):
        if exact:
            assert torch.equal(a, b), f"{path} differs"
        else:
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=lambda m: f"{path}: {m}")
    elif isinstance(a, dict):
        assert set(a) == set(b), f"{path}: keys {sorted(set(a) ^ set(b), key=str)}"
        for k in a:
            assert_tree_close(a[k], b[k], f"{path}.{k}", exact)
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{path}: lengths"
        for i, (u, v) in enumerate(zip(a, b)):
            assert_tree_close(u, v, f"{path}[{i}]", exact)
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def rows(path, skip=("sec_per_step",)):
    with open(path, newline="") as f:
        return [(r["step"], r["key"], r["value"]) for r in csv.DictReader(f) if r["key"] not in skip]


def test_two_processes_at_half_batch_each_match_one_process_at_the_full_batch(two, tmp_path):
    single = Regression()
    fit(single, config(tmp_path), regression_data(), progress=False)
    w0, w1 = weights(two, "ddp", 0), weights(two, "ddp", 1)
    assert_tree_close(w0, w1, "rank 1 vs rank 0", exact=True)  # the ranks stay in lockstep
    assert_tree_close(w0, single.model.state_dict(), "2 ranks vs 1")  # mean of half-batch grads = full-batch grad
    e0, e1 = weights(two, "ddp_ema", 0), weights(two, "ddp_ema", 1)  # what evaluate saw at the end: the EMA
    assert_tree_close(e0, e1, "EMA: rank 1 vs rank 0", exact=True)
    assert_tree_close(e0, single.evaluated, "EMA: 2 ranks vs 1")
    ckpt, ref = load_checkpoint(two / "ddp" / "rank0" / "last.pt"), load_checkpoint(tmp_path / "last.pt")
    for key in ("model", "ema", "optimizer"):  # unwrapped names (no "module."), loadable at any world size
        assert_tree_close(ckpt[key], ref[key], key)
    assert ckpt["world_size"] == 2 and len(ckpt["rng"]) == 2


def test_two_process_run_resumed_after_a_crash_ends_as_the_unbroken_run(two):
    full = load_checkpoint(two / "noisy_full" / "last.pt")
    resumed = load_checkpoint(two / "noisy_resumed" / "last.pt")
    assert full["step"] == resumed["step"] == 8
    for key in ("model", "ema", "optimizer", "aux_model", "rng", "data"):
        assert_tree_close(resumed[key], full[key], key, exact=True)
    assert not torch.equal(full["rng"][0]["torch"], full["rng"][1]["torch"])  # each rank its own noise
    assert rows(two / "noisy_resumed" / "metrics.csv") == rows(two / "noisy_full" / "metrics.csv")


def test_only_rank_zero_writes(two):
    assert os.listdir(two / "ddp") == ["rank0"]  # rank 1 was given out_dir .../rank1: never created
    assert sorted(os.listdir(two / "ddp" / "rank0")) == ["last.pt", "metrics.csv", "summary.json"]
    assert os.listdir(two / "cwd0") == [] and os.listdir(two / "cwd1") == []


@pytest.mark.parametrize("alternate", [True, False], ids=["alternating", "same_step"])
def test_step_varying_gan_under_two_processes_matches_one_process(two, tmp_path, alternate):
    cfg = gan_config(tmp_path, alternate)
    single = StepVaryingGAN(cfg)
    never = single.model["never"].weight.detach().clone()
    fit(single, cfg, gan_data(), progress=False)
    name = f"gan_{'alt' if alternate else 'both'}"
    for part, module in (("g", single.model), ("d", single.aux_model)):
        w0, w1 = weights(two, f"{name}_{part}", 0), weights(two, f"{name}_{part}", 1)
        assert_tree_close(w0, w1, f"{part}: rank 1 vs rank 0", exact=True)
        assert_tree_close(w0, module.state_dict(), f"{part}: 2 ranks vs 1")
    # no rank used it: its grad stayed None (a zero grad would have let weight decay move it)
    assert torch.equal(weights(two, f"{name}_g", 0)["never.weight"], never)


def test_fsdp_matches_one_process_and_resumes_from_its_full_state_checkpoint(two, tmp_path):
    fit(BlockRegression(), config(tmp_path, eval_every=3), regression_data(), progress=False)
    ref = load_checkpoint(tmp_path / "last.pt")
    full = load_checkpoint(two / "fsdp_full" / "last.pt")
    resumed = load_checkpoint(two / "fsdp_resumed" / "last.pt")
    for key in ("model", "ema", "optimizer"):  # full (gathered) states in the 1-process layout
        assert_tree_close(full[key], ref[key], f"fsdp vs 1 process: {key}")
        assert_tree_close(resumed[key], full[key], f"resumed vs unbroken: {key}", exact=True)
    evals = [r for r in rows(tmp_path / "metrics.csv") if r[1].startswith("eval/")]  # the gathered EMA model
    got = [r for r in rows(two / "fsdp_full" / "metrics.csv") if r[1].startswith("eval/")]
    assert [r[:2] for r in got] == [r[:2] for r in evals] == [("3", "eval/probe"), ("6", "eval/probe")]
    assert [float(r[2]) for r in got] == pytest.approx([float(r[2]) for r in evals], rel=1e-5)


def test_fsdp_refuses_a_task_with_an_aux_model_and_parallel_names_a_kind(tmp_path):
    cfg = config(tmp_path, parallel="fsdp", steps=1)
    with pytest.raises(ValueError, match="aux_model.*parallel='ddp'"):
        fit(StepVaryingGAN(cfg), cfg, gan_data(), progress=False)
    with pytest.raises(ValueError, match="'ddp' or 'fsdp'"):
        config(tmp_path, parallel="dp")


def test_no_hand_written_gradient_reducer_remains():
    hits = []
    for path in sorted((ROOT / "smlib").rglob("*.py")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if "all_reduce_grads" in line or (re.search(r"all_reduce\w*\(", line) and "grad" in line):
                hits.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    hits += [f"smlib/train/{p.name}: calls all_reduce" for p in (ROOT / "smlib" / "train").glob("*.py")
             if re.search(r"\ball_reduce\(", p.read_text())]
    assert not hits, "gradients are averaged by DDP/FSDP (smlib.train.parallel), not by hand:\n" + "\n".join(hits)
