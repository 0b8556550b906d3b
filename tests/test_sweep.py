"""The sweep engine (smlib.sweep) on a toy chapter whose runs are plain arithmetic: it runs what is missing, writes
one file per finished run with its identity and provenance, skips committed runs, refuses a committed run of
another recipe, resumes after an interruption to the same files, averages runs sharing a seed, and judges the
declared families paired by seed with the other tests beside it."""
import dataclasses
import json
from dataclasses import dataclass

import numpy as np
import pytest

from smlib import stats
from smlib.config import PresetConfig, register_presets
from smlib.results import RunContext, read_shards
from smlib.stats import Comparison
from smlib.sweep import (Family, Metric, Sweep, curve_mean, family_summary, final, load_families, open_effect_lines,
                         per_seed_differences, pooled_agreement, seed_lines, verdict_lines)
from smlib.verdicts import ruled_out_lines


@dataclass(frozen=True)
class ToyConfig(PresetConfig):
    offset: float = 0.0
    steps: int = 3
    seeds: tuple[int, ...] = (0, 1, 2)


register_presets(ToyConfig, ToyConfig(), ToyConfig(steps=5), ToyConfig())

SEED_EFFECT = {0: 10.0, 1: -4.0, 2: 3.0, 3: 0.5}
ARM_MEAN = {"a": 1.0, "b": 2.0, "c": 1.0}
calls = []


def toy_run(arm, seed, cfg, ctx):
    calls.append((arm, seed))
    return {"arm": arm, "seed": seed, "completed": True, "steps": cfg.steps,
            "final": {"fid": ARM_MEAN[arm] + SEED_EFFECT[seed] + cfg.offset + 0.01 * seed * (arm == "b")}}


FAMILY = Family("toy", "fid", (Comparison("a", "b", "our inference"), Comparison("c", "a", "our inference")),
                "in this test, before the runs")
SWEEP = Sweep("toy", {"a": "arm A", "b": "arm B", "c": "arm C"}, (Metric("fid", "gFID", final("fid")),),
              (FAMILY,), toy_run)


def test_runs_are_written_seed_major_with_identity_and_provenance_and_committed_ones_are_skipped(tmp_path):
    cfg, ctx = ToyConfig.at("ci"), RunContext(results_dir=tmp_path)
    calls.clear()
    rows = SWEEP.run(cfg, ctx)
    assert calls == [("a", 0), ("b", 0), ("c", 0), ("a", 1), ("b", 1), ("c", 1), ("a", 2), ("b", 2), ("c", 2)]
    files = sorted(p.name for p in (tmp_path / "toy" / "ci").iterdir())
    assert files == [f"{a}-seed{s}.json" for a in "abc" for s in range(3)]
    rec = json.loads((tmp_path / "toy" / "ci" / "b-seed1.json").read_text())
    assert rec["config"] == {"offset": 0.0} and rec["config_steps"] == 3 and "provenance" in rec
    assert [r["final"]["fid"] for r in rows][:2] == [11.0, 12.0]
    calls.clear()
    again = SWEEP.run(cfg, ctx)
    assert calls == [] and [r["final"] for r in again] == [r["final"] for r in rows]
    # a longer run is another run; a changed knob is another recipe, refused in one line naming the file
    calls.clear()
    SWEEP.run(cfg.replace(steps=4), ctx, ["a"], [0])
    assert calls == [("a", 0)]
    with pytest.raises(ValueError, match=r"toy/ci/a-seed0.json holds a run of another configuration \(differs in: "
                                         r"offset\)") as err:
        SWEEP.run(cfg.replace(offset=1.0), ctx, ["a"], [0])
    assert "\n" not in str(err.value)


