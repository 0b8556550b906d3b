"""Reading chapter 5's sweep: the declared families and where each pair comes from, the comparisons read at every
logged step (paired by autoencoder seed), and the mean curve over seeds."""
import math

import numpy as np
import pytest
import scipy.stats

from smlib import results
from smlib.experiments import diffusability as diff
from smlib.experiments.diffusability import report as R
from smlib.stats import Comparison


def test_the_declared_families_name_only_arms_of_their_sweep_and_say_where_each_comes_from():
    arms = {n for f in diff.FAMILIES for c in f.comparisons for n in (c.better, c.worse)}
    assert arms <= set(diff.SWEEP.arms) and "eqvae-scratch" not in arms
    assert [f.primary for f in diff.FAMILIES] == [True, False, False, False]
    assert [f.metric for f in diff.FAMILIES] == ["fid_recon", "fid_recon", "fid_recon", "fid"]
    assert [(c.better, c.worse, c.source) for c in diff.FAMILIES[0].comparisons] == [
        ("esm", "sd-vae", "abstract"), ("dsm", "sd-vae", "abstract"), ("dsm", "scale_equivariance", "paper prose")]
    first = diff.FIRST_SWEEP.families
    assert [f.metric for f in first] == ["fid", "fid"]              # the above-the-floor family is withdrawn
    assert first[0].comparisons == diff.DECLARED and len(diff.DECLARED) == 7
    assert {c.source for c in diff.DECLARED} == {"abstract", "paper prose", "our inference"}
    assert [(c.better, c.worse) for c in first[1].comparisons] == [("eqvae-scratch", "sd-vae"), ("vf", "sd-vae")]
    assert all(f.declared and f.commit for f in (*diff.FAMILIES, *first))    # one account of when, for each


def test_mean_curve_averages_seeds_on_shared_steps():
    runs = [{"variant": "a", "curve": {"eval/fid": [[100, 5.0], [200, 3.0]]}},
            {"variant": "a", "curve": {"eval/fid": [[100, 7.0], [200, 5.0], [300, 1.0]]}}]
    steps, mean, per_seed = results.mean_curve(runs)
    assert steps.tolist() == [100, 200] and mean.tolist() == [6.0, 4.0] and per_seed.shape == (2, 2)
    with pytest.raises(KeyError, match="no 'loss' curve"):
        results.mean_curve(runs, "loss")


def test_judge_by_step_reads_each_logged_step_per_autoencoder_and_names_pairs_whose_order_flips():
    def run(v, k, j, curve):
        return {"variant": v, "ae_seed": k, "seed": j, "curve": {"eval/fid": [[s, f] for s, f in curve]}}

    # esm leads sd-vae at step 1000 and trails at 2000; dsm leads throughout; two diffusion seeds of sd-vae ae0
    runs = [run("esm", k, 0, [(1000, 10 + k), (2000, 30 + k)]) for k in range(3)]
    runs += [run("sd-vae", k, 0, [(1000, 20 + k), (2000, 20 + k)]) for k in range(3)]
    runs += [run("sd-vae", 0, 1, [(1000, 22), (2000, 22)]), run("dsm", 0, 0, [(1000, 5), (2000, 5), (3000, 4)])]
    runs += [run("dsm", k, 0, [(1000, 5 + k), (2000, 5 + k)]) for k in (1, 2)]
    out = diff.judge_by_step(runs)
    assert out["steps"] == [1000, 2000]                           # step 3000 is not in every run
    by = {(r["better"], r["worse"]): r for r in out["rows"][1000]}
    assert by["esm", "sd-vae"]["mean_worse"] == pytest.approx((21 + 21 + 22) / 3)   # ae0 = mean of its two seeds
    assert by["esm", "sd-vae"]["n"] == 3 and by["esm", "sd-vae"]["test"] == "paired-t"
    assert out["order"][1000] == ["dsm", "esm", "sd-vae"] and out["order"][2000] == ["dsm", "sd-vae", "esm"]
    assert out["sign_changes"] == ["esm < sd-vae"]


# ----------------------------------------------------------------------------------------------- report
def _values(table):
    return {a: dict(enumerate(v)) for a, v in table.items()}


