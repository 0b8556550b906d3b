"""Does any probe predict diffusability? Rank correlations of per-run probes with a per-run outcome (gFID, or the
decoder-isolating FID), each with a permutation p-value and a 95% interval.

    rows = probe_correlations({"esm_kl": {run: value, ...}, "hf_energy_share": {...}}, {run: gfid, ...})
    for r in rows: print(r["probe"], r["rho"], r["ci"], r["p"], r["p_holm"])

Per probe: Spearman's rho over the runs present (and finite) in both the probe and the outcome; a two-sided
permutation p-value, P(|rho*| >= |rho|) under random re-pairings of the outcome, **exact** (all n! pairings) when
n! <= ``n_perm``, else **Monte Carlo** with ``n_perm`` seeded pairings and p = (1 + #{|rho*| >= |rho|}) /
(1 + n_perm) (Phipson & Smyth 2010: never 0, valid at any n_perm); Holm's adjustment over the probes of one call
(``p_holm``); and a 95% interval by the **Fisher z-transform with Fieller's variance**, atanh(rho) +/- z_{0.975}
sqrt(1.06 / (n - 3)) (Fieller, Hartley & Pearson 1957, Biometrika 44:470). Why Fisher-z and not a bootstrap: a
bootstrap resample of 21 runs holds only about 13 distinct ones, the duplicates become tied ranks, and percentile
intervals of a correlation are known to undercover at such n; the Fisher-z interval is closed-form and
deterministic, and keeps close to its nominal coverage at n = 21 when the ranks are roughly bivariate normal
(simulated in tests/test_audit.py). It is an approximation: the permutation p is the test, the interval a size.

What 21 points can and cannot show. Chapter 5's 21 autoencoders are 7 recipes x 3 training seeds, so they are not
21 independent draws: seeds of one recipe share everything but the seed. The permutation test assumes the runs are
exchangeable under the null; when both the probe and the outcome cluster by recipe, the null spread of rho is wider
than the permutation spread (as for two autocorrelated series) and p comes out optimistic. The view that respects
the design correlates the 7 recipe means (pass them as 7 "runs": 7! = 5040 pairings, so the test is exact at the
default n_perm, and the 5% critical |rho| is about 0.79) and reads the 21 runs as a check of within-recipe consistency, not as 21 witnesses. With
n = 21 the two-sided 5% critical |rho| is about 0.44 (permutation null), a true rho of 0.5 is detected about 60% of
the time, and 80% power needs a true |rho| of about 0.59 (:func:`detectable_rho`): a non-significant probe is NOT
evidence that the probe is useless. With a dozen probes on the same runs the best unadjusted p is optimistic (read
``p_holm``). A significant rho says the probe ranks these autoencoders as their outcome does, on this dataset,
budget and diffusion recipe; it says nothing about other scales and nothing causal (the intervention chapter's
arms test that). The Kling study's r = -0.80 over 86 tokenizers (arXiv 2606.03578) carries a 95% interval about
0.16 wide; at n = 21 an observed 0.8 carries one of about [0.55, 0.92] and an observed 0.5 one of [0.07, 0.77]:
the two compare in sign and rough size only.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Mapping

import numpy as np
from scipy import stats

from smlib.stats import holm

#: above this many runs an exact enumeration (n!) is never attempted, whatever n_perm says
MAX_EXACT_N = 10


def _spearman_ranks(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rx, ry = stats.rankdata(x), stats.rankdata(y)  # average ranks for ties, as scipy.stats.spearmanr
    rx, ry = rx - rx.mean(), ry - ry.mean()
    return rx / np.linalg.norm(rx), ry / np.linalg.norm(ry)


def spearman_permutation(x, y, n_perm: int = 10_000, seed: int = 0) -> dict:
    """Spearman's rho of paired samples x, y (n,) with its two-sided permutation p-value (module docstring).

    Returns {"rho", "p", "exact" (bool), "n_perm" (pairings used)}. A constant x or y has no rank correlation:
    rho and p are NaN.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = len(x)
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return {"rho": math.nan, "p": math.nan, "exact": False, "n_perm": 0}
    rx, ry = _spearman_ranks(x, y)
    rho = float(rx @ ry)
    tol = 1e-12 * max(1.0, abs(rho))  # permutations tying |rho| must count despite round-off
    if n <= MAX_EXACT_N and math.factorial(n) <= n_perm:
        perms = np.array(list(itertools.permutations(range(n))))
        null = ry[perms] @ rx
        p = float(np.mean(np.abs(null) >= abs(rho) - tol))
        return {"rho": rho, "p": p, "exact": True, "n_perm": len(perms)}
    rng = np.random.default_rng(seed)
    null = rng.permuted(np.tile(ry, (n_perm, 1)), axis=1) @ rx
    p = float((1 + np.sum(np.abs(null) >= abs(rho) - tol)) / (1 + n_perm))
    return {"rho": rho, "p": p, "exact": False, "n_perm": int(n_perm)}


