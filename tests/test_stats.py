"""smlib.stats against scipy, brute force and a simulation of the whole procedure on null sweeps."""
import itertools
import math

import numpy as np
import pytest
import scipy.stats

from smlib import stats
from smlib.metrics import bootstrap
from smlib.metrics.fid import feature_statistics, kid_full_reference, mmd2_unbiased
from smlib.stats import Comparison


def seeded(x):
    return dict(enumerate(np.asarray(x, float).tolist()))


def test_paired_t_is_scipys_ttest_rel_with_its_interval():
    rng = np.random.default_rng(0)
    seed_effect = rng.normal(0, 5, 6)
    a, b = seed_effect + rng.normal(0, 1, 6), seed_effect + 0.8 + rng.normal(0, 0.3, 6)
    for lower in (True, False):
        row, = stats.judge({"a": seeded(a), "b": seeded(b)}, [Comparison("a", "b", "abstract")],
                           lower_is_better=lower)
        ref = scipy.stats.ttest_rel(b, a) if lower else scipy.stats.ttest_rel(a, b)
        ci = ref.confidence_interval(0.95)
        assert row["p"] == pytest.approx(ref.pvalue, rel=1e-10) and row["df"] == 5
        assert row["statistic"] == pytest.approx(ref.statistic, rel=1e-10)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((ci.low, ci.high), rel=1e-10)
        assert row["design"] == "paired by seed" and row["seeds"] == list(range(6))


def test_welch_is_scipys_unequal_variance_ttest_ind_with_its_interval():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, 4), rng.normal(2, 6, 7)
    row, = stats.judge({"a": a.tolist(), "b": b.tolist()}, [Comparison("a", "b", "abstract")], test="welch")
    ref = scipy.stats.ttest_ind(b, a, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert row["p"] == pytest.approx(ref.pvalue, rel=1e-10) and row["df"] == pytest.approx(ref.df, rel=1e-10)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((ci.low, ci.high), rel=1e-10)


def test_pooled_t_matches_scipy_when_only_the_two_arms_are_pooled_and_pools_over_every_arm():
    rng = np.random.default_rng(2)
    a, b = rng.normal(0, 1, 4), rng.normal(1, 1, 5)
    row, = stats.judge({"a": a, "b": b}, [Comparison("a", "b", "abstract")], test="pooled-t")
    ref = scipy.stats.ttest_ind(b, a, equal_var=True)
    assert row["df"] == 7 and row["p"] == pytest.approx(ref.pvalue, rel=1e-12)
    values = {k: rng.normal(0, 2, 3) for k in "abcde"}
    sd, df = stats.pooled_std(values)
    ss = sum(((v - v.mean()) ** 2).sum() for v in values.values())
    assert df == 10 and sd == pytest.approx(math.sqrt(ss / 10))


def test_paired_values_pair_on_the_seeds_both_arms_ran():
    values = {"a": {0: 1.0, 1: 2.0, 2: 3.0, 7: 100.0}, "b": {1: 2.5, 2: 3.4, 0: 1.2}}
    row, = stats.judge(values, [Comparison("a", "b", "abstract")])
    ref = scipy.stats.ttest_rel([1.2, 2.5, 3.4], [1.0, 2.0, 3.0])
    assert row["seeds"] == [0, 1, 2] and row["p"] == pytest.approx(ref.pvalue)
    assert row["mean_better"] == pytest.approx(2.0)


def brute_force_sign_flip(d):
    d = np.asarray(d, float)
    hits = [abs(np.mean(d * s)) >= abs(d.mean()) - 1e-12 for s in itertools.product((1, -1), repeat=len(d))]
    return np.mean(hits)


def test_sign_flip_p_is_exact_and_matches_scipys_paired_permutation_test():
    assert stats.sign_flip_p([1.0, 2.0, 3.0]) == pytest.approx(2 / 8)
    assert stats.smallest_sign_flip_p(5) == pytest.approx(1 / 16)
    rng = np.random.default_rng(3)
    for _ in range(5):
        a, b = rng.normal(size=6), rng.normal(0.5, 1, 6)
        assert stats.sign_flip_p(b - a) == pytest.approx(brute_force_sign_flip(b - a))
        ref = scipy.stats.permutation_test((b, a), lambda x, y: np.mean(x - y), permutation_type="samples",
                                           n_resamples=np.inf, alternative="two-sided")
        assert stats.sign_flip_p(b - a) == pytest.approx(ref.pvalue)


def test_a_sign_flip_family_too_small_to_reject_says_so():
    far = {"a": seeded([1.0, 1.1, 0.9, 1.0, 1.2]), "b": seeded([9.0, 9.1, 8.7, 9.3, 9.0])}
    row, = stats.judge(far, [Comparison("a", "b", "abstract")], test="sign-flip")
    assert row["verdict"] == "not resolvable at this N" and row["p"] == pytest.approx(1 / 16)
    six = {"a": seeded([1.0, 1.1, 0.9, 1.0, 1.2, 1.1]), "b": seeded([9.0, 9.1, 8.7, 9.3, 9.0, 9.2])}
    assert stats.judge(six, [Comparison("a", "b", "abstract")], test="sign-flip")[0]["verdict"] == "holds"
    # with two pairs the first Holm level is alpha / 2 = 0.025 < 2 / 2^6: six seeds are not enough for a family
    six["c"] = six["b"]
    rows = stats.judge(six, [Comparison("a", "b", "abstract"), Comparison("a", "c", "abstract")], test="sign-flip")
    assert {r["verdict"] for r in rows} == {"not resolvable at this N"}


def test_holm_against_a_hand_example():
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert stats.holm([0.5, 0.01]) == pytest.approx([0.5, 0.02])
    assert stats.holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])                     # monotone, capped at 1
    assert stats.holm([0.01, 0.02, 0.5]) == pytest.approx([0.03, 0.04, 0.5])


