"""How a sweep is judged: declared comparisons, a test per pair, Holm's correction, intervals and power.

A sweep gives, for every arm (an autoencoder variant, an alignment target, a loss), a score per seed: ``values =
{"esm": [182.1, 182.3], "sd-vae": [190.2, 192.9], ...}``, lower is better. The comparisons are declared *before*
the numbers are read, each with where its expected order comes from (:data:`SOURCES`), so the family of tests is
fixed by the claim and not by what the data happen to show.

**The test.** For a pair (better A, worse B) the null is "equal expected scores". Seeds are few (two to five), so
the seed variance of one pair alone is estimated on one to eight degrees of freedom and a t-test on it has almost
no power. The arms of one sweep share their recipe and differ only in what is compared, so we assume one seed
variance for all of them and pool it over every arm: s^2 = sum_i sum_k (x_ik - mean_i)^2 / sum_i (n_i - 1). The
statistic t = (mean_B - mean_A) / (s sqrt(1/n_A + 1/n_B)) then has a t distribution with sum_i (n_i - 1) degrees
of freedom under the null, and the p-value is two-sided (a reversed order is as much a finding as the declared one).
The exact permutation test (``test="permutation"``) drops the common-variance assumption but, with n seeds per
arm, cannot go below 2 / C(2n, n): 1/3 at two seeds, 0.1 at three. It says so: such a pair is "not resolvable at
this N" before any number is looked at.

**The family.** Several pairs are tested at once, so the chance that at least one null pair looks significant
grows with their number. Holm's step-down correction keeps that family-wise error at most alpha for any
dependence between the tests, and is uniformly more powerful than Bonferroni.

**Effect and power.** Each pair reports the difference of means with its confidence interval (pooled t) and the
minimum detectable difference: the true gap that this test, at these seeds and this pooled variance, would
detect with probability ``power`` (noncentral t). A gap well below it is not evidence of no effect: it is a sweep
too small to say. :func:`seeds_needed` turns it around: the seeds per arm at which a given gap would be detected.

**The sampling noise of one score.** FID-N and KID computed from N samples vary with the samples drawn.
:func:`bootstrap_fid` and :func:`bootstrap_kid` resample the N feature rows to give that spread for one run;
the seed spread above contains it (each seed draws its own samples) plus the training noise.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import scipy.optimize
import scipy.stats

from smlib.metrics.fid import frechet_distance_fast, kid_full_reference

SOURCES = ("abstract", "paper prose", "released code", "second-hand note", "our inference")
VERDICTS = ("holds", "reversed", "unresolved", "not resolvable at this N")
MAX_RELABELLINGS = 200_000


@dataclass(frozen=True)
class Comparison:
    """A declared expectation: ``better`` scores lower than ``worse``; ``source`` says who expects it."""

    better: str
    worse: str
    source: str
    note: str = ""

    def __post_init__(self):
        if self.source not in SOURCES:
            raise ValueError(f"comparison {self.better} < {self.worse}: source {self.source!r} is not one of "
                             f"{', '.join(SOURCES)}.")


def _arr(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64).ravel()


def pooled_std(values: Mapping[str, Sequence[float]]) -> tuple[float, int]:
    """(pooled within-arm std over every arm, its degrees of freedom sum (n_i - 1)); (nan, 0) without replicates."""
    arms = [_arr(v) for v in values.values()]
    df = sum(len(a) - 1 for a in arms if len(a) > 0)
    if df <= 0:
        return float("nan"), 0
    ss = sum(((a - a.mean()) ** 2).sum() for a in arms if len(a) > 0)
    return math.sqrt(ss / df), int(df)


def pooled_t_test(a, b, sd: float, df: int) -> tuple[float, float]:
    """t statistic and two-sided p of mean(b) - mean(a), with a pooled ``sd`` on ``df`` degrees of freedom."""
    a, b = _arr(a), _arr(b)
    if df < 1 or not np.isfinite(sd):
        return float("nan"), float("nan")
    se = sd * math.sqrt(1 / len(a) + 1 / len(b))
    diff = b.mean() - a.mean()
    if se == 0:
        return (math.copysign(math.inf, diff), 0.0) if diff else (0.0, 1.0)
    t = diff / se
    return float(t), float(2 * scipy.stats.t.sf(abs(t), df))


def permutation_test(a, b) -> float:
    """Exact two-sided permutation p-value of the difference in means: the share of all C(n_a + n_b, n_a)
    relabellings (the observed one included) whose |difference| is at least the observed one."""
    a, b = _arr(a), _arr(b)
    pooled, n_a = np.concatenate([a, b]), len(a)
    total = math.comb(len(pooled), n_a)
    if total > MAX_RELABELLINGS:
        raise ValueError(f"an exact permutation test over {total} relabellings is too large; use test='pooled-t'.")
    observed = abs(b.mean() - a.mean())
    s, count = pooled.sum(), 0
    for idx in combinations(range(len(pooled)), n_a):
        sa = pooled[list(idx)].sum()
        d = abs((s - sa) / (len(pooled) - n_a) - sa / n_a)
        count += d >= observed - 1e-12 * max(1.0, observed)
    return count / total


def smallest_permutation_p(n_a: int, n_b: int) -> float:
    """The smallest two-sided exact permutation p attainable with n_a and n_b values: 2 / C(n_a + n_b, n_a) when
    the arms have the same size (the most extreme labelling and its mirror), 1 / C otherwise."""
    return min(1.0, (2 if n_a == n_b else 1) / math.comb(n_a + n_b, n_a))


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (monotone, at most 1), in the order given. NaN stays NaN."""
    p = _arr(pvalues)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    order = ok[np.argsort(p[ok], kind="stable")]
    m, running = len(order), 0.0
    for rank, i in enumerate(order):
        running = max(running, (m - rank) * p[i])
        out[i] = min(1.0, running)
    return out


