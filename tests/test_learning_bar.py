"""Learning bars (smlib.learning_bar): declared in a chapter's declared.toml, checked per seed or on the mean, in
either direction; a bar without runs is 'not checked yet', never met; bad declarations fail in one line."""
import math

import pytest

from smlib.learning_bar import LearningBar, bar_lines, bars_met, check_bars, load_bars
from smlib.stats import Comparison
from smlib.sweep import Family, Metric, Sweep, final


def test_every_seed_and_mean_rules_in_both_directions():
    share = LearningBar("ddpm", "board_share", 0.5)                      # at least 0.5 at every seed
    assert share.check({0: 0.6, 1: 0.55})["met"] is True
    row = share.check({0: 0.6, 1: 0.45, 2: 0.9})
    assert row["met"] is False and row["worst"] == 0.45 and row["mean"] == pytest.approx(1.95 / 3)
    assert LearningBar("ddpm", "board_share", 0.5, rule="mean").check({0: 0.6, 1: 0.45, 2: 0.9})["met"] is True
    fid = LearningBar("pixel", "fid", 60.0, direction="at most")
    assert fid.check({0: 55.0, 1: 59.9})["met"] is True and fid.check({0: 55.0, 1: 61.0})["worst"] == 61.0
    assert fid.check({0: 55.0, 1: 61.0})["met"] is False


def test_a_bar_without_runs_is_not_checked_and_not_met():
    row = LearningBar("ddpm", "board_share", 0.5).check({0: float("nan")})
    assert row["met"] is None and row["n"] == 0 and math.isnan(row["mean"])
    assert not bars_met([row]) and bars_met([])
    assert bar_lines([row])[0].endswith("not checked yet (no run of ddpm)")


def test_bad_declarations_fail_in_one_line(tmp_path):
    with pytest.raises(ValueError, match="direction must be one of"):
        LearningBar("a", "fid", 1.0, direction="below")
    with pytest.raises(ValueError, match="rule must be one of"):
        LearningBar("a", "fid", 1.0, rule="median")
    path = tmp_path / "declared.toml"
    path.write_text('[[bar]]\narm = "a"\nmetric = "fid"\nthreshold = 1\nthreshhold = 2\n')
    with pytest.raises(ValueError, match=r"unknown keys \['threshhold'\]"):
        load_bars(path)


def test_bars_load_from_toml_by_sweep(tmp_path):
    path = tmp_path / "declared.toml"
    path.write_text('[[bar]]\narm = "pixel"\nmetric = "fid"\nthreshold = 60\ndirection = "at most"\n'
                    'declared = "commit x"\n\n[[bar]]\narm = "ddpm"\nmetric = "board_share"\nthreshold = 0.5\n'
                    'sweep = "toy"\n')
    (main,) = load_bars(path)
    assert main == LearningBar("pixel", "fid", 60.0, "at most", declared="commit x")
    assert [b.arm for b in load_bars(path, "toy")] == ["ddpm"]


def test_a_sweep_checks_its_bars_on_its_runs_and_prints_them():
    sweep = Sweep("toy", {"base": "baseline", "new": "method"}, (Metric("fid", "gFID", final("fid")),),
                  (Family("f", "fid", (Comparison("new", "base", "our inference"),)),),
                  bars=(LearningBar("base", "fid", 50.0, "at most", declared="commit x"),))
    runs = [{"arm": a, "seed": s, "final": {"fid": v}}
            for a, s, v in [("base", 0, 40.0), ("base", 1, 48.0), ("new", 0, 39.0), ("new", 1, 47.0)]]
    rows = sweep.learning_bars(runs)
    assert rows == check_bars(sweep.bars, sweep.values, runs) and bars_met(rows)
    assert bar_lines(rows, ".1f") == ["learning bar: base fid at most 50.0 (at every seed; declared commit x): met "
                                      "(seed 0 40.0, seed 1 48.0; mean 44.0)"]
    runs[1]["final"]["fid"] = 52.0
    assert not bars_met(sweep.learning_bars(runs)) and "NOT met" in bar_lines(sweep.learning_bars(runs))[0]
