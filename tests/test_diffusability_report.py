"""Reading a sweep: the seed-spread rule, pooled std, Spearman's rho (against scipy), curves and the grid file."""
import json

import numpy as np
import pytest
import scipy.stats
import torch

from smlib.experiments import diffusability as diff
from smlib.experiments import diffusability_report as report
from smlib.experiments.autoencoders import unpack_uint8

pytestmark = pytest.mark.usefixtures("one_thread")


def _table(values: dict[str, list[float]]) -> dict:
    return {v: {"fid": {"values": xs, "mean": float(np.mean(xs))}} for v, xs in values.items()}


def test_compare_resolves_only_non_overlapping_seed_ranges():
    table = _table({"a": [10.0, 11.0], "b": [12.0, 14.0], "c": [10.5, 13.0]})
    assert report.compare(table, "a", "b")["verdict"] == "holds"
    assert report.compare(table, "b", "a")["verdict"] == "reversed"
    assert report.compare(table, "a", "c")["verdict"] == "within seed spread"
    c = report.compare(table, "a", "b")
    # pooled std of {10, 11} and {12, 14}: sqrt((0.5 + 2) / 2)
    assert c["gap"] == pytest.approx(2.5)
    assert c["gap_in_stds"] == pytest.approx(2.5 / np.sqrt(1.25))
    assert report.ranking(table) == ["a", "c", "b"]
    # above the decoder floor the order can flip: b's decoder costs it 5 points more than a's
    table["a"]["floor"], table["b"]["floor"] = {"fid": 4.0}, {"fid": 9.0}
    assert report.compare(table, "a", "b", above_floor=True)["verdict"] == "reversed"
    assert report.compare(table, "b", "a", above_floor=True)["gap"] == pytest.approx(2.5)


def test_pooled_std_equals_the_std_of_one_group_and_is_nan_without_replicates():
    x = np.array([1.0, 4.0, 2.0, 7.0])
    assert report.pooled_std([x]) == pytest.approx(x.std(ddof=1))
    assert report.pooled_std([x, x + 100]) == pytest.approx(x.std(ddof=1))
    assert np.isnan(report.pooled_std([np.array([1.0]), np.array([2.0])]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rank_correlation_matches_scipy_spearman_with_ties(seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 4, size=9).astype(float)   # ties on purpose
    y = x + rng.normal(size=9)
    assert report.rank_correlation(x, y) == pytest.approx(scipy.stats.spearmanr(x, y).statistic, abs=1e-12)


def test_mean_curve_averages_seeds_on_shared_steps():
    runs = [{"variant": "a", "curve": {"eval/fid": [[100, 5.0], [200, 3.0]]}},
            {"variant": "a", "curve": {"eval/fid": [[100, 7.0], [200, 5.0], [300, 1.0]]}},
            {"variant": "b", "curve": {"eval/fid": [[100, 0.0]]}}]
    steps, mean, per_seed = report.mean_curve(runs, "a")
    assert steps.tolist() == [100, 200] and mean.tolist() == [6.0, 4.0] and per_seed.shape == (2, 2)
    with pytest.raises(KeyError, match="no 'eval/fid' curve for variant 'c'"):
        report.mean_curve(runs, "c")


def test_grid_file_round_trips_the_uint8_samples(tmp_path):
    grid = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8)
    torch.save(grid, tmp_path / "grid.pt")
    rows = [{"variant": "esm", "seed": 1, "grid": str(tmp_path / "grid.pt")}, {"variant": "dsm", "seed": 0}]
    path = diff.write_grids(tmp_path / "small.json", rows)
    assert path == tmp_path / "small_grids.json"
    grids = json.loads(path.read_text())
    assert list(grids) == ["esm/seed1"]
    assert np.array_equal(unpack_uint8(grids["esm/seed1"]), grid.numpy())
