"""Chapter 4's sweep (smlib.experiments.autoencoders): its metrics read off a lab run, its declared families judged
paired by seed in their declared direction (higher is better where the metric says so)."""
import numpy as np
import pytest
import scipy.stats

from smlib.experiments.autoencoders import (FAMILIES, SWEEP, column_values, flat_row)


def _run(variant, seed, kl, slope, psnr, lowpass12):
    return {"variant": variant, "seed": seed, "completed": True,
            "metrics": {"kl_to_target": kl, "psd_slope_latent": slope, "psnr": psnr,
                        "lowpass_psnr": {"8": lowpass12 + 1.0, "12": lowpass12}}}


def _lab(shift):
    """Three seeds of six variants with a seed effect shared by every variant; ``shift`` > 0 puts every declared
    pair in its declared direction."""
    rng = np.random.default_rng(0)
    base = {"sd-vae": (0.3, 1.0, 2.0), "esm": (0.3 - shift, 1.0, 4.0), "dsm": (0.3, 1.0, 2.0 - shift * 10),
            "plain": (0.3, 1.0, 2.0), "vf": (0.3 - shift, 1.0 + shift, 2.0), "eqvae": (0.3, 1.0 + shift, 2.0)}
    seed_effect = rng.normal(0, 0.5, (3, 3))
    runs = []
    for v, (kl, slope, loss) in base.items():
        for s in range(3):
            e = rng.normal(0, 0.01, 3) + seed_effect[s] * [0.1, 1, 1]
            runs.append(_run(v, s, kl + e[0], slope + e[1], 25.0, 25.0 - loss - e[2]))
    return runs


def test_a_runs_metrics_and_the_lowpass_loss():
    runs = _lab(0.2)
    values = SWEEP.values(runs, "lowpass_psnr_loss")
    expected = [25.0 - r["metrics"]["lowpass_psnr"]["12"] for r in runs if r["variant"] == "dsm"]
    np.testing.assert_allclose(list(values["dsm"].values()), expected)
    assert list(values) == ["plain", "sd-vae", "esm", "dsm", "eqvae", "vf"]     # the book's order
    runs[0]["metrics"]["spectra"] = {"p_z": [0.0] * 8 + [0.1] * 8}              # bins 9-16 hold 0.8 of it
    assert flat_row(runs[0])["high_band_mass"] == pytest.approx(0.8)
    with pytest.raises(KeyError, match="no metric 'nonsense'"):
        SWEEP.values(runs, "nonsense")


@pytest.mark.parametrize("shift, verdict", [(0.2, "holds"), (-0.2, "reversed")])
def test_every_declared_family_follows_its_declared_direction(shift, verdict):
    judged = SWEEP.judge(_lab(shift))
    assert [fam for fam, _ in judged] == list(FAMILIES)
    for fam, rows in judged:
        assert rows and all(r["verdict"] == verdict for r in rows), (fam.title, rows)
        assert all((r["difference"] > 0) == (shift > 0) for r in rows)


def test_a_higher_is_better_metric_is_scipys_paired_t_of_better_minus_worse():
    runs = _lab(0.05)
    # the first family on the PSD exponent (the second, on the fine-tuned EQ-VAE, has no VA-VAE pair)
    fam, rows = [(f, r) for f, r in SWEEP.judge(runs) if f.metric == "psd_slope_latent"][0]
    values = SWEEP.values(runs, "psd_slope_latent")
    vf, sd = np.array(list(values["vf"].values())), np.array(list(values["sd-vae"].values()))
    ref = scipy.stats.ttest_rel(vf, sd)
    assert rows[0]["difference"] == pytest.approx((vf - sd).mean()) and rows[0]["p"] == pytest.approx(ref.pvalue)


def test_the_manipulation_checks_are_labelled_secondary_and_the_one_seed_check_of_va_vae_is_kept():
    titles = {f.title: f for f in FAMILIES}
    assert all(not f.primary for t, f in titles.items() if t.startswith("manipulation check"))
    kl = [f for f in FAMILIES if f.metric == "kl_to_target" and f.primary]
    assert [(c.better, c.worse) for c in kl[0].comparisons] == [("vf", "sd-vae")]


def test_pairs_with_a_missing_variant_are_left_out():
    runs = [r for r in _lab(0.2) if r["variant"] not in ("vf", "eqvae")]
    judged = {f.metric + f.title: rows for f, rows in SWEEP.judge(runs)}
    assert sum(len(rows) for rows in judged.values()) == 3           # ESM < SD-VAE and DSM's two


# ------------------------------------------------------------------------------- what the chapter prints beside them
def test_column_values_reads_any_flat_column_by_arm_and_seed():
    runs = _lab(0.2)
    got = column_values(runs, "lowpass_psnr_k8")
    for r in runs:
        assert got[r["variant"]][r["seed"]] == pytest.approx(r["metrics"]["lowpass_psnr"]["8"])
    assert column_values(runs, "not_a_column") == {}


def _row(better, worse, verdict, pooled, difference=1.0, ci=(0.5, 1.5), need=3):
    return {"better": better, "worse": worse, "verdict": verdict, "verdict_pooled": pooled, "difference": difference,
            "ci_low": ci[0], "ci_high": ci[1], "seeds_needed": need}