def test_floor_correlation_over_runs_means_and_within_arms_against_numpy():
    rng = np.random.default_rng(0)
    floor = {a: {s: 100 + 20 * i + rng.normal(0, 5) for s in range(4)} for i, a in enumerate("abc")}
    score = {a: {s: 0.5 * f + rng.normal(0, 1) for s, f in v.items()} for a, v in floor.items()}
    out = R.floor_correlation(score, floor)
    y = np.array([score[a][s] for a in "abc" for s in range(4)])
    x = np.array([floor[a][s] for a in "abc" for s in range(4)])
    assert out["n_runs"] == 12 and out["n_arms"] == 3
    assert out["r_runs"] == pytest.approx(np.corrcoef(y, x)[0, 1])
    my, mx = y.reshape(3, 4).mean(1), x.reshape(3, 4).mean(1)
    assert out["r_means"] == pytest.approx(np.corrcoef(my, mx)[0, 1])
    yc, xc = (y.reshape(3, 4) - my[:, None]).ravel(), (x.reshape(3, 4) - mx[:, None]).ravel()
    assert out["r_within"] == pytest.approx(np.corrcoef(yc, xc)[0, 1])
    assert out["slope_within"] == pytest.approx(np.polyfit(xc, yc, 1)[0])
    del score["c"][3]                                                  # a run without the score is left out
    assert R.floor_correlation(score, floor)["n_runs"] == 11


def test_covariate_contrast_is_the_paired_t_without_a_covariate_and_the_nested_f_test_with_one():
    rng = np.random.default_rng(1)
    a, b = rng.normal(10, 2, 6), rng.normal(12, 2, 6)
    pair = [Comparison("a", "b", "our inference")]
    out = R.covariate_contrasts(_values({"a": a, "b": b}), None, pair)
    t, p = scipy.stats.ttest_rel(b, a)
    assert out["rows"][0]["t"] == pytest.approx(t) and out["rows"][0]["p"] == pytest.approx(p)
    assert out["rows"][0]["difference"] == pytest.approx((b - a).mean()) and out["df"] == 5
    # three arms, seed blocks, a floor: t^2 of the a-b contrast equals the F of dropping the a/b distinction
    floor = {k: dict(enumerate(rng.normal(100, 10, 5))) for k in "abc"}
    seed = rng.normal(0, 3, 5)
    score = {k: {s: off + seed[s] + 0.7 * floor[k][s] + rng.normal(0, 1) for s in range(5)}
             for k, off in zip("abc", (0.0, 2.0, 5.0))}
    out = R.covariate_contrasts(score, floor, pair)
    runs = [(k, s) for k in "abc" for s in range(5)]
    y = np.array([score[k][s] for k, s in runs])

    def rss(g):
        X = np.array([[float(g(k) == j) for j in sorted(set(map(g, "abc")))] + [float(s == i) for i in range(1, 5)]
                      + [floor[k][s]] for k, s in runs])
        return float(np.sum((y - X @ np.linalg.lstsq(X, y, rcond=None)[0]) ** 2)), X.shape[1]

    full, cols = rss(lambda k: k)
    merged, _ = rss(lambda k: "ab" if k in "ab" else k)
    df = len(y) - cols
    F = (merged - full) / (full / df)
    assert out["df"] == df == 7 and out["rows"][0]["t"] ** 2 == pytest.approx(F)
    assert out["rows"][0]["p"] == pytest.approx(scipy.stats.f.sf(F, 1, df))
    assert out["slope"] == pytest.approx(0.7, abs=0.15)