def test_an_interrupted_sweep_resumes_to_the_same_files(tmp_path):
    cfg = ToyConfig.at("ci")
    SWEEP.run(cfg, RunContext(results_dir=tmp_path / "whole"))

    def stop_at_the_fifth(arm, seed, cfg, ctx):
        if len(calls) == 4:
            raise KeyboardInterrupt
        return toy_run(arm, seed, cfg, ctx)

    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        dataclasses.replace(SWEEP, run_one=stop_at_the_fifth).run(cfg, RunContext(results_dir=tmp_path / "cut"))
    assert len(read_shards("toy", "ci", tmp_path / "cut")) == 4
    calls.clear()
    SWEEP.run(cfg, RunContext(results_dir=tmp_path / "cut"))
    assert len(calls) == 5
    strip = lambda runs: [{k: v for k, v in r.items() if k != "provenance"} for r in runs]  # noqa: E731
    assert strip(read_shards("toy", "ci", tmp_path / "cut")) == strip(read_shards("toy", "ci", tmp_path / "whole"))


def test_an_unfinished_run_is_not_written_and_bad_input_is_one_line(tmp_path):
    unfinished = dataclasses.replace(SWEEP, run_one=lambda a, s, c, x: {"arm": a, "seed": s, "completed": False})
    assert unfinished.run(ToyConfig.at("ci"), RunContext(results_dir=tmp_path), ["a"], [0])[0]["completed"] is False
    assert read_shards("toy", "ci", tmp_path) == []
    with pytest.raises(ValueError, match="unknown arm.*z.*choose from a, b, c"):
        SWEEP.run(ToyConfig.at("ci"), RunContext(results_dir=tmp_path), ["z"])
    with pytest.raises(ValueError, match="seeds must be non-negative integers, got -1"):
        SWEEP.run(ToyConfig.at("ci"), RunContext(results_dir=tmp_path), ["a"], [-1])
    (tmp_path / "toy" / "ci").mkdir(parents=True)
    (tmp_path / "toy" / "ci" / "a-seed0.json").write_text('{"arm": "a", "fi')
    with pytest.raises(ValueError, match=r"toy/ci/a-seed0.json is not a readable result file"):
        SWEEP.load("ci", tmp_path)


def test_load_values_and_missing(tmp_path):
    SWEEP.run(ToyConfig.at("ci"), RunContext(results_dir=tmp_path), ["a", "b"], [0, 1])
    book = SWEEP.load("ci", tmp_path, seeds=[0, 1, 2])
    assert book.missing == ["c-seed0", "c-seed1", "a-seed2", "b-seed2", "c-seed2"]
    assert SWEEP.values(book.runs, "fid") == {"a": {0: 11.0, 1: -3.0}, "b": {0: 12.0, 1: -1.99}}
    twice = book.runs + [dict(book.runs[0], final={"fid": 13.0})]
    assert SWEEP.values(twice, "fid")["a"][0] == 12.0                  # runs sharing (arm, seed) are averaged


def test_the_verdicts_are_stats_judge_paired_by_seed_with_every_check_beside_them(tmp_path):
    SWEEP.run(ToyConfig.at("ci"), RunContext(results_dir=tmp_path))
    runs = SWEEP.load("ci", tmp_path).runs
    (fam, rows), = SWEEP.verdicts(runs)
    values = SWEEP.values(runs, "fid")
    for test in ("paired-t", "sign-flip"):
        ref = stats.judge(values, FAMILY.comparisons, test=test)
        key = "p" if test == "paired-t" else "p_sign_flip"
        assert [r[key] for r in rows] == pytest.approx([r["p"] for r in ref])
    flat = {a: list(v.values()) for a, v in values.items()}
    for test, key in (("welch", "p_welch"), ("pooled-t", "p_holm_pooled")):
        ref = stats.judge(flat, FAMILY.comparisons, test=test)
        assert [r[key] for r in rows] == pytest.approx([r["p" if test == "welch" else "p_holm"] for r in ref])
    # b is a + 1 at every seed (plus 0.01 s): paired, it holds despite a seed effect of sd ~7 that hides it unpaired
    assert rows[0]["verdict"] == "holds" and rows[0]["difference"] == pytest.approx(1.01)
    assert rows[0]["p_welch"] > 0.5
    lines = verdict_lines(rows)
    assert lines[0].startswith("a < b: holds (difference 1.01, 95% CI [") and len(lines) == 2
    shown = SWEEP.show(SWEEP.load("ci", tmp_path))
    assert len(shown) == 3 and "arm A" in repr(shown[0]) and "paired t p" in repr(shown[2])
    # with a learning bar the families wait for it: a (mean 1 + seed effects) must reach at most 0 at every seed
    from smlib.learning_bar import LearningBar

    barred = dataclasses.replace(SWEEP, bars=(LearningBar("a", "fid", 0.0, "at most"),))
    shown = barred.show(barred.load("ci", tmp_path))
    assert len(shown) == 2 and shown[1].startswith("the declared comparisons are not judged")
    met = dataclasses.replace(SWEEP, bars=(LearningBar("a", "fid", 100.0, "at most"),))
    assert len(met.show(met.load("ci", tmp_path))) == 3
    assert SWEEP.show(SWEEP.load("ci", tmp_path / "none")) == ["toy, ci preset: no committed run yet"]


