"""Chapter 6's own reading of its committed sweep: how much of the spread the seed explains, and the facts each
declared pair's verdict rests on, one printed line per pair.

Every arm of the sweep runs at the same seeds, and a seed fixes what the arms share (initial weights, batch order,
the evaluation's samples). :func:`seed_blocking` measures what that sharing is worth: the arms x seeds table
decomposed as ``x[a, s] = mu + arm[a] + seed[s] + e[a, s]`` (two-way additive model, one run per cell); the
residual variance of ``e`` against the within-arm variance that ignores the seed (the variance the pooled test
uses). Their ratio is how much blocking on the seed reduces the noise the comparisons are judged against.

The line builders read the rows of :meth:`smlib.sweep.Sweep.verdicts` (the primary paired-t judgement with its checks
beside it):

* :func:`seed_lines`: each pair's per-seed differences (positive = as declared), at how many seeds the declared
  order holds, and the exact sign-flip p beside the smallest p that many seeds can give;
* :func:`power_lines`: for a pair the primary test left unresolved, the largest effect its interval leaves open
  in the declared direction (the interval's far end) and the seeds a true gap of the observed size would need;
  the minimum detectable difference is printed as what the sweep could detect, never as a threshold;
* :func:`pooled_agreement`: whether the pooled unpaired sensitivity test reaches the primary verdict for every pair.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from smlib import stats
from smlib.sweep import Metric


def seed_blocking(values: Mapping[str, Mapping[int, float]]) -> dict:
    """The arms x seeds table of one metric, ``{arm: {seed: value}}``, with and without the seed as a block.

    Uses the seeds every arm ran (at least two arms and two seeds). Returns ``arms``, ``seeds``, ``within_var``
    (pooled within-arm variance, df ``A (S - 1)``: the pooled test's), ``residual_var`` (the two-way additive
    model's residual variance, df ``(A - 1)(S - 1)``), their dfs, ``ratio`` = within / residual, and
    ``seed_effects`` {seed: seed mean minus grand mean}."""
    arms = list(values)
    seeds = sorted(set.intersection(*(set(v) for v in values.values()))) if values else []
    if len(arms) < 2 or len(seeds) < 2:
        raise ValueError(f"seed blocking needs at least two arms that share two seeds; got {len(arms)} arm(s) "
                         f"sharing {len(seeds)} seed(s): run more seeds of every arm.")
    x = np.array([[float(values[a][s]) for s in seeds] for a in arms])            # (arms, seeds)
    arm_mean, seed_mean, grand = x.mean(1, keepdims=True), x.mean(0, keepdims=True), x.mean()
    n_a, n_s = x.shape
    within_df, residual_df = n_a * (n_s - 1), (n_a - 1) * (n_s - 1)
    within = float(((x - arm_mean) ** 2).sum() / within_df)
    residual = float(((x - arm_mean - seed_mean + grand) ** 2).sum() / residual_df)
    return {"arms": arms, "seeds": seeds, "within_var": within, "within_df": within_df, "residual_var": residual,
            "residual_df": residual_df, "ratio": within / residual if residual > 0 else float("inf"),
            "seed_effects": {s: float(e) for s, e in zip(seeds, seed_mean.ravel() - grand)}}


def _pair(row: Mapping) -> str:
    return f"{row['better']} < {row['worse']}"


def per_seed_differences(row: Mapping, values: Mapping[str, Mapping[int, float]], metric: Metric) -> np.ndarray:
    """(n,) the differences of a judged pair at the seeds it was paired on, positive = as declared (worse minus
    better for a lower-is-better metric), in the metric's display scale."""
    sign = 1.0 if metric.lower_is_better else -1.0
    a, b = values[row["better"]], values[row["worse"]]
    return np.array([metric.scale * sign * (float(b[s]) - float(a[s])) for s in row["seeds"]])


def seed_lines(rows: Sequence[Mapping], values: Mapping[str, Mapping[int, float]], metric: Metric) -> list[str]:
    """One fact per pair: at how many seeds the declared order holds, the per-seed differences, and the exact
    sign-flip p beside the smallest two-sided p that many seeds allow."""
    out = []
    for r in rows:
        d = per_seed_differences(r, values, metric)
        shown = ", ".join(f"{x:+{metric.fmt}}" for x in d)
        out.append(f"{_pair(r)}: as declared at {int((d > 0).sum())} of {len(d)} seeds ({shown}); exact sign-flip "
                   f"p {r['p_sign_flip']:.3f} (the smallest {len(d)} seeds allow: "
                   f"{stats.smallest_sign_flip_p(len(d)):.3f})")
    return out


def power_lines(rows: Sequence[Mapping], metric: Metric) -> list[str]:
    """For every pair the primary test did not decide: the interval's far end in the declared direction (the
    largest effect still open), the seeds per arm a true gap of the observed size would need (paired, at Holm's
    first level), and the minimum detectable difference as what this sweep could detect. Decided pairs get one
    line with their verdict."""
    f, k = metric.fmt, metric.scale
    out = []
    for r in rows:
        if r["verdict"] in ("holds", "reversed"):
            out.append(f"{_pair(r)}: {r['verdict']} (Holm p {r['p_holm']:.3f})")
            continue
        need, gap, far = r.get("seeds_needed"), k * abs(r["difference"]), k * r["ci_high"]
        if need:
            need_text = f"would need {need} paired seeds per arm"
        elif gap == 0:
            need_text = "is zero, which no number of seeds detects"
        else:
            need_text = "would need more paired seeds than the search allows"
        open_text = (f"the interval leaves open a gain of up to {far:{f}} as declared" if far > 0 else
                     f"the interval excludes any gain as declared (its far end is {far:{f}})")
        side = "" if r["difference"] >= 0 else ", against the declared order"
        out.append(f"{_pair(r)}: {r['verdict']}; {open_text}; a true gap of the observed size ({gap:{f}}{side}) "
                   f"{need_text} (80% power, alpha {r['mdd_alpha']:.4f}); with {r['n']} seeds the test detects "
                   f"{k * r['mdd']:{f}} with 80% power")
    return out


def pooled_agreement(rows: Sequence[Mapping]) -> str:
    """One line: whether the pooled unpaired test (the sensitivity line) reaches the primary verdict for every
    pair, and where it does not, which pairs and what each test says."""
    differ = [r for r in rows if r["verdict_pooled"] != r["verdict"]]
    if not differ:
        return f"pooled sensitivity test agrees with the paired verdict for all {len(rows)} pairs"
    return (f"pooled sensitivity test differs for {len(differ)} of {len(rows)} pairs: "
            + "; ".join(f"{_pair(r)} paired {r['verdict']}, pooled {r['verdict_pooled']}" for r in differ))


__all__ = ["seed_blocking", "per_seed_differences", "seed_lines", "power_lines", "pooled_agreement"]
