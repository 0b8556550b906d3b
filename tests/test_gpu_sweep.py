"""``python -m smlib gpu-sweep``: the dry mode runs the plan's chapter commands at ci size on the CPU and brings back
samples that, scored here, give exactly the scores the chapter computed itself; the time budget stops runs from
starting (and stops a running one); the capture tags reference images and keeps uint8 levels losslessly."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from smlib import gpu_sweep
from smlib.metrics import preprocess_for_inception
from smlib.metrics.reference import reference_set
from smlib.provenance import REPO_ROOT


def _smlib(*args, timeout=900):
    return subprocess.run([sys.executable, "-m", "smlib", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO_ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_dry_sweep_brings_back_samples_that_score_as_the_chapter_scored_them(tmp_path):
    out = tmp_path / "out"
    proc = _smlib("gpu-sweep", "--dry", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    record = json.loads((out / "gpu_sweep.json").read_text())
    files = sorted(p.name for p in out.iterdir())
    assert len(files) <= 8 and all((out / f).stat().st_size < 16 * 2**20 for f in files)
    assert [r["name"] for r in record["plan"]] == [r.name for r in gpu_sweep.dry_plan()]
    assert record["provenance"]["git_commit"] and record["provenance"]["command"].startswith("python -m smlib gpu-sweep")
    for name, run in record["runs"].items():
        assert run["status"] == "finished", (name, run)
        assert run["samples"]["n"] == 32 and run["references"][0]["n"] == 64   # the ci presets' N and reference
        assert run["features_on_device"] == "real" and "chapter_score_on_device" in run
    scores_path = tmp_path / "scores.json"
    proc = _smlib("gpu-sweep", "--score", str(out), "--results", str(scores_path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    scores = json.loads(scores_path.read_text())["scores"]
    for name, run in record["runs"].items():
        own, here = run["chapter_score_on_device"], scores[name]
        assert here["fid_label"] == own["fid_label"] == "FID-32"
        assert round(here["fid"], 2) == pytest.approx(own["fid"], abs=0.006)   # the chapter prints 2 decimals
        assert round(here["kid"], 4) == pytest.approx(own["kid"], abs=6e-5)


def test_the_budget_stops_runs_from_starting_and_stops_a_running_one(tmp_path):
    plan = [gpu_sweep.PlanRun("too-long", ("dctdiff", "--preset", "ci", "--arm", "pixel", "--seeds", "0"), 1e6),
            gpu_sweep.PlanRun("cut", ("dctdiff", "--preset", "ci", "--arm", "pixel", "--seeds", "0"), 0.1)]
    record = gpu_sweep.run_sweep(tmp_path, budget_s=1.5, dry=True, plan=plan)
    assert record["runs"]["too-long"]["status"] == "not started"
    assert record["runs"]["cut"]["status"] == "stopped: time budget spent"
    assert json.loads((tmp_path / "gpu_sweep.json").read_text())["runs"] == record["runs"]


def test_dry_plan_is_the_plan_at_ci_size():
    dry = gpu_sweep.dry_plan()
    full = {r.name: r for r in gpu_sweep.PLAN}
    assert {r.argv[0] for r in dry} == {"dctdiff", "spectral-reg"}
    for r in dry:
        a, b = list(r.argv), list(full[r.name].argv)
        assert a[a.index("--preset") + 1] == "ci" and b[b.index("--preset") + 1] == "small"
        assert [x for x in a if x not in ("ci", "steps=3")] == [x for x in b if x not in ("small",)
                                                                 and not x.startswith("steps=")]


def test_the_capture_keeps_uint8_levels_losslessly_and_tags_reference_images(tmp_path, monkeypatch):
    x = torch.rand(5, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    back = gpu_sweep._floats(gpu_sweep._uint8(x))
    assert torch.allclose(preprocess_for_inception(back), preprocess_for_inception(x), atol=1e-6)
    monkeypatch.setattr(gpu_sweep.SampleCapture, "store", {})
    monkeypatch.setattr(gpu_sweep.SampleCapture, "real", None)
    capture = gpu_sweep.SampleCapture("cpu")
    ref = reference_set("toy", "train", 8, 5, x, capture, subset="s0", cache_dir=tmp_path)
    assert ref.features.shape == (5, 2048) and np.isfinite(ref.features).all()
    (entry,) = gpu_sweep.SampleCapture.store.values()
    assert entry["meta"]["kind"] == "reference" and entry["meta"]["key"] == ref.key
    assert entry["meta"]["args"] == {"dataset": "toy", "split": "train", "resolution": 8, "n": 5, "subset": "s0"}
    assert np.array_equal(entry["chunks"][0], gpu_sweep._uint8(x))
    assert np.array_equal(capture(x), capture(x))   # placeholder features are a fixed function of the pixels


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is for machines without CUDA")
def test_gpu_mode_without_cuda_is_refused_in_one_line():
    proc = _smlib("gpu-sweep", "--out", "/tmp/unused", timeout=120)
    assert proc.returncode == 2 and proc.stderr.startswith("error:") and "--dry" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