def _power(delta: float, sd: float, n_a: int, n_b: int, df: int, alpha: float) -> float:
    nc = delta / (sd * math.sqrt(1 / n_a + 1 / n_b))
    crit = scipy.stats.t.ppf(1 - alpha / 2, df)
    upper, lower = scipy.stats.nct.sf(crit, df, nc), scipy.stats.nct.cdf(-crit, df, nc)
    # scipy's noncentral t returns nan far in a tail (e.g. df 510, nc 22): there the normal limit is exact enough
    if not np.isfinite(upper):
        upper = scipy.stats.norm.sf(crit - nc)
    if not np.isfinite(lower):
        lower = scipy.stats.norm.cdf(-crit - nc)
    return float(upper + lower)


def minimum_detectable_difference(sd: float, n_a: int, n_b: int, df: int, alpha: float = 0.05,
                                  power: float = 0.8) -> float:
    """The true difference of means that the two-sided pooled t-test at level ``alpha`` detects with probability
    ``power`` (noncentral t); nan without a variance estimate."""
    if df < 1 or not np.isfinite(sd) or sd <= 0:
        return float("nan")
    hi = sd
    while _power(hi, sd, n_a, n_b, df, alpha) < power:
        hi *= 2
    return float(scipy.optimize.brentq(lambda d: _power(d, sd, n_a, n_b, df, alpha) - power, 0.0, hi, xtol=1e-10))


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


