"""Reading the ladder (chapter 7): the declared comparisons, judged by :mod:`smlib.stats`.

Written down before any run of the sweep was read. Each rung is compared with the one below it, so that a change
in the result is charged to the one thing the rung adds; and DCTdiff as released against the pixel baseline, the
claim the paper makes (its CIFAR-10 table, 5.28 against 5.80 at 100 NFE, is a second-hand note:
``../shared/reference/papers.md`` §2.3). The direction of each pair is only a label: the test is two-sided, so a
reversed order is reported as such. Lower gFID is better.

* ebfr < pixel: second-hand note (the paper's table, above).
* ycbcr420 < pixel: our inference. At 32 px the JPEG training images are already 4:2:0, so halving the chroma
  removes dimensions that carry almost nothing (``next-chapters.md`` §3.6).
* dct < ycbcr420: our inference, with no difference expected: an orthonormal 2x2 DCT is a rotation of each block,
  which a linear token embedding can absorb.
* eta < dct, snr2 < eta, ebfr < snr2: our inference, in the direction DCTdiff adds them; eta lowers the SNR of
  every coordinate (0.34x pixel space after c = 2, ``next-chapters.md`` §3.6), c = 2 raises it back twofold.
"""
from __future__ import annotations

from smlib.stats import Comparison, judge_table

DECLARED = (
    Comparison("ebfr", "pixel", "second-hand note", "DCTdiff beats pixel U-ViT at 64 tokens (paper table, [S])"),
    Comparison("ycbcr420", "pixel", "our inference", "4:2:0 drops near-empty chroma dimensions"),
    Comparison("dct", "ycbcr420", "our inference", "a rotation of each block: no difference expected"),
    Comparison("eta", "dct", "our inference", "the rung DCTdiff adds next"),
    Comparison("snr2", "eta", "our inference", "the rung DCTdiff adds next"),
    Comparison("ebfr", "snr2", "our inference", "the rung DCTdiff adds next"),
)


def judge_ladder(table: dict, key: str = "fid", comparisons=DECLARED, test: str = "pooled-t",
                 alpha: float = 0.05) -> list[dict]:
    """The declared pairs on :func:`.sweep.aggregate`'s table, judged by :func:`smlib.stats.judge_table` (one
    family, Holm; pairs with a missing arm are left out)."""
    return judge_table(table, comparisons, key, test=test, alpha=alpha)


__all__ = ["DECLARED", "judge_ladder"]