def test_holm_over_a_declared_family_counts_its_missing_hypotheses_as_p_one():
    # two of three declared pairs judged: the same as Holm over all three with the third at p = 1
    assert stats.holm([0.01, 0.04], family_size=3) == pytest.approx(stats.holm([0.01, 0.04, 1.0])[:2])
    assert stats.holm([0.01, float("nan")], family_size=3)[0] == pytest.approx(0.03)
    with pytest.raises(ValueError, match="family_size 1 is smaller than the 2"):
        stats.holm([0.01, 0.02], family_size=1)


def test_minimum_detectable_difference_of_a_paired_design_has_the_stated_power():
    sd_d, n, alpha = 2.0, 5, 0.05 / 3
    mdd = stats.minimum_detectable_difference(sd_d / math.sqrt(n), n - 1, alpha, 0.8)
    rng = np.random.default_rng(4)
    d = rng.normal(mdd, sd_d, (40_000, n))
    p = scipy.stats.ttest_1samp(d, 0.0, axis=1).pvalue
    assert np.mean(p < alpha) == pytest.approx(0.8, abs=0.01)
    row = stats.judge({"a": seeded([0] * n), "b": seeded([1, 3, 0, 2, 5])},
                      [Comparison("a", "b", "abstract")] * 3)[0]
    assert row["mdd_alpha"] == pytest.approx(0.05 / 3)
    assert row["mdd"] == pytest.approx(stats.minimum_detectable_difference(row["se"], 4, 0.05 / 3, 0.8))


def test_seeds_needed_is_the_first_n_whose_mdd_reaches_the_gap():
    sd, delta = 3.0, 2.0
    for design in ("paired", "unpaired"):
        n = stats.seeds_needed(delta, sd, design=design)
        se = (lambda k: sd / math.sqrt(k)) if design == "paired" else (lambda k: sd * math.sqrt(2 / k))
        df = (lambda k: k - 1) if design == "paired" else (lambda k: 2 * k - 2)
        assert stats.minimum_detectable_difference(se(n), df(n)) <= delta
        assert stats.minimum_detectable_difference(se(n - 1), df(n - 1)) > delta
    z = scipy.stats.norm.ppf(0.975) + scipy.stats.norm.ppf(0.8)
    bound = math.ceil(z ** 2 * sd ** 2 / delta ** 2)           # the normal approximation, a lower bound
    assert bound <= stats.seeds_needed(delta, sd) <= bound + 3
    assert stats.seeds_needed(0.0, sd) is None and stats.seeds_needed(1.0, float("nan")) is None
    sd, delta = 30.2, 6.0           # far tails where scipy's noncentral t gives nan
    bound = math.ceil(2 * z ** 2 * sd ** 2 / delta ** 2)
    assert bound <= stats.seeds_needed(delta, sd, design="unpaired") <= bound + 2


