"""Chapter 4: what the notebook prints beside the engine's judgement of a declared family.

:meth:`smlib.sweep.Sweep.verdicts` gives one row per declared pair: the primary paired test (``verdict``,
``difference`` with ``ci_low`` / ``ci_high``, ``seeds_needed``) and the pooled unpaired test as the sensitivity
line (``verdict_pooled``). The chapter reads them in three ways, each one printed fact:

* :func:`arms_without_runs`: which arms of a family have no committed runs (the engine leaves such pairs out);
* :func:`pooled_agreement`: whether the sensitivity test gives the primary verdict for every pair, naming those
  where it does not;
* :func:`open_effect_lines`: for each unresolved pair, the largest effect its interval leaves open in the declared
  direction (the interval's far end) and the seeds a gap of the observed size would need. The minimum detectable
  difference is a power statement and is not used here: a verdict comes from the Holm p alone.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from smlib.experiments.autoencoders.recipe import SWEEP, flat_row
from smlib.sweep import Family, Metric


def column_values(runs: Sequence[Mapping], key: str) -> dict[str, dict[int, float]]:
    """{arm: {seed: value}} of any column of :func:`flat_row` (``lowpass_psnr_k8``, ``psnr``, ...), arms in the
    book's order; runs without the column are left out."""
    return SWEEP.values(runs, Metric(key, key, lambda run: flat_row(run).get(key)))


def arms_without_runs(family: Family, runs: Sequence[Mapping]) -> list[str]:
    """The arms named by ``family``'s pairs that have no run with a value of its metric, in the order they are
    first named (empty when every pair can be judged)."""
    present = SWEEP.values(runs, family.metric)
    named = [a for c in family.comparisons for a in (c.better, c.worse)]
    return [a for i, a in enumerate(named) if a not in present and a not in named[:i]]


def _pair(row: Mapping) -> str:
    return f"{row['better']} < {row['worse']}"


def pooled_agreement(rows: Sequence[Mapping]) -> str:
    """One line: does the pooled sensitivity test (``verdict_pooled``) give the primary verdict for every pair?
    Names each pair where it does not, with both verdicts. ``rows``: one family's rows from ``Sweep.verdicts``."""
    if not rows:
        raise ValueError("no judged pairs: pass the rows of a family that has runs (Sweep.verdicts).")
    differ = [r for r in rows if r["verdict_pooled"] != r["verdict"]]
    if not differ:
        return f"pooled sensitivity test agrees with the paired verdict for every pair ({len(rows)} of {len(rows)})"
    return ("pooled sensitivity test disagrees for " + "; ".join(
        f"{_pair(r)} (paired: {r['verdict']}, pooled: {r['verdict_pooled']})" for r in differ)
        + f" ({len(rows) - len(differ)} of {len(rows)} agree)")


def open_effect_lines(rows: Sequence[Mapping], metric: Metric) -> list[str]:
    """For every unresolved pair of a family, one line: the largest effect its interval leaves open in the declared
    direction (``ci_high``; positive = as declared) and the seeds a gap of the observed size would need
    (``seeds_needed``). Pairs with another verdict get no line."""
    f, k = metric.fmt, metric.scale
    out = []
    for r in rows:
        if r["verdict"] != "unresolved":
            continue
        far = r["ci_high"]
        if math.isfinite(far) and far > 0:
            open_ = f"its interval leaves a gap of up to {k * far:{f}} in the declared direction open"
        else:
            open_ = "its interval leaves no gap in the declared direction open"
        side = "as declared" if r["difference"] > 0 else "against the declared direction"
        need = r.get("seeds_needed")
        gap = (f"a gap of the observed size ({k * abs(r['difference']):{f}}, {side}) would need {need} seeds "
               "(power 0.8 at Holm's first level)" if need else "no seed count reaches a gap of the observed size")
        out.append(f"{_pair(r)}: {open_}; {gap}")
    return out


__all__ = ["column_values", "arms_without_runs", "pooled_agreement", "open_effect_lines"]
