"""Reading a sweep: the declared family, the floor-subtracted reading, curves and the grid file."""
import numpy as np
import pytest
import torch

from smlib.experiments import diffusability as diff
from smlib.experiments.diffusability import report
from smlib.results import read_grids

pytestmark = pytest.mark.usefixtures("one_thread")


def _table(values: dict[str, list[float]], floors: dict[str, float] | None = None) -> dict:
    out = {v: {"fid": {"values": xs, "mean": float(np.mean(xs))}} for v, xs in values.items()}
    for v, f in (floors or {}).items():
        out[v]["floor"] = {"fid": f}
    return out


def test_the_declared_family_names_only_arms_of_the_sweep_and_says_where_each_comes_from():
    arms = {n for c in report.DECLARED for n in (c.better, c.worse)}
    assert arms <= set(diff.VARIANTS)
    assert {c.source for c in report.DECLARED} == {"abstract", "paper prose", "our inference"}
    assert [(c.better, c.worse) for c in report.DECLARED if c.source == "abstract"] == [("esm", "sd-vae"),
                                                                                        ("dsm", "sd-vae")]


def test_a_partial_sweep_judges_only_the_pairs_whose_arms_are_there():
    table = _table({"esm": [10.0, 10.5, 9.8], "sd-vae": [14.0, 14.2, 13.9], "plain": [11, 11.1, 10.8]})
    rows = report.judge_sweep(table)
    assert [(r["better"], r["worse"]) for r in rows] == [("esm", "sd-vae"), ("esm", "plain")]
    assert rows[0]["df"] == 6                                          # every present arm enters the pooled variance
    assert report.judge_sweep(table, comparisons=report.DECLARED_BASELINES) == []


def test_the_baselines_family_was_declared_against_sd_vae():
    assert [(c.better, c.worse) for c in report.DECLARED_BASELINES] == [("eqvae", "sd-vae"), ("vf", "sd-vae")]
    assert {n for c in report.DECLARED_BASELINES for n in (c.better, c.worse)} <= set(diff.VARIANTS)


def test_judging_above_the_floor_subtracts_each_variant_floor():
    """b is worse in raw score but its decoder costs it 10 points more: above the floor the order reverses."""
    values = {"esm": [10.0, 10.5, 9.8], "sd-vae": [14.0, 14.2, 13.9], "dsm": [12, 12.1, 11.9],
              "scale_equivariance": [13, 13.2, 12.8], "plain": [11, 11.1, 10.8]}
    floors = {"esm": 2.0, "sd-vae": 12.0, "dsm": 5.0, "scale_equivariance": 5.0, "plain": 5.0}
    table = _table(values, floors)
    raw = {(r["better"], r["worse"]): r for r in report.judge_sweep(table)}
    above = {(r["better"], r["worse"]): r for r in report.judge_sweep(table, above_floor=True)}
    assert raw["esm", "sd-vae"]["verdict"] == "holds" and above["esm", "sd-vae"]["verdict"] == "reversed"
    assert above["esm", "sd-vae"]["difference"] == pytest.approx((14.033 - 12) - (10.1 - 2), abs=1e-3)
    assert report.ranking(table) == ["esm", "plain", "dsm", "scale_equivariance", "sd-vae"]


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
    path = diff.write_run_grids(tmp_path / "small.json", rows)
    assert path == tmp_path / "small_grids.json"
    grids = read_grids(tmp_path / "small.json")
    assert list(grids) == ["esm/seed1"] and np.array_equal(grids["esm/seed1"], grid.numpy())


def test_judge_by_step_reads_each_logged_step_per_autoencoder_and_names_pairs_whose_order_flips():
    from smlib.experiments.diffusability.report import judge_by_step

    def run(v, k, j, curve):
        return {"variant": v, "ae_seed": k, "seed": j, "curve": {"eval/fid": [[s, f] for s, f in curve]}}

    # esm leads sd-vae at step 1000 and trails at 2000; dsm leads throughout; two diffusion seeds of sd-vae ae0
    runs = [run("esm", k, 0, [(1000, 10 + k), (2000, 30 + k)]) for k in range(3)]
    runs += [run("sd-vae", k, 0, [(1000, 20 + k), (2000, 20 + k)]) for k in range(3)]
    runs += [run("sd-vae", 0, 1, [(1000, 22), (2000, 22)]), run("dsm", 0, 0, [(1000, 5), (2000, 5), (3000, 4)])]
    runs += [run("dsm", k, 0, [(1000, 5 + k), (2000, 5 + k)]) for k in (1, 2)]
    out = judge_by_step(runs)
    assert out["steps"] == [1000, 2000]                           # step 3000 is not in every run
    by = {(r["better"], r["worse"]): r for r in out["rows"][1000]}
    assert by["esm", "sd-vae"]["mean_worse"] == pytest.approx((21 + 21 + 22) / 3)   # ae0 = mean of its two seeds
    assert by["esm", "sd-vae"]["n_worse"] == 3
    assert out["order"][1000] == ["dsm", "esm", "sd-vae"] and out["order"][2000] == ["dsm", "sd-vae", "esm"]
    assert out["sign_changes"] == ["esm < sd-vae"]


def test_table_rows_show_the_spread_over_autoencoders_the_floor_gap_and_both_gaussian_references():
    from smlib.experiments.diffusability import shards

    def run(k, fid, floor):
        return {"variant": "esm", "ae_seed": k, "seed": 0,
                "final": {"fid": fid, "kid": 0.002, "fid_label": "FID-1000", "fid_boot_std": 0.5},
                "floor": {"fid": floor, "kid": 0.001, "n_samples": 1000, "fid_boot_std": 0.2},
                "frequency_summary": {"unrecovered_trained": 0.3, "unrecovered_predicted": 0.4,
                                      "unrecovered_predicted_mc": 0.35, "high_band_share": 0.1}}

    rows = report.table_rows(shards.seed_table([run(0, 10.0, 2.0), run(1, 14.0, 3.0)]))
    assert rows[0]["gfid"] == "12.0 ± 2.8" and rows[0]["per_ae"] == "10.0, 14.0" and rows[0]["boot"] == 0.5
    assert rows[0]["above"] == "9.5 ± 2.1" and rows[0]["floor"] == "2.5 ± 0.7" and rows[0]["kid"] == "2.0 ± 0.0"
    assert rows[0]["floor_boot"] == 0.2
    assert (rows[0]["unrec_gauss"], rows[0]["unrec_mc"]) == (0.4, 0.35)
    assert set(rows[0]) == set(report.TABLE_COLUMNS)


def test_above_the_floor_each_autoencoder_subtracts_its_own_floor():
    from smlib.experiments.diffusability import shards

    runs = [{"variant": "esm", "ae_seed": k, "seed": 0, "final": {"fid": fid, "kid": 0.0, "fid_label": "FID-10"},
             "floor": {"fid": floor, "kid": 0.0, "n_samples": 10}} for k, fid, floor in ((0, 10.0, 1.0), (1, 14.0, 9.0))]
    table = shards.seed_table(runs)
    assert report.seed_values(table, "esm", above_floor=True).tolist() == [9.0, 5.0]     # not [10, 14] - 5
    assert report.seed_values(table, "esm").tolist() == [10.0, 14.0]