#: a null sweep shaped like the review's worst case: arm sds from 1 to 50 (variance ratio 2,500), a seed effect
#: shared by every arm, five seeds, a family that pairs quiet arms with noisy ones
NULL_SDS = {"quiet": 1.0, "a": 1.5, "b": 4.0, "c": 12.0, "noisy": 50.0}
NULL_FAMILY = [Comparison("a", "quiet", "our inference"), Comparison("b", "quiet", "our inference"),
               Comparison("c", "b", "our inference"), Comparison("noisy", "c", "our inference"),
               Comparison("b", "a", "our inference")]


def test_the_primary_test_holds_its_level_with_unequal_variances_and_seed_effects():
    alpha = 0.05
    for seed_sd in (0.0, 20.0):
        for n in (3, 5):
            sim = stats.null_false_positive_rate(NULL_SDS, NULL_FAMILY, n_seeds=n, seed_sd=seed_sd, alpha=alpha)
            assert sim["rate"] <= alpha, (f"paired-t, {n} seeds, seed sd {seed_sd}: family-wise false-positive rate "
                                          f"{sim['rate']:.4f} > alpha {alpha} ({sim['n_sims']} null sweeps)")
            print(f"paired-t, {n} seeds, seed sd {seed_sd}: family-wise false-positive rate {sim['rate']:.4f} "
                  f"<= alpha {alpha}")
    welch = stats.null_false_positive_rate(NULL_SDS, NULL_FAMILY, n_seeds=5, seed_sd=0.0, test="welch")
    assert welch["rate"] <= alpha, f"welch: family-wise false-positive rate {welch['rate']:.4f} > alpha {alpha}"


def test_the_pooled_test_does_not_hold_its_level_when_spreads_differ():
    """Why the pooled test is only a sensitivity line: with one noisy arm in the pool, the quiet pairs are judged
    with a variance they do not have, and without it the quiet arms' variance is used for the noisy pair."""
    family = [Comparison("noisy", "c", "our inference")]
    sim = stats.null_false_positive_rate({"quiet": 1.0, "a": 1.0, "b": 1.0, "c": 1.0, "noisy": 8.0}, family,
                                         n_seeds=3, test="pooled-t")
    assert sim["rate"] > 2 * 0.05, f"pooled-t rate {sim['rate']:.3f}"
    paired = stats.null_false_positive_rate({"quiet": 1.0, "a": 1.0, "b": 1.0, "c": 1.0, "noisy": 8.0}, family,
                                            n_seeds=3)
    assert paired["rate"] == pytest.approx(0.05, abs=4 * paired["mc_se"])