def test_covariate_contrast_recovers_arm_effects_at_equal_floor_and_refuses_what_it_cannot_fit():
    floor = {"a": {0: 100.0, 1: 110.0, 2: 130.0}, "b": {0: 140.0, 1: 150.0, 2: 120.0}, "c": {0: 90.0, 1: 95.0, 2: 99.0}}
    eff = {"a": 3.0, "b": 0.0, "c": 1.0}
    score = {k: {s: eff[k] + 0.6 * f + (0.1 if s == 1 else 0.0) + 0.01 * (-1) ** (s + len(k) + ord(k))
                 for s, f in v.items()} for k, v in floor.items()}
    out = R.covariate_contrasts(score, floor, [Comparison("b", "a", "our inference"),
                                               Comparison("a", "c", "our inference")], block_seeds=False)
    assert out["slope"] == pytest.approx(0.6, abs=0.01)
    assert [r["difference"] for r in out["rows"]] == pytest.approx([3.0, -2.0], abs=0.05)
    assert out["rows"][0]["p_holm"] >= out["rows"][0]["p"]
    with pytest.raises(ValueError, match="without runs: z"):
        R.covariate_contrasts(score, floor, [Comparison("z", "a", "our inference")])
    with pytest.raises(ValueError, match="cannot be fitted"):
        R.covariate_contrasts({"a": {0: 1.0}, "b": {0: 2.0}}, {"a": {0: 1.0}, "b": {0: 3.0}},
                              [Comparison("a", "b", "our inference")])


def test_mean_interval_is_scipys_t_interval():
    x = [3.0, 5.0, 4.0, 8.0]
    m, lo, hi = R.mean_interval(x)
    ref = scipy.stats.t.interval(0.95, 3, loc=np.mean(x), scale=scipy.stats.sem(x))
    assert m == 5.0 and (lo, hi) == pytest.approx(ref)
    assert R.mean_interval([2.0])[0] == 2.0 and math.isnan(R.mean_interval([2.0])[1])
    rows = R.interval_rows({diff.SWEEP.metric("kid"): {"esm": {0: 0.01, 1: 0.02}, "dsm": {3: 0.03}}},
                           {"dsm": "DSM-AE", "esm": "ESM-AE", "plain": "plain"})
    assert [r["arm"] for r in rows] == ["DSM-AE", "ESM-AE"]             # labels' order, arms with values only
    assert rows[0]["kid"] == "30.00" and rows[1]["kid"].startswith("15.00 [") and rows[1]["seeds"] == "0, 1"


def test_probe_inputs_per_run_and_per_arm_mean():
    def run(v, k, fid, probes):
        return {"variant": v, "ae_seed": k, "final": {"fid_recon": fid}, "probes": probes}

    runs = [run("a", 0, 10.0, {"esm_kl": 1.0, "rmsc": 0.5}), run("a", 1, 14.0, {"esm_kl": 3.0, "rmsc": None}),
            run("b", 0, 20.0, {"esm_kl": 5.0, "rmsc": 0.7}), run("b", 1, None, {"esm_kl": 9.0, "rmsc": 0.1}),
            run("b", 2, 22.0, {"esm_kl": 7.0, "rmsc": float("nan")}),
            {"variant": "c", "ae_seed": 0, "final": {"fid_recon": 1.0}}]
    kw = dict(arm_of=diff.SWEEP.arm_of, seed_of=diff.SWEEP.seed_of)
    probes, outcome = R.probe_inputs(runs, diff.SWEEP.metric("fid_recon"), **kw)
    assert outcome == {"a-seed0": 10.0, "a-seed1": 14.0, "b-seed0": 20.0, "b-seed2": 22.0}
    assert probes["esm_kl"] == {"a-seed0": 1.0, "a-seed1": 3.0, "b-seed0": 5.0, "b-seed2": 7.0}
    assert probes["rmsc"] == {"a-seed0": 0.5, "b-seed0": 0.7}                 # None and NaN left out
    probes, outcome = R.probe_inputs(runs, diff.SWEEP.metric("fid_recon"), by="arm", **kw)
    assert outcome == {"a": 12.0, "b": 21.0} and probes["esm_kl"] == {"a": 2.0, "b": 6.0}
    assert probes["rmsc"] == {"a": 0.5, "b": 0.7}
    with pytest.raises(ValueError, match="by must be"):
        R.probe_inputs(runs, diff.SWEEP.metric("fid"), by="seed", **kw)


def test_the_gap_above_the_floor_reads_both_scores():
    assert R.GAP_ABOVE_FLOOR.get({"final": {"fid": 150.0}, "floor": {"fid": 120.0}}) == 30.0
    assert R.GAP_ABOVE_FLOOR.get({"final": {"fid": 150.0}}) is None
