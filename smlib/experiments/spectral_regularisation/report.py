"""Reading the sweep (chapter 8): the declared comparisons, judged by :mod:`smlib.stats`, and the power question.

Written down before any run of the sweep was read. Each spectral arm against the plain arm of its formulation,
on the final gFID (the paper's metric) and on the radial-PSD error of the samples (the toy's readout, carried to
CIFAR-10: our inference). The paper's claim (abstract and Table 1, [P]) is that the terms improve FID for DDPM
and EDM alike, by 0.02-0.07 FID-50k; the arms with lam < 1 test the same direction with a weaker term (our
inference). Lower is better for both scores; the tests are two-sided, so a reversed order is reported as such.
"""
from __future__ import annotations


from smlib.stats import Comparison, judge, judge_table, seeds_needed

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


__all__ = ["DECLARED", "TOY_DECLARED", "PAPER_GAINS", "judge_sweep", "judge_toy", "seeds_needed"]
