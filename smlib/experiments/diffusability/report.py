"""Reading chapter 5's sweeps: how much of a score the decoder floor explains, the floor as a covariate, the means
with their intervals, the probes as the declared correlation analysis reads them, and the lines a check cell prints.

    from smlib.experiments import diffusability as X
    from smlib.experiments.diffusability import report as R
    first = X.FIRST_SWEEP.load("small-v1").runs
    R.floor_correlation(X.FIRST_SWEEP.values(first, "fid"), X.FIRST_SWEEP.values(first, "floor"))
    R.covariate_contrasts(X.FIRST_SWEEP.values(first, "fid"), X.FIRST_SWEEP.values(first, "floor"), X.DECLARED)

Every function takes the engine's ``{arm: {seed: value}}`` (:meth:`smlib.sweep.Sweep.values`): the seed is the
autoencoder, the unit of replication.

**The floor as a covariate** (:func:`covariate_contrasts`) is an exploratory reading, not a declared one: an
ordinary least-squares fit of the score on one effect per arm, one per seed (``block_seeds``, the pairing of the
design) and a common slope on the decoder floor, and each declared pair's contrast of arm effects with its t test
on the model's residual degrees of freedom, Holm over the pairs. It asks "at equal floor, does the order hold?"
with a slope estimated from the data, where the withdrawn "gFID minus floor" fixed the slope at 1. It assumes one
slope and one residual variance for every arm, and the floor is measured with noise of its own (which flattens a
fitted slope), so its p-values are a sensitivity reading beside the declared verdicts, never one of them.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import scipy.stats

from smlib import stats
from smlib.sweep import Metric

Values = Mapping[str, Mapping[int, float]]

#: the withdrawn secondary metric of the first sweep: gFID minus the same autoencoder's decoder floor (at equal N).
#: It stays only for the power calculation that sized the re-run (:meth:`smlib.sweep.Sweep.plan`).
GAP_ABOVE_FLOOR = Metric("fid_above_floor", "gFID minus decoder floor",
                         lambda r: (r["final"]["fid"] - r["floor"]["fid"])
                         if (r.get("final") or {}).get("fid") is not None
                         and (r.get("floor") or {}).get("fid") is not None else None)


def _pairs(y: Values, x: Values) -> list[tuple[str, int, float, float]]:
    """(arm, seed, y, x) for every (arm, seed) both mappings hold, in y's order."""
    return [(a, s, float(v), float(x[a][s])) for a, per in y.items() for s, v in per.items()
            if a in x and s in x[a]]


def _pearson(u: np.ndarray, v: np.ndarray) -> float:
    if len(u) < 3 or np.ptp(u) == 0 or np.ptp(v) == 0:
        return math.nan
    return float(np.corrcoef(u, v)[0, 1])


def floor_correlation(metric: Values, floor: Values) -> dict:
    """Pearson's r of a metric with the decoder floor, three ways: over every run (``r_runs``, ``n_runs``), over the
    arms' means (``r_means``, ``n_arms``; each mean over the seeds both hold), and within arms (``r_within``: both
    centred on their arm's mean, so it reads only how the score follows the floor between autoencoders of one
    recipe), with the within-arm least-squares slope of the metric on the floor (``slope_within``). NaN where fewer
    than 3 points or no spread."""
    rows = _pairs(metric, floor)
    arms = list(dict.fromkeys(a for a, *_ in rows))
    y = np.array([r[2] for r in rows])
    x = np.array([r[3] for r in rows])
    means = {a: (np.mean([r[2] for r in rows if r[0] == a]), np.mean([r[3] for r in rows if r[0] == a]))
             for a in arms}
    yc = np.array([r[2] - means[r[0]][0] for r in rows])
    xc = np.array([r[3] - means[r[0]][1] for r in rows])
    slope = float(xc @ yc / (xc @ xc)) if len(rows) and xc @ xc > 0 else math.nan
    return {"n_runs": len(rows), "r_runs": _pearson(y, x), "n_arms": len(arms),
            "r_means": _pearson(np.array([m[0] for m in means.values()]), np.array([m[1] for m in means.values()])),
            "r_within": _pearson(yc, xc), "slope_within": slope}


def _design(rows, arms, seeds, with_covariate: bool) -> np.ndarray:
    """Columns: one indicator per arm, one per seed but the first (``seeds`` empty: no seed blocks), the covariate."""
    cols = [[1.0 if r[0] == a else 0.0 for a in arms] + [1.0 if r[1] == s else 0.0 for s in seeds[1:]]
            + ([r[3]] if with_covariate else []) for r in rows]
    return np.asarray(cols, dtype=float)


