"""Reading chapter 6's sweep: the declared comparisons, judged by :mod:`smlib.stats`, and whether an arm's gain
tracks its target's mid-band directional energy.

Written down before any run of the sweep was read. Lower gFID is better; the direction of a pair is only a label
(the tests are two-sided, so a reversed order is reported as such).

* repa < none: REPA's abstract (at ImageNet scale with DINOv2; ``next-chapters.md`` §2.1, §5.1).
* irepa-g0.6 < repa: iREPA's paper (its ablation table: conv projector and spatial normalisation each help).
* dog-0.5-2 < irepa-g0.6, dog-1-4 < irepa-g0.6: the Spectrum Matching abstract's "DoG improves iREPA" (claim (h)),
  on our instantiation of the DoG (the paper's sigmas are unknown).
* irepa-g1 < irepa-g0.6: our inference: gamma 1 removes the target's DC completely, raising its RMSC (Prop. 3.2).
* dog-0.5-2 < dog-0.5-2-nostd: our inference: the std normalisation is the unablated half of the paper's DoG recipe.

The rank correlation (Spearman, exact permutation p over all pairings) runs over every aligned arm: x = the
target's mid-band share of DC-free directional energy (:func:`smlib.metrics.alignment.mid_band_share`, declared
band), y = the arm's gain in final gFID over no alignment (mean over seeds).
"""
from __future__ import annotations

import numpy as np
import scipy.stats

from smlib.stats import Comparison, judge_table

DECLARED = (
    Comparison("repa", "none", "abstract", "REPA's abstract: alignment to a frozen encoder helps"),
    Comparison("irepa-g0.6", "repa", "paper prose", "iREPA: spatial structure of the target matters (its tables)"),
    Comparison("dog-0.5-2", "irepa-g0.6", "abstract", "Spectrum Matching's abstract: a DoG target improves iREPA"),
    Comparison("dog-1-4", "irepa-g0.6", "abstract", "Spectrum Matching's abstract: a DoG target improves iREPA"),
    Comparison("irepa-g1", "irepa-g0.6", "our inference", "removing all of the target's DC raises its RMSC"),
    Comparison("dog-0.5-2", "dog-0.5-2-nostd", "our inference", "the std normalisation is the untested half"),
)


def judge_arms(table: dict, key: str = "fid", comparisons=DECLARED, test: str = "pooled-t",
               alpha: float = 0.05) -> list[dict]:
    """The declared pairs on :func:`.sweep.aggregate`'s table, judged by :func:`smlib.stats.judge_table` (one
    family, Holm; pairs with a missing arm are left out)."""
    return judge_table(table, comparisons, key, test=test, alpha=alpha)


def energy_gain_correlation(spectra: dict, table: dict, key: str = "fid") -> dict | None:
    """Spearman's rho between each aligned arm's target mid-band share (``spectra["arms"][arm]``, from
    :func:`.recipe.target_spectra`) and its mean gain ``table["none"] - table[arm]`` in ``key``, with the exact
    permutation p-value (two-sided). None when "none" or fewer than three aligned arms have results."""
    if "none" not in table:
        return None
    arms = [a for a in spectra["arms"] if a in table and a != "none"]
    if len(arms) < 3:
        return None
    x = np.array([spectra["arms"][a]["mid_band_share"] for a in arms])
    base = table["none"][key]["mean"]
    y = np.array([base - table[a][key]["mean"] for a in arms])
    rho = scipy.stats.spearmanr(x, y).statistic
    perm = scipy.stats.permutation_test((x, y), lambda a, b: scipy.stats.spearmanr(a, b).statistic,
                                        permutation_type="pairings", n_resamples=np.inf)
    return {"arms": arms, "mid_band_share": x.tolist(), "gain": y.tolist(), "rho": float(rho),
            "p": float(perm.pvalue), "n": len(arms)}


__all__ = ["DECLARED", "judge_arms", "energy_gain_correlation"]