def test_the_judgement_facts_wait_for_the_bars_then_print_each_family(tmp_path):
    from smlib.learning_bar import LearningBar, bar_lines

    SWEEP.run(ToyConfig.at("ci"), RunContext(results_dir=tmp_path), ["a", "b"], [0, 1])
    loaded = SWEEP.load("ci", tmp_path, seeds=[0, 1, 2])
    unmet = dataclasses.replace(SWEEP, bars=(LearningBar("a", "fid", 0.0, "at most"),))
    (head,) = unmet.judgement_facts(loaded, "the re-run")         # a at seed 0 is 11 > 0: no verdict printed
    assert head[0] == "the re-run (ci): 4 of 9 planned runs committed"
    assert head[1:] == bar_lines(unmet.learning_bars(loaded.runs)) and "NOT met" in head[1]
    met = dataclasses.replace(SWEEP, bars=(LearningBar("a", "fid", 100.0, "at most"),))
    head, family = met.judgement_facts(loaded)
    assert head[0].startswith("the sweep (ci): 4 of 9") and "met (seed 0 11.00" in head[1]
    assert head[2].startswith("interim: 5 planned runs are not in yet")
    (fam, rows), = SWEEP.verdicts(loaded.runs)
    metric = SWEEP.metric("fid")
    assert family == ["toy (primary family, paired t over seeds, Holm):", *verdict_lines(rows, metric),
                      *open_effect_lines(rows, metric), pooled_agreement(rows, "toy")]
    assert len(rows) == 1                                         # c has no run: its pair is not printed
    complete = met.load("ci", tmp_path, arms=["a", "b"], seeds=[0, 1])
    assert len(met.judgement_facts(complete)[0]) == 2                # all planned runs in: no interim line
    assert SWEEP.judgement_facts(SWEEP.load("ci", tmp_path / "none", seeds=[0])) == [
        ["the sweep (ci): 0 of 3 planned runs committed"]]


def test_a_partial_sweep_is_corrected_over_its_whole_declared_family(tmp_path):
    # arm c not run yet: the pair c < a has no row, but Holm still counts it, as the complete sweep would
    SWEEP.run(ToyConfig.at("ci"), RunContext(results_dir=tmp_path), ["a", "b"])
    (fam, rows), = SWEEP.verdicts(SWEEP.load("ci", tmp_path).runs)
    assert [(r["better"], r["worse"]) for r in rows] == [("a", "b")]
    assert rows[0]["p_holm"] == pytest.approx(min(1.0, 2 * rows[0]["p"]))
    assert rows[0]["mdd_alpha"] == pytest.approx(0.025)


