"""Reading the sweep (chapter 8): the declared comparisons, judged by :mod:`smlib.stats`, and the power question.

Written down before any run of the sweep was read. Each spectral arm against the plain arm of its formulation,
on the final gFID (the paper's metric) and on the radial-PSD error of the samples (the toy's readout, carried to
CIFAR-10: our inference). The paper's claim (abstract and Table 1, [P]) is that the terms improve FID for DDPM
and EDM alike, by 0.02-0.07 FID-50k; the arms with lam < 1 test the same direction with a weaker term (our
inference). Lower is better for both scores; the tests are two-sided, so a reversed order is reported as such.
"""
from __future__ import annotations

import math

from smlib.stats import Comparison, judge, judge_table, minimum_detectable_difference

DECLARED = (
    Comparison("ddpm-ap-1", "ddpm", "paper prose", "Table 1: the unweighted amp-phase term helps DDPM"),
    Comparison("edm-ap-1", "edm", "paper prose", "Table 1: the weighted amp-phase term helps EDM"),
    Comparison("edm-wavelet-1", "edm", "paper prose", "Table 1: the weighted wavelet term helps EDM"),
    Comparison("ddpm-ap-0.1", "ddpm", "our inference", "a tenth of the term, same direction"),
    Comparison("ddpm-ap-0.01", "ddpm", "our inference", "a hundredth of the term, same direction"),
    Comparison("edm-ap-0.1", "edm", "our inference", "a tenth of the term, same direction"),
)

#: the toy's one declared pair (the paper's §4: the term brings the samples' radial PSD closer to the data's)
TOY_DECLARED = (Comparison("ddpm-ap", "ddpm", "paper prose", "the toy's PSD claim"),)

#: the paper's reported gains, FID-50k points (Table 1, [P] via ../shared/reference/next-chapters.md §4.2)
PAPER_GAINS = (0.02, 0.07)


def judge_sweep(table: dict, key: str = "fid", comparisons=DECLARED, alpha: float = 0.05) -> list[dict]:
    """The declared pairs on :func:`.sweep.aggregate`'s table, one family, Holm, the seed variance pooled over all
    arms (pairs with a missing arm are left out)."""
    return judge_table(table, comparisons, key, alpha=alpha)


def judge_toy(runs: dict[str, list[dict]], alpha: float = 0.05) -> list[dict]:
    """The toy's declared pair on the PSD error of its runs ({arm: [result per seed]}, :func:`.toy.run_toy`)."""
    values = {arm: [r["psd_error"] for r in rs] for arm, rs in runs.items()}
    return judge(values, TOY_DECLARED, alpha=alpha) if all(c.better in values and c.worse in values
                                                          for c in TOY_DECLARED) else []


def seeds_needed(delta: float, sd: float, alpha: float = 0.05, power: float = 0.8, max_seeds: int = 100_000) -> int | None:
    """The fewest seeds per arm with which a two-arm pooled t-test (df = 2n - 2) detects a true gap ``delta`` with
    probability ``power`` at level ``alpha``, given a per-run spread ``sd``; None beyond ``max_seeds``."""
    if not (math.isfinite(sd) and sd > 0 and delta > 0):
        return None
    lo, hi = 2, 2
    while minimum_detectable_difference(sd, hi, hi, 2 * hi - 2, alpha, power) > delta:
        if hi >= max_seeds:
            return None
        lo, hi = hi, min(2 * hi, max_seeds)
    while lo < hi:                   # the smallest n in (lo, hi] that reaches delta
        mid = (lo + hi) // 2
        if minimum_detectable_difference(sd, mid, mid, 2 * mid - 2, alpha, power) > delta:
            lo = mid + 1
        else:
            hi = mid
    return hi


__all__ = ["DECLARED", "TOY_DECLARED", "PAPER_GAINS", "judge_sweep", "judge_toy", "seeds_needed"]
