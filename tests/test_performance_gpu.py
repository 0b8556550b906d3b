"""The Performance page's GPU section: one status row per stage, one line per failure (never a traceback), the
budget's unreached stages summarised, and the FLOP / share-of-peak table read off the record as it stands."""
from __future__ import annotations

import pytest

from smlib import performance as perf

OLD = {  # the shape of a record written before gpu-check counted FLOPs (the committed H200 one)
    "preset": "paper", "steps_per_probe": 24, "precision": "bf16",
    "environment": {"gpus": [{"name": "NVIDIA H200", "memory_gib": 139.8}]},
    "recipes": {"a": {"sec_per_step": 0.1, "images_per_s": 10.0}, "b": {"error": "RuntimeError: boom\n  at line 3"},
                "c": {"skipped": "time budget spent"}},
    "compile": {"a": {"error": "RuntimeError: Input type (c10::BFloat16) and bias type (float) should be the same"},
                "d": {"eager_sec_per_step": 2.0, "compiled_sec_per_step": 1.0, "speedup": 2.0}},
    "benchmarks": {"x": {"skipped": "time budget spent"}, "y": {"skipped": "time budget spent"}},
    "torchrun": {"error": "torchrun exited 1", "tail": ["Traceback (most recent call last):", "  File ..."]},
}


def test_status_rows_one_per_stage_with_one_line_results():
    rows = {r["stage"]: r for r in perf.gpu_status_rows(OLD)}
    assert list(rows) == ["recipes", "compile", "benchmarks", "torchrun"]
    assert all(r["gpu"] == "NVIDIA H200" and "\n" not in r["result"] for r in rows.values())
    assert rows["recipes"]["result"] == "1 of 3 trained; b failed: RuntimeError: boom; 1 not reached"
    assert rows["compile"]["result"].startswith("a failed: RuntimeError: Input type (c10::BFloat16)")
    assert rows["compile"]["result"].endswith("; d x2.00")
    assert rows["benchmarks"]["result"] == "none ran: not reached within the check's time"
    assert rows["torchrun"]["result"] == "failed: torchrun exited 1"
    assert not any("Traceback" in r["result"] or "time budget spent" in r["result"] for r in rows.values())
    assert perf.gpu_efficiency_rows(OLD) == []


def test_efficiency_rows_and_the_new_stages():
    step = {"flops_per_step": 4e12, "eager": {"achieved_tflops": 100.0, "share_of_peak": 0.125,
                                              "peak_memory_gib": 30.0}}
    rec = {**OLD, "recipes": {"sit": {"sec_per_step": 0.1, "per_gpu_batch": 256, "step": step}},
           "compile": {"sit": {"compiled": {"speedup": 2.0, "achieved_tflops": 200.0, "share_of_peak": 0.25,
                                            "peak_memory_gib": 20.0}}},
           "limits": {"probe": "sit", "share_of_peak": 0.25, "reading": ["model FLOP/s at 25%", "matmul: 60%",
                                                                         "attention: 20%", "other: 5%"]},
           "peers": {"installed": True}, "benchmarks": {"dit": {"ratio": 1.1}, "inc": {"skipped": "84 MB"}},
           "torchrun": {"world_size": 1, "sec_per_step": 0.2, "checkpoint_written": True}}
    (row,) = perf.gpu_efficiency_rows(rec)
    assert row == {"recipe": "sit", "batch": 256, "gflop": pytest.approx(4000.0), "eager_tflops": 100.0,
                   "eager_share": 0.125, "compiled_tflops": 200.0, "compiled_share": 0.25, "memory_gib": 20.0}
    rows = {r["stage"]: r["result"] for r in perf.gpu_status_rows(rec)}
    assert rows["compile"] == "sit x2.00" and rows["peers"] == "installed"
    assert rows["limits"] == "25% of the matmul peak; matmul: 60%; attention: 20%"
    assert rows["benchmarks"] == "ran: dit; skipped (peer missing or CPU-only): inc"
    assert rows["torchrun"] == "world 1, 0.200 s/step, checkpoint written"