def test_declared_families_load_from_toml(tmp_path):
    path = tmp_path / "declared.toml"
    path.write_text('[[family]]\ntitle = "gFID"\nmetric = "fid"\ndeclared = "commit x"\n'
                    'comparisons = [["a", "b", "abstract", "why"]]\n\n'
                    '[[family]]\nsweep = "toy"\ntitle = "t"\nmetric = "m"\nprimary = false\n'
                    'comparisons = [["c", "d", "our inference", ""]]\n')
    fam, = load_families(path)
    assert fam == Family("gFID", "fid", (Comparison("a", "b", "abstract", "why"),), "commit x", True, "", ())
    toy, = load_families(path, sweep="toy")
    assert toy.primary is False and toy.comparisons[0].better == "c"
    path.write_text('[[family]]\ntitle = "x"\nmetric = "m"\ncomparisons = [["a", "b", "rumour", ""]]\n')
    with pytest.raises(ValueError, match="source 'rumour' is not one of"):
        load_families(path)


def test_table_rows_show_mean_sd_and_each_seed(tmp_path):
    SWEEP.run(ToyConfig.at("ci"), RunContext(results_dir=tmp_path))
    rows = SWEEP.table_rows(SWEEP.load("ci", tmp_path).runs)
    a = next(r for r in rows if r["arm"] == "arm A")
    x = [11.0, -3.0, 4.0]
    assert a["seeds"] == "0, 1, 2" and a["fid"] == f"{np.mean(x):.1f} ± {np.std(x, ddof=1):.1f}"
    assert a["fid_seeds"] == "11.0, -3.0, 4.0"


def test_arms_without_runs_names_the_missing_arms_of_a_family_once_each(tmp_path):
    SWEEP.run(ToyConfig.at("ci"), RunContext(results_dir=tmp_path), ["a", "b"], [0, 1])
    runs = SWEEP.load("ci", tmp_path).runs
    fam = Family("f", "fid", (Comparison("a", "c", "our inference"), Comparison("c", "b", "our inference")))
    assert SWEEP.arms_without_runs(fam, runs) == ["c"] and SWEEP.arms_without_runs(FAMILY, runs) == ["c"]


def test_the_lines_of_a_check_cell():
    rows = [{"better": "a", "worse": "b", "verdict": "unresolved", "verdict_pooled": "unresolved", "difference": -2.0,
             "ci_low": -9.0, "ci_high": 5.0, "seeds_needed": 17},
            {"better": "a", "worse": "c", "verdict": "holds", "verdict_pooled": "unresolved", "difference": 8.0,
             "ci_low": 3.0, "ci_high": 13.0, "seeds_needed": 3},
            {"better": "c", "worse": "b", "verdict": "unresolved", "verdict_pooled": "unresolved", "difference": -6.0,
             "ci_low": -10.0, "ci_high": -1.0, "seeds_needed": None}]
    assert pooled_agreement(rows[::2], "F") == "F: the pooled sensitivity test agrees with the paired verdict " \
                                                 "for every pair"
    assert "disagrees on 1 of 3 pairs: a < c (paired: holds; pooled: unresolved)" in pooled_agreement(rows, "F")
    lines = open_effect_lines(rows, Metric("fid", "gFID", final("fid")))
    assert len(lines) == 2                                       # the pair that holds gets none
    assert "gap of up to 5.0 in the declared direction" in lines[0] and "(2.0, against the declared order)" in lines[0]
    assert "17 seeds per arm" in lines[0]
    assert "leaves no gap in the declared direction open" in lines[1] and "more seeds than" in lines[1]


def test_family_summary_counts_primary_verdicts_and_opens_unresolved_pairs():
    rows = [{"better": "a", "worse": "b", "source": "abstract", "verdict": "unresolved", "difference": -2.0,
             "ci_low": -9.0, "ci_high": 5.0, "p_holm": 0.81, "n": 5, "seeds_needed": 17},
            {"better": "a", "worse": "c", "source": "our inference", "verdict": "holds", "difference": 8.0,
             "ci_low": 3.0, "ci_high": 13.0, "p_holm": 0.01, "n": 5, "seeds_needed": 3}]
    text = family_summary("F", rows, Metric("fid_recon", "gFID", final("fid_recon")))
    head, first, second = text.splitlines()
    assert head == "- **F** (primary family): 1 holds, 1 unresolved."
    assert first.startswith("  - a < b (abstract): *unresolved*, difference -2.0, 95% CI [-9.0, 5.0], Holm p 0.810")
    assert "Unresolved: its interval leaves open a gap of up to 5.0" in first and "Unresolved" not in second
    assert family_summary("G", [], Metric("fid", "gFID", final("fid")), primary=False).endswith("no pair has runs of both "
                                                                                         "its arms yet.")


