"""Chapter 8's verdict rows read in words: what an unresolved pair leaves open, whether the pooled sensitivity test
agrees with the primary verdict, and how many seeds a gain of the paper's relative size would need here.

The rows are those of :meth:`smlib.sweep.Sweep.verdicts` (paired t over seeds, Holm within the family, the pooled
test beside it); ``difference`` is positive in the declared direction (lower is better for every metric here).

* :func:`open_effect_lines` - per pair, the largest gain (declared direction) and loss its 95% interval leaves open,
  and the paired seeds a gap of the observed size would need (``seeds_needed``, at Holm's first level alpha / m);
  the minimum detectable difference is a power statement, never a threshold, so it is not used here.
* :func:`pooled_disagreements` / :func:`agreement_line` - the pairs whose pooled-test verdict differs from the
  paired one.
* :func:`paper_relative_gains` - the paper's Table 1 gains as a share of the baseline FIDs they were measured on.
  Carrying that share to a CIFAR-10 U-ViT early in training is our inference: the paper reports no CIFAR-10 gain.
* :func:`seeds_for_relative_gain` - the paired seeds each pair would need to detect a gain of a given share of its
  baseline arm's score, at that pair's own spread of per-seed differences.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from smlib import stats
from smlib.experiments.spectral_regularisation.recipe import PAPER_BASELINES, PAPER_GAINS


def _pair(row: Mapping) -> str:
    return f"{row['better']} < {row['worse']}"


def _num(x: float, fmt: str, scale: float) -> str:
    return f"{scale * x:{fmt}}"


def open_effect_lines(rows: Sequence[Mapping], fmt: str = ".1f", scale: float = 1.0) -> list[str]:
    """One line per pair whose primary verdict is not decided (unresolved, or not resolvable at this N): the largest
    gain in the declared direction its interval leaves open (the interval's far end, ``ci_high``), the largest loss
    (``-ci_low``), and the paired seeds per arm a true gap of the observed size would need. Decided pairs get one
    line naming their verdict. ``fmt`` / ``scale`` format the metric's values."""
    lines = []
    for r in rows:
        if r["verdict"] in ("holds", "reversed"):
            lines.append(f"{_pair(r)}: {r['verdict']} (paired t, Holm p {r['p_holm']:.3f})")
            continue
        hi, lo = float(r["ci_high"]), float(r["ci_low"])
        if not (math.isfinite(hi) and math.isfinite(lo)):
            lines.append(f"{_pair(r)}: {r['verdict']}, no interval (fewer than two paired seeds)")
            continue
        gain = (f"a gain of up to {_num(hi, fmt, scale)}" if hi > 0 else "no gain")
        loss = (f"a loss of up to {_num(-lo, fmt, scale)}" if lo < 0 else "no loss")
        d = float(r["difference"])
        side = "as declared" if d > 0 else "against the declaration"
        need = r.get("seeds_needed")
        need_text = (f"{need} paired seeds per arm" if need is not None
                     else "more seeds than can be counted (no spread, or beyond 100,000)")
        lines.append(f"{_pair(r)}: {r['verdict']}; its interval leaves open {gain} and {loss}; a true gap of the "
                     f"observed size ({_num(abs(d), fmt, scale)}, {side}) would need {need_text}")
    return lines


def pooled_disagreements(rows: Sequence[Mapping]) -> list[tuple[str, str, str]]:
    """(pair, paired verdict, pooled verdict) for every pair whose pooled sensitivity verdict differs."""
    return [(_pair(r), r["verdict"], r["verdict_pooled"]) for r in rows if r["verdict_pooled"] != r["verdict"]]


def agreement_line(title: str, rows: Sequence[Mapping]) -> str:
    """Whether the pooled test reaches the paired verdict on every pair of a family, and where it does not."""
    diff = pooled_disagreements(rows)
    text = f"{title}: the pooled sensitivity test agrees with the paired verdict on every pair: {not diff}"
    if diff:
        text += "; it differs on " + "; ".join(f"{p} (pooled {vp}, paired {v})" for p, v, vp in diff)
    return text


def paper_relative_gains(gains: Sequence[float] = PAPER_GAINS,
                         baselines: Mapping[str, float] = PAPER_BASELINES) -> tuple[float, float]:
    """(smallest, largest) share of a baseline FID that the paper's gains can be: min(gains) / max(baselines) and
    max(gains) / min(baselines), a bracket around every gain-to-baseline ratio of its Table 1's unconditional rows."""
    if not gains or not baselines:
        raise ValueError("need at least one gain and one baseline FID to form a relative gain.")
    b = list(baselines.values())
    if min(b) <= 0:
        raise ValueError(f"baseline FIDs must be positive, got {min(b)}.")
    return min(gains) / max(b), max(gains) / min(b)


def seeds_for_relative_gain(rows: Sequence[Mapping], share: float, power: float = 0.8) -> list[dict]:
    """For each pair: the gap that is ``share`` of its baseline arm's mean score (``mean_worse``) and the paired
    seeds per arm that detect it with probability ``power`` at the level the row's MDD uses (Holm's first level,
    ``mdd_alpha``), at the pair's own spread of per-seed differences ``sd``. Rows: {pair, sd, baseline, gap,
    seeds} (seeds None beyond 100,000 or without a spread)."""
    if not 0 < share < 1:
        raise ValueError(f"share must be a fraction in (0, 1), got {share}.")
    out = []
    for r in rows:
        gap = share * float(r["mean_worse"])
        sd = float(r["sd"])
        seeds = stats.seeds_needed(gap, sd, alpha=float(r["mdd_alpha"]), power=power) if math.isfinite(sd) else None
        out.append({"pair": _pair(r), "sd": sd, "baseline": float(r["mean_worse"]), "gap": gap, "seeds": seeds})
    return out


__all__ = ["open_effect_lines", "pooled_disagreements", "agreement_line", "paper_relative_gains",
           "seeds_for_relative_gain"]