def covariate_contrasts(values: Values, covariate: Values | None, comparisons: Sequence[stats.Comparison], *,
                        block_seeds: bool = True, alpha: float = 0.05, lower_is_better: bool = True) -> dict:
    """Each declared pair's contrast in the least-squares fit ``score ~ arm + seed + slope * covariate`` over every
    run (module docstring); ``covariate=None`` fits arm (+ seed) alone, and ``block_seeds=False`` drops the seeds.

    values, covariate: {arm: {seed: value}}; a run enters when both hold it. Returns {"slope" (nan without a
    covariate), "df" (residual), "n_runs", "rows"}: per comparison {"better", "worse", "source", "difference"
    (worse - better at equal covariate; positive = as declared), "se", "t", "p" (two-sided), "p_holm", "verdict"
    ("holds" / "reversed" / "unresolved" at Holm's ``alpha``)}. With two arms, seed blocks and no covariate it is
    the paired t-test. A design that cannot be fitted (fewer runs than columns, collinear) is refused in one line."""
    rows = (_pairs(values, covariate) if covariate is not None
            else [(a, s, float(v), 0.0) for a, per in values.items() for s, v in per.items()])
    arms = list(dict.fromkeys(r[0] for r in rows))
    seeds = sorted({r[1] for r in rows}) if block_seeds else []
    missing = sorted({n for c in comparisons for n in (c.better, c.worse)} - set(arms))
    if missing:
        raise ValueError(f"declared arms without runs: {', '.join(missing)}; judge only the pairs the runs cover.")
    X = _design(rows, arms, seeds, covariate is not None)
    y = np.array([r[2] for r in rows])
    rank = np.linalg.matrix_rank(X)
    df = len(y) - X.shape[1]
    if rank < X.shape[1] or df < 1:
        raise ValueError(f"the model score ~ arm{' + seed' if seeds else ''}{' + floor' if covariate else ''} "
                         f"cannot be fitted to {len(y)} runs ({X.shape[1]} columns, rank {rank}); it needs more "
                         f"runs than columns and a covariate that is not constant within arms.")
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ beta
    s2 = float(resid @ resid) / df
    cov = s2 * np.linalg.inv(X.T @ X)
    sign = 1.0 if lower_is_better else -1.0
    out = []
    for c in comparisons:
        w = np.zeros(X.shape[1])
        w[arms.index(c.worse)], w[arms.index(c.better)] = sign, -sign
        diff, se = float(w @ beta), float(math.sqrt(w @ cov @ w))
        t = diff / se if se > 0 else math.copysign(math.inf, diff)
        out.append({"better": c.better, "worse": c.worse, "source": c.source, "difference": diff, "se": se, "t": t,
                    "p": float(2 * scipy.stats.t.sf(abs(t), df))})
    for r, p in zip(out, stats.holm([r["p"] for r in out])):
        r["p_holm"] = float(p)
        r["verdict"] = ("holds" if r["difference"] > 0 else "reversed") if p < alpha else "unresolved"
    return {"slope": float(beta[-1]) if covariate is not None else math.nan, "df": int(df), "n_runs": len(y),
            "rows": out}


def mean_interval(x: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high) of values ``x`` (n,) with the t interval of the mean at ``level``; the interval is NaN
    below two values."""
    x = np.asarray(list(x), dtype=float)
    if len(x) == 0:
        return math.nan, math.nan, math.nan
    m = float(x.mean())
    if len(x) < 2:
        return m, math.nan, math.nan
    half = float(scipy.stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return m, m - half, m + half


def interval_rows(per_metric: Mapping[Metric, Values], labels: Mapping[str, str], level: float = 0.95) -> list[dict]:
    """Display rows of the per-arm table: per arm (in ``labels``' order, those with a value) its label, the seeds
    it ran, and per metric ``"mean [low, high]"`` (:func:`mean_interval`; the mean alone with one seed), formatted by
    the metric's ``fmt`` and ``scale``."""
    rows = []
    for arm, label in labels.items():
        have = {m: v[arm] for m, v in per_metric.items() if arm in v and v[arm]}
        if not have:
            continue
        seeds = sorted({s for v in have.values() for s in v})
        row = {"arm": label, "seeds": ", ".join(map(str, seeds))}
        for m, v in have.items():
            mean, lo, hi = (m.scale * q for q in mean_interval(v.values(), level))
            row[m.key] = f"{mean:{m.fmt}}" + (f" [{lo:{m.fmt}}, {hi:{m.fmt}}]" if math.isfinite(lo) else "")
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------------------------- probes
def probe_inputs(runs: Sequence[Mapping], outcome: Metric, *, arm_of, seed_of, by: str = "run",
                 ) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """The declared probe analysis' inputs (:func:`smlib.audit.probe_correlations`) from runs that recorded
    ``probes``: ({probe: {id: value}}, {id: outcome}). ``by="run"``: one point per run, id ``<arm>-seed<k>``;
    ``by="arm"``: one point per arm, the mean over its seeds of each probe and of the outcome (each over the seeds
    that hold a finite value). Runs without probes or without the outcome are left out, and so is a probe's missing
    or non-finite value (a point without any is absent from that probe)."""
    if by not in ("run", "arm"):
        raise ValueError(f"by must be 'run' or 'arm', got {by!r}.")
    points: dict[str, list[tuple[dict, float]]] = {}
    for r in runs:
        y = outcome.get(r)
        if not r.get("probes") or y is None or not math.isfinite(float(y)):
            continue
        key = f"{arm_of(r)}-seed{seed_of(r)}" if by == "run" else arm_of(r)
        points.setdefault(key, []).append((r["probes"], float(y)))
    def finite(p, n):
        return p.get(n) is not None and math.isfinite(float(p[n]))

    names = list(dict.fromkeys(n for pts in points.values() for p, _ in pts for n in p))
    probes = {n: {k: float(np.mean([p[n] for p, _ in pts if finite(p, n)]))
                  for k, pts in points.items() if any(finite(p, n) for p, _ in pts)} for n in names}
    return probes, {k: float(np.mean([y for _, y in pts])) for k, pts in points.items()}


# ----------------------------------------------------------------------------------------------- printed lines






__all__ = ["GAP_ABOVE_FLOOR", "floor_correlation", "covariate_contrasts", "mean_interval", "interval_rows",
           "probe_inputs"]