def test_the_printed_pair_facts_follow_the_paired_rows():
    # "b" beats "a" at every seed by a small, steady margin; "c" is a noisy arm tied with "a" on average
    values = {"a": {0: 10.0, 1: 12.0, 2: 11.0}, "b": {0: 9.5, 1: 11.6, 2: 10.4}, "c": {0: 6.0, 1: 16.0, 2: 11.0}}
    runs = [{"arm": a, "seed": s, "completed": True, "final": {"fid": v}} for a, vs in values.items()
            for s, v in vs.items()]
    fam = Family("f", "fid", (Comparison("b", "a", "our inference"), Comparison("c", "a", "our inference")))
    sweep = dataclasses.replace(SWEEP, families=(fam,))
    (_, rows), = sweep.verdicts(runs)
    metric = sweep.metric("fid")
    v = sweep.values(runs, "fid")
    d = per_seed_differences(rows[0], v, metric)
    assert d == pytest.approx([0.5, 0.4, 0.6]) and d.mean() == pytest.approx(rows[0]["difference"])
    lines = seed_lines(rows, v, metric)
    assert lines[0].startswith("b < a: as declared at 3 of 3 seeds (+0.5, +0.4, +0.6); exact sign-flip p 0.250")
    assert "(the smallest 3 seeds allow: 0.250)" in lines[0] and "as declared at 1 of 3 seeds" in lines[1]
    # paired: b < a holds (Holm p 0.026); the pooled test judges it with c's spread and cannot decide it
    assert [r["verdict"] for r in rows] == ["holds", "unresolved"]
    assert [r["verdict_pooled"] for r in rows] == ["unresolved", "unresolved"]
    lines = open_effect_lines(rows, metric)
    assert len(lines) == 1 and lines[0].startswith("c < a: its interval leaves open a gap of up to")
    assert pooled_agreement(rows, "f") == ("f: the pooled sensitivity test disagrees on 1 of 2 pairs: b < a (paired: "
                                           "holds; pooled: unresolved)")


def _row(better, worse, lo, hi, n=5, verdict_="unresolved", pooled="unresolved"):
    return {"better": better, "worse": worse, "ci_low": lo, "ci_high": hi, "difference": (lo + hi) / 2, "n": n,
            "verdict": verdict_, "verdict_pooled": pooled, "p_holm": 0.5, "sd": 1.0}


def test_an_interval_is_read_as_the_effects_it_rules_out():
    lines = ruled_out_lines([_row("esm", "white", -2.0, 3.5), _row("esm", "steeper", 1.0, 4.0),
                                     _row("identity", "scramble", -6.0, -0.5), _row("a", "b", np.nan, np.nan, n=1)])
    assert lines[0].endswith("rules out esm ahead by more than 3.50 and white ahead by more than 2.00")
    assert lines[1].endswith("rules out steeper ahead at all, and esm ahead by less than 1.00")
    assert lines[2].endswith("rules out identity ahead at all, and scramble ahead by less than 0.50")
    assert "rules out nothing" in lines[3]


def test_curve_mean_is_the_mean_of_a_runs_evaluations():
    run = {"curve": {"eval/fid": [[500, 300.0], [1000, 200.0], [1500, 160.0]]}, "final": {"fid": 160.0}}
    assert curve_mean("eval/fid")(run) == pytest.approx(220.0)
    assert curve_mean("eval/fid")({"curve": {"eval/fid": []}}) is None and curve_mean("eval/fid")({}) is None