def fisher_interval(rho: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """Interval for Spearman's rho: tanh(atanh(rho) -/+ z sqrt(1.06 / (n - 3))) (Fieller et al. 1957). n >= 4."""
    if n < 4 or not np.isfinite(rho):
        return (math.nan, math.nan)
    z = stats.norm.ppf(0.5 + level / 2)
    half = z * math.sqrt(1.06 / (n - 3))
    centre = math.atanh(max(min(rho, 1 - 1e-15), -1 + 1e-15))
    return (math.tanh(centre - half), math.tanh(centre + half))


def detectable_rho(n: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """The true |rho| a two-sided test at ``alpha`` detects with probability ``power`` from n runs (Fisher-z with
    Fieller's variance): tanh((z_{1-alpha/2} + z_power) sqrt(1.06 / (n - 3)))."""
    if n < 4:
        raise ValueError(f"a rank correlation needs at least 4 runs, got {n}.")
    return math.tanh((stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)) * math.sqrt(1.06 / (n - 3)))


def probe_correlations(probes: Mapping[str, Mapping[str, float]], outcome: Mapping[str, float], n_perm: int = 10_000,
                       seed: int = 0, level: float = 0.95) -> list[dict]:
    """Each probe's Spearman correlation with the outcome over the runs both know (module docstring).

    probes: {probe name: {run id: value}}; outcome: {run id: value} (e.g. gFID: lower is better, so a good probe
    of "diffusability" has rho of the sign that makes low outcome go with its good end). Runs missing from either
    side, or with a non-finite value, are left out of that probe's row. Returns one dict per probe, in the order
    given: {"probe", "n", "rho", "ci" [low, high], "ci_method", "p", "p_holm", "test" ("exact" | "monte carlo"),
    "n_perm", "runs_left_out"}. Raises ValueError when a probe has fewer than 4 usable runs.
    """
    if not probes:
        raise ValueError("no probes given; pass {probe name: {run id: value}}.")
    rows = []
    for name, values in probes.items():
        runs = [r for r in values if r in outcome and np.isfinite(values[r]) and np.isfinite(outcome[r])]
        if len(runs) < 4:
            raise ValueError(f"probe {name!r} shares only {len(runs)} runs with the outcome (need 4); check the run "
                             "ids on both sides.")
        runs.sort()
        x = np.array([values[r] for r in runs], dtype=float)
        y = np.array([outcome[r] for r in runs], dtype=float)
        res = spearman_permutation(x, y, n_perm=n_perm, seed=seed)
        lo, hi = fisher_interval(res["rho"], len(runs), level)
        rows.append({"probe": name, "n": len(runs), "rho": res["rho"], "ci": [lo, hi],
                     "ci_method": f"Fisher z, Fieller variance 1.06/(n-3), {level:.0%}", "p": res["p"],
                     "test": "exact" if res["exact"] else "monte carlo", "n_perm": res["n_perm"],
                     "runs_left_out": sorted((set(values) | set(outcome)) - set(runs))})
    finite = [i for i, r in enumerate(rows) if np.isfinite(r["p"])]
    adjusted = holm([rows[i]["p"] for i in finite]) if finite else []
    for r in rows:
        r["p_holm"] = math.nan
    for i, p in zip(finite, adjusted):
        rows[i]["p_holm"] = float(p)
    return rows


__all__ = ["spearman_permutation", "fisher_interval", "detectable_rho", "probe_correlations", "MAX_EXACT_N"]
