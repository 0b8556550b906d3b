"""Chapter 4's declared comparisons over the lab's seeds (smlib.experiments.autoencoders.report)."""
import numpy as np
import pytest
import scipy.stats

from smlib.experiments.autoencoders import report
from smlib.stats import Comparison


def _run(variant, seed, kl, slope, psnr, lowpass12):
    return {"variant": variant, "seed": seed,
            "metrics": {"kl_to_target": kl, "psd_slope_latent": slope, "psnr": psnr,
                        "lowpass_psnr": {"8": lowpass12 + 1.0, "12": lowpass12}}}


def _lab(shift):
    """Three seeds of four variants; ``shift`` > 0 puts every declared pair in its declared direction."""
    rng = np.random.default_rng(0)
    base = {"sd-vae": (0.3, 1.0, 2.0), "esm": (0.3 - shift, 1.0, 4.0), "dsm": (0.3, 1.0, 2.0 - shift * 10),
            "plain": (0.3, 1.0, 2.0), "vf": (0.3, 1.0 + shift, 2.0), "eqvae": (0.3, 1.0 + shift, 2.0)}
    runs = []
    for v, (kl, slope, loss) in base.items():
        for s in range(3):
            e = rng.normal(0, 0.01, 3)
            runs.append(_run(v, s, kl + e[0], slope + e[1], 25.0, 25.0 - loss - e[2]))
    return runs


def test_run_values_per_seed_and_the_lowpass_loss():
    runs = _lab(0.2)
    values = report.run_values(runs, "lowpass_psnr_loss")
    expected = [25.0 - r["metrics"]["lowpass_psnr"]["12"] for r in runs if r["variant"] == "dsm"]
    np.testing.assert_allclose(values["dsm"], expected)
    assert set(values) == {"sd-vae", "esm", "dsm", "plain", "vf", "eqvae"}
    runs[0]["metrics"]["spectra"] = {"p_z": [0.0] * 8 + [0.1] * 8}           # bins 9-16 hold 0.8 of it
    assert report.run_values(runs[:1], "high_band_mass")[runs[0]["variant"]][0] == pytest.approx(0.8)
    with pytest.raises(KeyError, match="no 'nonsense'"):
        report.run_values(runs, "nonsense")


@pytest.mark.parametrize("shift, verdict", [(0.2, "holds"), (-0.2, "reversed")])
def test_judge_lab_follows_the_declared_direction(shift, verdict):
    judged = report.judge_lab(_lab(shift))
    assert set(judged) == set(report.DECLARED)
    for metric, rows in judged.items():
        assert rows and all(r["verdict"] == verdict for r in rows), (metric, rows)
        assert all((r["difference"] > 0) == (shift > 0) for r in rows)


def test_higher_is_better_metric_matches_a_pooled_t_test_by_hand():
    """psd_slope_latent is declared higher-is-better: the difference and p are those of a pooled t-test of
    better - worse, with the variance pooled over every variant."""
    runs = _lab(0.05)
    values = report.run_values(runs, "psd_slope_latent")
    row = report.judge_lab(runs, {"psd_slope_latent": (False, (Comparison("vf", "sd-vae", "paper prose"),))})
    row = row["psd_slope_latent"][0]
    sd = np.sqrt(sum(((x - x.mean()) ** 2).sum() for x in values.values()) / sum(len(x) - 1 for x in values.values()))
    df = sum(len(x) - 1 for x in values.values())
    diff = values["vf"].mean() - values["sd-vae"].mean()
    t = diff / (sd * np.sqrt(2 / 3))
    assert row["difference"] == pytest.approx(diff)
    assert row["p"] == pytest.approx(2 * scipy.stats.t.sf(abs(t), df))


def test_pairs_with_a_missing_variant_are_left_out():
    runs = [r for r in _lab(0.2) if r["variant"] not in ("vf", "eqvae")]
    judged = report.judge_lab(runs)
    assert judged["psd_slope_latent"] == []
    assert len(judged["lowpass_psnr_loss"]) == 2


def test_seed_table_rows_format_mean_and_sample_std():
    rows = [{"variant": "esm", "seeds": [0, 1, 2], "rfid": 120.0, "rfid_std": 2.5, "kid": 0.05, "kid_std": None}]
    out = report.seed_table_rows(rows)[0]
    assert out["variant"] == "ESM-AE" and out["seeds"] == "0, 1, 2"
    assert out["rfid"] == "120.0 ± 2.5"
    assert out["kid"] == "50.0"                      # x1e3, no spread with one seed
    assert out["psnr"] == "–"                        # a column the runs do not have
    assert set(report.seed_table_columns()) == set(out)


def test_seed_rows_spread_is_over_seeds_not_a_run_s_own_kid_std():
    from smlib.experiments.autoencoders import shards as lab_shards

    runs = [{"variant": "esm", "seed": k, "metrics": {"kid": kid, "kid_std": 9.0, "psnr": 20.0 + k}}
            for k, kid in enumerate((0.01, 0.02, 0.06))]
    row = lab_shards.seed_rows(runs)[0]
    assert row["kid"] == pytest.approx(0.03)
    assert row["kid_std"] == pytest.approx(np.std([0.01, 0.02, 0.06], ddof=1))   # not the runs' 9.0
    assert row["psnr_std"] == pytest.approx(1.0) and "kid_std_std" not in row
