"""The Performance page's tables read the benchmark records as the benchmarks write them: speedups are inverted
median time ratios, rows follow the record's cases, and a missing record reads as None."""
from __future__ import annotations

import pytest

from smlib import performance as perf


def _ratio(t, base):  # a ratio_table row, as benchmarks/common.py writes it
    return {"median_s": t, f"ratio_to_{base}": t / base}


def test_speedup_is_the_inverse_median_time_ratio():
    assert perf.speedup({"median_s": 0.5, "ratio_to_authors": 0.25}, "authors") == 4.0


def test_esm_rows_follow_the_cases_and_convert_to_ms():
    case = {"agreement": {"smlib_vs_authors": {"loss": 1e-7, "grad": 2e-7}},
            "single": {"authors": {"median_s": 0.06}, "smlib": {"median_s": 0.002}},
            "speedup": {"single": 30.0, "vae": 60.0}}
    rows = perf.esm_rows({"cases": {"lab": case, "f16d16": case}})
    assert [r["shape"] for r in rows] == ["lab", "f16d16"]
    assert rows[0]["authors_ms"] == pytest.approx(60.0) and rows[0]["smlib_ms"] == pytest.approx(2.0)
    assert rows[0]["vae"] == 60.0 and rows[0]["grad_rel"] == 2e-7


def test_dit_rows_give_one_row_per_size_and_loop():
    loop = {"smlib_items_per_s": 10.0, "diffusers_items_per_s": 8.0, "ratio_smlib_over_diffusers": 1.25,
            "unit": "images/s"}
    rec = {"results": {"small": {"model": {"hidden_size": 128}, "tokens": 16, "training": loop, "sampling": loop},
                       "paper": {"model": {"name": "B/2"}, "tokens": 256, "training": loop, "sampling": loop}}}
    rows = perf.dit_rows(rec)
    assert all(r["interval"] is None and r["reading"] == "unmeasured" for r in rows)   # a record from before intervals
    assert [(r["size"], r["loop"]) for r in rows] == [("small: 128, 16 tokens", "training"),
                                                      ("small: 128, 16 tokens", "sampling"),
                                                      ("paper: B/2, 256 tokens", "training"),
                                                      ("paper: B/2, 256 tokens", "sampling")]


def test_memory_rows_mark_extrapolated_and_failed_configurations():
    rec = {"results": {
        "ae/plain@paper": {"per_gpu_batch": 12, "measured": [{"batch": 1}, {"batch": 2}],
                           "per_gpu": {"extrapolated": True, "step_peak_mib": {"value": 900.0},
                                       "step_transient_mib": {"value": 700.0}}},
        "diffusion@paper": {"per_gpu_batch": 32, "measured": [{"batch": 1, "error": "killed"}]}}}
    ok, bad = perf.memory_rows(rec)
    assert ok["measured_at"] == "1, 2" and ok["extrapolated"] is True and ok["step_peak_mib"] == 900.0
    assert bad["error"] == "killed" and bad["step_peak_mib"] is None


def test_gpu_rows_say_why_a_recipe_has_no_number():
    rec = {"recipes": {"autoencoder/esm": {"images_per_s": 120.0, "per_gpu_batch": 48,
                                           "max_memory_allocated_gib": 20.5, "substitutions": ["LPIPS off"]},
                       "diffusion/imagenet256": {"skipped": "time budget spent"}}}
    rows = perf.gpu_rows(rec)
    assert rows[0]["note"] == "LPIPS off" and rows[1]["note"] == "time budget spent"
    assert rows[1]["images_per_s"] is None


def test_gpu_stage_lines_name_each_stage_and_why_one_did_not_run():
    rec = {"compile": {"diffusion/x": {"speedup": 1.68, "compile_s": 31.5}, "autoencoder/esm": {"error": "dtype"}},
           "torchrun": {"error": "torchrun exited 1"},
           "benchmarks": {"memory": {"results": {}}, "inception": {"error": ["No module named 'pytorch_fid'"]},
                          "frechet": {"skipped": "time budget spent"}}}
    lines = perf.gpu_stage_lines(rec)
    assert lines[:3] == ["compile diffusion/x: x1.68 after 31.5 s of compilation", "compile autoencoder/esm: dtype",
                         "torchrun: torchrun exited 1"]
    assert lines[3] == "benchmarks run: memory"
    assert lines[4:] == ["  inception: No module named 'pytorch_fid'", "  frechet: time budget spent"]
    ok = perf.gpu_stage_lines({"torchrun": {"world_size": 2, "sec_per_step": 0.2, "checkpoint_written": True},
                               "benchmarks": {"skipped": "dry mode"}})
    assert ok == ["torchrun: world 2, 0.200 s/step, checkpoint written True", "benchmarks: dry mode"]


def test_a_missing_record_reads_as_none():
    assert perf.load("no_such_benchmark") is None


def test_scaling_facts_read_the_sweeps():
    esm = perf.esm_scaling_facts({"scaling": {"z_side": [4, 8, 16], "speedup": [3.0, 2.0, 9.0]}})
    assert esm == {"speedup_by_side": {4: 3.0, 8: 2.0, 16: 9.0}, "monotone": False, "largest_at": 16}
    pts = [{"tokens": t, "smlib_step_s": s, "ratio_smlib_over_diffusers": r}
           for t, s, r in ((4, 1.0, 1.2), (16, 2.0, 1.0), (64, 8.0, 0.9))]
    step = perf.step_scaling_facts({"scaling": {"points": pts}})
    assert step["growth"] == [(4.0, 2.0), (4.0, 4.0)] and step["ratio_by_tokens"][64] == 0.9
    rows = [{"n": n, "features_s": f, "total_s": f + 1.0} for n, f in ((50, 3.0), (400, 23.0))]
    fid = perf.fid_scaling_facts({"fid_vs_n": {"rows": {"smlib": rows}}})
    assert fid["feature_share"] == [0.75, 23.0 / 24.0] and fid["time_growth"] == 6.0 and fid["n_growth"] == 8.0


def test_step_scaling_reads_each_paired_ratio_against_one_by_its_interval():
    def point(t, ratio, interval):
        return {"tokens": t, "smlib_step_s": 0.01 * t, "ratio_smlib_over_diffusers": ratio,
                "ratio_paired": {"ratio": ratio, "interval": interval, "rounds": 16}}
    rec = {"scaling": {"points": [point(4, 1.15, [1.1, 1.2]), point(256, 1.01, [0.99, 1.03]),
                                  {"tokens": 1024, "smlib_step_s": 20.0, "ratio_smlib_over_diffusers": 0.9}]}}
    facts = perf.step_scaling_facts(rec)
    assert list(facts["paired_by_tokens"]) == [4, 256]                 # a point from before intervals has none
    assert [perf.ratio_reading(facts["paired_by_tokens"].get(t)) for t in (4, 256, 1024)] == \
        ["faster", "tie", "unmeasured"]
    assert perf.ratio_reading({"interval": [0.8, 0.95]}) == "slower"
