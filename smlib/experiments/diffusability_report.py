"""Reading a diffusability sweep (chapter 5): seed spread, which gaps the seeds resolve, and the paper's ordering.

A sweep (:func:`smlib.experiments.diffusability.run_sweep`) gives, per autoencoder variant, the final gFID-N and
KID of a few diffusion seeds. Two seeds cannot support a t-test, so the rule here is deliberately plain:

* a gap between two variants is **resolved** when every seed of one scores better than every seed of the other
  (the seed ranges do not overlap), and otherwise it is **within the seed spread**;
* the size of a gap is also given in units of the pooled seed standard deviation, so a reader can judge it.

The paper's claim, as far as the notes establish it (papers.md §1.2, claim 5; its tables were not readable, §1.4),
is that ESM-AE and DSM-AE latents generate better than SD-VAE's under the same diffusion recipe, with Scale
Equivariance (a DSM special case) between them. :data:`PAPER_CLAIMS` lists those pairs; the plain autoencoder is the
floor the notes suggest (§6).
"""
from __future__ import annotations

import math

import numpy as np

#: (better, worse): pairs the paper's claim orders, better = lower gFID. The plain AE rows are the sanity floor.
PAPER_CLAIMS = (("esm", "sd-vae"), ("dsm", "sd-vae"), ("scale_equivariance", "sd-vae"),
                ("esm", "scale_equivariance"), ("dsm", "scale_equivariance"), ("esm", "plain"), ("dsm", "plain"))


def seed_values(table: dict, variant: str, key: str = "fid", above_floor: bool = False) -> np.ndarray:
    """The per-seed values of ``key`` ("fid" or "kid") for one variant of a sweep's ``table``, (S,); with
    ``above_floor``, minus the variant's decoder floor (the diffusion model's share of the score)."""
    values = np.asarray(table[variant][key]["values"], dtype=float)
    return values - table[variant]["floor"][key] if above_floor else values


def pooled_std(groups: list[np.ndarray]) -> float:
    """Pooled within-group standard deviation sqrt(sum (n_i - 1) s_i^2 / sum (n_i - 1)); nan without replicates."""
    dof = sum(len(g) - 1 for g in groups)
    if dof <= 0:
        return float("nan")
    return math.sqrt(sum(((g - g.mean()) ** 2).sum() for g in groups) / dof)


def compare(table: dict, better: str, worse: str, key: str = "fid", above_floor: bool = False) -> dict:
    """Does ``better`` score lower than ``worse``? Means, their gap, the gap in pooled seed stds, and a verdict.

    verdict: "holds" (every seed of ``better`` below every seed of ``worse``), "reversed" (the opposite),
    or "within seed spread" (the ranges overlap). ``above_floor`` compares the scores minus each decoder floor."""
    a, b = seed_values(table, better, key, above_floor), seed_values(table, worse, key, above_floor)
    spread = pooled_std([a, b])
    if a.max() < b.min():
        verdict = "holds"
    elif b.max() < a.min():
        verdict = "reversed"
    else:
        verdict = "within seed spread"
    gap = float(b.mean() - a.mean())
    return {"better": better, "worse": worse, "key": key, "above_floor": above_floor, "mean_better": float(a.mean()),
            "mean_worse": float(b.mean()), "gap": gap, "gap_in_stds": gap / spread if spread > 0 else float("nan"),
            "verdict": verdict}


def ranking(table: dict, key: str = "fid") -> list[str]:
    """Variants from best (lowest mean ``key``) to worst."""
    return sorted(table, key=lambda v: table[v][key]["mean"])


def rank_correlation(x, y) -> float:
    """Spearman's rho: the Pearson correlation of the ranks (ties get their average rank)."""
    rx, ry = _ranks(np.asarray(x, dtype=float)), _ranks(np.asarray(y, dtype=float))
    rx, ry = rx - rx.mean(), ry - ry.mean()
    return float((rx * ry).sum() / math.sqrt((rx * rx).sum() * (ry * ry).sum()))


def _ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x), dtype=float)
    ranks[order] = np.arange(1, len(x) + 1)
    for value in np.unique(x):  # average rank for ties
        tied = x == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def mean_curve(runs: list[dict], variant: str, key: str = "eval/fid") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(steps (T,), mean (T,), per-seed values (S, T)) of a metric curve over the seeds of one variant, on the
    steps every seed evaluated."""
    curves = [dict(map(tuple, r["curve"][key])) for r in runs if r["variant"] == variant and r.get("curve")]
    if not curves:
        raise KeyError(f"no {key!r} curve for variant {variant!r} in these runs.")
    steps = sorted(set.intersection(*(set(c) for c in curves)))
    values = np.array([[c[s] for s in steps] for c in curves], dtype=float)
    return np.asarray(steps, dtype=int), values.mean(axis=0), values