def judge(values: Mapping[str, Sequence[float]], comparisons: Sequence[Comparison], *, alpha: float = 0.05,
          lower_is_better: bool = True, test: str = "pooled-t", level: float = 0.95, power: float = 0.8) -> list[dict]:
    """One row per declared comparison, in order (see the module docstring for the statistics).

    Row keys: better, worse, source, note, n_better, n_worse, mean_better, mean_worse, difference (positive = as
    declared), ci_low, ci_high (its ``level`` interval, pooled t), sd and df (pooled over every arm of ``values``),
    statistic, p (two-sided), p_holm (over the declared family), mdd (minimum detectable difference), test, and
    verdict: "holds" / "reversed" (Holm-corrected p below alpha, by the sign of the difference), "unresolved", or
    "not resolvable at this N" (no attainable data could reach alpha: no replicates, or an exact permutation test
    whose smallest p is at least alpha)."""
    if test not in ("pooled-t", "permutation"):
        raise ValueError(f"test must be 'pooled-t' or 'permutation', got {test!r}.")
    missing = sorted({n for c in comparisons for n in (c.better, c.worse)} - set(values))
    if missing:
        raise ValueError(f"declared arms with no values: {', '.join(missing)}; known: {', '.join(values)}.")
    sd, df = pooled_std(values)
    sign = 1.0 if lower_is_better else -1.0
    mdd: dict[tuple[int, int], float] = {}     # one root-find per pair of arm sizes
    rows = []
    for c in comparisons:
        a, b = _arr(values[c.better]), _arr(values[c.worse])
        diff = sign * (b.mean() - a.mean())
        t, p = pooled_t_test(a, b, sd, df)
        if test == "permutation":
            p = permutation_test(a, b)
        half = (scipy.stats.t.ppf(0.5 + level / 2, df) * sd * math.sqrt(1 / len(a) + 1 / len(b))
                if df >= 1 else float("nan"))
        resolvable = df >= 1 and (test == "pooled-t" or smallest_permutation_p(len(a), len(b)) < alpha)
        if (len(a), len(b)) not in mdd:
            mdd[len(a), len(b)] = minimum_detectable_difference(sd, len(a), len(b), df, alpha, power)
        rows.append({"better": c.better, "worse": c.worse, "source": c.source, "note": c.note,
                     "n_better": len(a), "n_worse": len(b), "mean_better": float(a.mean()),
                     "mean_worse": float(b.mean()), "difference": float(diff), "ci_low": float(diff - half),
                     "ci_high": float(diff + half), "sd": sd, "df": df, "statistic": sign * t, "p": p,
                     "mdd": mdd[len(a), len(b)], "test": test,
                     "resolvable": resolvable})
    for row, p_holm in zip(rows, holm([r["p"] for r in rows])):
        row["p_holm"] = float(p_holm)
        if not row.pop("resolvable"):
            row["verdict"] = "not resolvable at this N"
        elif p_holm < alpha:
            row["verdict"] = "holds" if row["difference"] > 0 else "reversed"
        else:
            row["verdict"] = "unresolved"
    return rows


def seed_summary(values: Sequence[float]) -> dict:
    """One arm's scores over seeds: {"mean", "std" (ddof 1; None for a single seed), "values"}."""
    v = _arr(values)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else None, "values": v.tolist()}


def judge_table(table: Mapping[str, Mapping], comparisons: Sequence[Comparison], key: str = "fid", *,
                test: str = "pooled-t", alpha: float = 0.05) -> list[dict]:
    """:func:`judge` of the declared pairs on a sweep's per-arm table ({arm: {key: {"values": [...]}}}, as the
    chapters' ``aggregate`` builds it with :func:`seed_summary`). Every arm of the table enters the pooled seed
    variance; pairs with an arm not (yet) in the table are left out of the family."""
    values = {arm: _arr(e[key]["values"]) for arm, e in table.items()}
    present = [c for c in comparisons if c.better in values and c.worse in values]
    return judge(values, present, alpha=alpha, test=test)