def test_the_simulation_uses_judges_p_values():
    """The vectorised simulation and :func:`stats.judge` compute the same p-value on the same sweep."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(3, 4))
    values = {k: seeded(x[i]) for i, k in enumerate("abc")}
    fam = [Comparison("a", "b", "our inference"), Comparison("c", "a", "our inference")]
    for test, ref in (("paired-t", lambda a, b: scipy.stats.ttest_1samp(b - a, 0).pvalue),
                      ("welch", lambda a, b: scipy.stats.ttest_ind(b, a, equal_var=False).pvalue)):
        rows = stats.judge(values, fam, test=test)
        for r in rows:
            a, b = x["abc".index(r["better"])], x["abc".index(r["worse"])]
            assert r["p"] == pytest.approx(ref(a, b))


def test_power_the_paired_test_sees_what_the_unpaired_one_cannot():
    """A 1-point gain at every seed, under a seed effect of sd 10: the paired test finds it, Welch does not."""
    rng = np.random.default_rng(5)
    seed_effect = rng.normal(0, 10, 5)
    values = {"a": seeded(seed_effect), "b": seeded(seed_effect + 1 + rng.normal(0, 0.2, 5))}
    pair = [Comparison("a", "b", "abstract")]
    assert stats.judge(values, pair)[0]["verdict"] == "holds"
    assert stats.judge(values, pair, test="welch")[0]["verdict"] == "unresolved"


def test_large_gaps_are_found_in_either_direction():
    values = {"a": seeded([1.0, 1.2, 0.9]), "b": seeded([5.0, 5.3, 4.8]), "c": seeded([3.0, 3.1, 2.9])}
    rows = stats.judge(values, [Comparison("a", "b", "abstract"), Comparison("b", "c", "our inference")])
    assert [r["verdict"] for r in rows] == ["holds", "reversed"]
    assert rows[0]["ci_low"] > 0 and rows[1]["ci_high"] < 0


def test_bad_input_gets_one_line():
    with pytest.raises(ValueError, match="source 'rumour' is not one of") as err:
        Comparison("a", "b", "rumour")
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="declared arms with no values: z"):
        stats.judge({"a": {0: 1, 1: 2}}, [Comparison("a", "z", "abstract")])
    with pytest.raises(ValueError, match="has no seeds") as err:
        stats.judge({"a": [1, 2], "b": [2, 3]}, [Comparison("a", "b", "abstract")])
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="test must be one of"):
        stats.judge({"a": [1, 2], "b": [2, 3]}, [Comparison("a", "b", "abstract")], test="anova")


def test_one_seed_is_not_resolvable():
    row, = stats.judge({"a": {0: 1.0}, "b": {0: 2.0}}, [Comparison("a", "b", "abstract")])
    assert row["verdict"] == "not resolvable at this N" and row["n"] == 1


def test_bootstrap_spread_of_one_score_shrinks_with_n():
    rng = np.random.default_rng(5)
    ref = rng.normal(size=(400, 4))
    mu, sigma = feature_statistics(ref)
    small = bootstrap.bootstrap_fid(rng.normal(size=(50, 4)), mu, sigma, n_boot=100)
    large = bootstrap.bootstrap_fid(rng.normal(size=(800, 4)), mu, sigma, n_boot=100)
    assert small["low"] < small["high"] and small["low"] <= small["fid"] + 2 * small["std"]
    assert large["std"] < small["std"] and large["n_samples"] == 800
    k = bootstrap.bootstrap_kid(rng.normal(size=(60, 4)), ref, n_boot=50)
    assert k["low"] <= k["high"] and k["std"] > 0
    x = rng.normal(size=(40, 4))
    assert kid_full_reference(x, ref[:40])[0] == pytest.approx(mmd2_unbiased(x, ref[:40]))


def test_seed_summary():
    s = stats.seed_summary({0: 4.0, 1: 5.0, 2: 7.0})
    assert s["mean"] == pytest.approx(16 / 3) and s["std"] == pytest.approx(np.std([4, 5, 7], ddof=1))
    assert stats.seed_summary([3.0])["std"] is None


def test_seed_blocking_matches_a_least_squares_fit_of_arm_and_seed_effects():
    rng = np.random.default_rng(0)
    arms, seeds = ["a", "b", "c", "d"], [0, 1, 2]
    x = rng.normal(size=(4, 3)) + np.array([0.0, 3.0, -2.0])[None, :]            # a shared seed effect
    values = {a: {s: float(x[i, j]) for j, s in enumerate(seeds)} for i, a in enumerate(arms)}
    values["e"] = {0: 1.0, 1: 2.0}                                                  # an arm short of seed 2
    out = stats.seed_blocking(values)
    assert out["seeds"] == [0, 1] and out["arms"] == arms + ["e"]
    # independent reference: ordinary least squares on dummy-coded arm and seed columns, over the shared seeds
    y = np.array([values[a][s] for a in out["arms"] for s in out["seeds"]])
    design = np.array([[1.0] + [float(a == b) for b in out["arms"][1:]] + [float(s == 1)]
                       for a in out["arms"] for s in out["seeds"]])
    resid = y - design @ np.linalg.lstsq(design, y, rcond=None)[0]
    assert out["residual_df"] == (5 - 1) * (2 - 1) and out["within_df"] == 5
    assert out["residual_var"] == pytest.approx((resid ** 2).sum() / out["residual_df"], rel=1e-10)
    within = {a: [values[a][s] for s in out["seeds"]] for a in out["arms"]}
    assert out["within_var"] == pytest.approx(stats.pooled_std(within)[0] ** 2, rel=1e-10)
    assert out["ratio"] == pytest.approx(out["within_var"] / out["residual_var"])
    assert sum(out["seed_effects"].values()) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="two seeds"):
        stats.seed_blocking({"a": {0: 1.0}, "b": {0: 2.0}})