# ------------------------------------------------------------------------------------ noise of one score
def paired_comparisons(values: Mapping[str, Sequence[float]], comparisons: Sequence[Comparison], *,
                       alpha: float = 0.05, lower_is_better: bool = True, level: float = 0.95) -> list[dict]:
    """Declared comparisons of methods scored on the *same* items (one value per image, say): a paired t-test on
    the per-item differences, Holm over the family. One row per comparison: better, worse, source, note, n,
    difference (mean of worse - better, positive = as declared), ci_low, ci_high, p, p_holm, verdict ("holds",
    "reversed", "unresolved")."""
    rows = []
    for c in comparisons:
        a, b = _arr(values[c.better]), _arr(values[c.worse])
        if len(a) != len(b) or len(a) < 2:
            raise ValueError(f"{c.better} and {c.worse}: a paired comparison needs the same items, at least two "
                             f"(got {len(a)} and {len(b)}).")
        d = (b - a) if lower_is_better else (a - b)
        se = d.std(ddof=1) / math.sqrt(len(d))
        half = scipy.stats.t.ppf(0.5 + level / 2, len(d) - 1) * se
        p = float(scipy.stats.ttest_1samp(d, 0.0).pvalue) if se > 0 else (0.0 if d.mean() else 1.0)
        rows.append({"better": c.better, "worse": c.worse, "source": c.source, "note": c.note, "n": len(d),
                     "difference": float(d.mean()), "ci_low": float(d.mean() - half),
                     "ci_high": float(d.mean() + half), "p": p})
    for row, p_holm in zip(rows, holm([r["p"] for r in rows])):
        row["p_holm"] = float(p_holm)
        row["verdict"] = ("unresolved" if not p_holm < alpha else "holds" if row["difference"] > 0 else "reversed")
    return rows


def _percentile_interval(samples: np.ndarray, level: float) -> tuple[float, float]:
    lo, hi = np.percentile(samples, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)


def bootstrap_fid(sample_features: np.ndarray, ref_mu: np.ndarray, ref_sigma: np.ndarray, *, n_boot: int = 200,
                  seed: int = 0, level: float = 0.95) -> dict:
    """FID-N against fixed reference statistics, and its spread over bootstrap resamples of the N sample rows:
    {"fid", "low", "high" (percentile interval), "std", "n_boot", "n_samples"}. The resamples repeat rows, which
    shrinks the sample covariance's rank a little, so the interval sits slightly above the point estimate at small N:
    read it as the spread, not as a bias correction."""
    x = np.asarray(sample_features, np.float64)
    rng = np.random.default_rng(seed)
    boots = np.array([frechet_distance_fast(x[rng.integers(0, len(x), len(x))], ref_mu, ref_sigma)
                      for _ in range(int(n_boot))])
    low, high = _percentile_interval(boots, level)
    return {"fid": float(frechet_distance_fast(x, ref_mu, ref_sigma)), "low": low, "high": high,
            "std": float(boots.std(ddof=1)), "n_boot": int(n_boot), "n_samples": int(len(x))}


def bootstrap_kid(sample_features: np.ndarray, reference_features: np.ndarray, *, n_boot: int = 200, seed: int = 0,
                  level: float = 0.95, subset_size: int | None = None) -> dict:
    """KID over the whole reference set (:func:`~smlib.metrics.fid.kid_full_reference`) and its spread over
    bootstrap resamples of the sample rows: {"kid", "low", "high", "std", "n_boot", "n_samples"}."""
    x, y = np.asarray(sample_features, np.float64), np.asarray(reference_features, np.float64)
    rng = np.random.default_rng(seed)
    boots = np.array([kid_full_reference(x[rng.integers(0, len(x), len(x))], y, subset_size=subset_size)[0]
                      for _ in range(int(n_boot))])
    low, high = _percentile_interval(boots, level)
    return {"kid": kid_full_reference(x, y, subset_size=subset_size)[0], "low": low, "high": high,
            "std": float(boots.std(ddof=1)), "n_boot": int(n_boot), "n_samples": int(len(x))}


__all__ = ["SOURCES", "VERDICTS", "Comparison", "pooled_std", "pooled_t_test", "permutation_test",
           "smallest_permutation_p", "holm", "minimum_detectable_difference", "seeds_needed", "judge", "judge_table",
           "seed_summary", "paired_comparisons",
           "bootstrap_fid", "bootstrap_kid"]
