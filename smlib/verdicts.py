"""How a judged family reads: its tables and one printed fact per declared pair.

The rows are those of :func:`smlib.stats.judge` and :meth:`smlib.sweep.Sweep.verdicts` (the primary paired test,
with the sign-flip, Welch and pooled tests beside it); ``difference`` is positive in the declared direction. Every
line here reads the verdict from the Holm p of the primary test; the minimum detectable difference is a statement
of the sweep's power and is never used as a threshold. A ``metric`` is a :class:`smlib.sweep.Metric` (its ``fmt``
and ``scale`` format the values).

* :func:`verdict_table`, :func:`check_table`: a family's verdicts and its checks, as tables;
* :func:`verdict_lines`: one fact per pair (verdict, difference, interval, Holm p, seeds);
* :func:`pooled_agreement`: whether the pooled sensitivity test gives the primary verdict for every pair;
* :func:`open_effect_lines`: for an unresolved pair, the largest effect its interval leaves open in the declared
  direction and the seeds a gap of the observed size would need;
* :func:`ruled_out_lines`: each pair's interval read as the effects it rules out, in both directions (a null
  result with a tight interval is a result);
* :func:`family_summary`: a family's verdicts as a Markdown bullet for a chapter's verdict section;
* :func:`per_seed_differences`, :func:`seed_lines`: each pair's per-seed differences and at how many seeds the
  declared order holds.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from smlib import stats
from smlib.results import html_table



def _seeds(n, kind: str = "") -> str:
    """'1 seed', '5 paired seeds'."""
    return f"{n} {kind}seed{'' if n == 1 else 's'}"

def _fmt(x, fmt: str, scale: float = 1.0) -> str:
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{scale * x:{fmt}}"


def _p(x) -> str:
    return "–" if x is None or not math.isfinite(x) else (f"{x:.3f}" if x >= 0.001 else f"{x:.1e}")


def verdict_table(rows: Sequence[Mapping], metric, caption: str):
    """The primary judgement of a family as a table: pair, source, seeds, difference (positive = as declared) with
    its 95% interval, p, Holm p, verdict, and the minimum detectable difference with the seeds the gap would need."""
    f, k = metric.fmt, metric.scale
    body = [{"pair": f"{r['better']} < {r['worse']}", "source": r["source"], "n": r["n"],
             "diff": _fmt(r["difference"], f, k), "ci": f"[{_fmt(r['ci_low'], f, k)}, {_fmt(r['ci_high'], f, k)}]",
             "p": _p(r["p"]), "p_holm": _p(r["p_holm"]), "verdict": r["verdict"], "mdd": _fmt(r["mdd"], f, k),
             "need": r.get("seeds_needed") or "–"} for r in rows]
    return html_table(body, {"pair": "declared (better < worse)", "source": "source", "n": "seeds",
                             "diff": "difference", "ci": "95% CI", "p": "p", "p_holm": "p (Holm)",
                             "verdict": "verdict", "mdd": "min. detectable", "need": "seeds for this gap"},
                      caption=caption)


def check_table(rows: Sequence[Mapping], caption: str):
    """The checks beside a primary judgement (:meth:`Sweep.verdicts`): exact sign-flip p, Welch p, and the pooled
    unpaired test (Holm p, verdict, minimum detectable difference) as the sensitivity line."""
    body = [{"pair": f"{r['better']} < {r['worse']}", "paired": _p(r["p"]), "sf": _p(r["p_sign_flip"]),
             "welch": _p(r["p_welch"]), "pooled": _p(r["p_holm_pooled"]), "vp": r["verdict_pooled"]} for r in rows]
    return html_table(body, {"pair": "pair", "paired": "paired t p", "sf": "sign-flip p (exact)",
                             "welch": "Welch p", "pooled": "pooled t p (Holm)", "vp": "pooled verdict"},
                      caption=caption)


def pooled_agreement(rows: Sequence[Mapping], title: str = "sensitivity") -> str:
    """One line: whether the pooled unpaired test (the sensitivity line of :meth:`smlib.sweep.Sweep.verdicts`)
    reaches the primary verdict for every pair of the family, and where it does not."""
    differ = [f"{r['better']} < {r['worse']} (paired: {r['verdict']}; pooled: {r['verdict_pooled']})"
              for r in rows if r["verdict"] != r["verdict_pooled"]]
    if not rows:
        return f"{title}: no pair has runs yet"
    return (f"{title}: the pooled sensitivity test agrees with the paired verdict for every pair" if not differ else
            f"{title}: the pooled sensitivity test disagrees on {len(differ)} of {len(rows)} pairs: "
            + "; ".join(differ))


def open_effect_lines(rows: Sequence[Mapping], metric) -> list[str]:
    """For each pair the primary test left unresolved: the largest effect its interval leaves open in the declared
    direction (the interval's far end, or none when the whole interval lies against the declared order) and the
    seeds per arm a true gap of the observed size would need (``seeds_needed``: paired, Holm's first level, power
    0.8). Pairs that hold, are reversed or cannot be tested get no line."""
    out = []
    for r in rows:
        if r["verdict"] != "unresolved":
            continue
        hi = metric.scale * r["ci_high"]
        gap = abs(metric.scale * r["difference"])
        side = "as declared" if r["difference"] > 0 else "against the declared order"
        room = (f"its interval leaves open a gap of up to {hi:{metric.fmt}} in the declared direction" if hi > 0
                else "its interval leaves no gap in the declared direction open")
        need = r.get("seeds_needed")
        out.append(f"{r['better']} < {r['worse']}: {room}; a true gap the size of the observed one "
                   f"({gap:{metric.fmt}}, {side}) would need "
                   + (f"{need} seeds per arm" if need else "more seeds than can be computed")
                   + " to be detected four times in five")
    return out


def family_summary(title: str, rows: Sequence[Mapping], metric, primary: bool = True) -> str:
    """One Markdown bullet for the verdict section: a family's verdict counts (from the primary, paired test), then
    per pair its verdict, difference with 95% interval and Holm p, and for an unresolved pair the far end of its
    interval in the declared direction and the seeds the observed gap would need (:func:`open_effect_lines`)."""
    kind = "primary family" if primary else "secondary family"
    if not rows:
        return f"- **{title}** ({kind}): no pair has runs of both its arms yet."
    counts = {v: sum(r["verdict"] == v for r in rows) for v in stats.VERDICTS}
    head = f"- **{title}** ({kind}): " + ", ".join(f"{n} {v}" for v, n in counts.items() if n) + "."
    f, k = metric.fmt, metric.scale
    lines = []
    for r in rows:
        ci = (f", 95% CI [{k * r['ci_low']:{f}}, {k * r['ci_high']:{f}}]" if math.isfinite(r["ci_low"]) else "")
        p = f", Holm p {r['p_holm']:.3f}" if math.isfinite(r["p_holm"]) else ""
        lines.append(f"  - {r['better']} < {r['worse']} ({r['source']}): *{r['verdict']}*, difference "
                     f"{k * r['difference']:{f}}{ci}{p}, {r['n']} seeds.")
    opened = {line.split(":")[0]: line.split(": ", 1)[1] for line in open_effect_lines(rows, metric)}
    lines = [line + (f" Unresolved: {opened[key]}." if key in opened else "")
             for line, key in zip(lines, (f"{r['better']} < {r['worse']}" for r in rows))]
    return "\n".join([head, *lines])


def per_seed_differences(row: Mapping, values: Mapping[str, Mapping[int, float]], metric) -> np.ndarray:
    """(n,) the differences of a judged pair at the seeds it was paired on, positive = as declared (worse minus
    better for a lower-is-better metric), in the metric's display scale."""
    sign = 1.0 if metric.lower_is_better else -1.0
    a, b = values[row["better"]], values[row["worse"]]
    return np.array([metric.scale * sign * (float(b[s]) - float(a[s])) for s in row["seeds"]])


def seed_lines(rows: Sequence[Mapping], values: Mapping[str, Mapping[int, float]], metric) -> list[str]:
    """One fact per pair: at how many seeds the declared order holds, the per-seed differences, and the exact
    sign-flip p beside the smallest two-sided p that many seeds allow."""
    out = []
    for r in rows:
        d = per_seed_differences(r, values, metric)
        shown = ", ".join(f"{x:+{metric.fmt}}" for x in d)
        out.append(f"{r['better']} < {r['worse']}: as declared at {int((d > 0).sum())} of {len(d)} seeds ({shown}); exact sign-flip "
                   f"p {r['p_sign_flip']:.3f} (the smallest {len(d)} seeds allow: "
                   f"{stats.smallest_sign_flip_p(len(d)):.3f})")
    return out


def verdict_lines(rows: Sequence[Mapping], metric=None) -> list[str]:
    """One printed fact per declared pair: its verdict, difference with interval, Holm p and the largest effect
    the interval leaves open in the declared direction (for check cells)."""
    f, k = (metric.fmt, metric.scale) if metric else (".2f", 1.0)
    return [f"{r['better']} < {r['worse']}: {r['verdict']} (difference {_fmt(r['difference'], f, k)}, 95% CI "
            f"[{_fmt(r['ci_low'], f, k)}, {_fmt(r['ci_high'], f, k)}], p_holm {_p(r['p_holm'])}, {_seeds(r['n'])})"
            for r in rows]


def _num_or_dash(x: float, fmt: str) -> str:
    return f"{x:{fmt}}" if x is not None and math.isfinite(x) else "–"


def ruled_out_lines(rows: Sequence[Mapping], metric=None) -> list[str]:
    """Each declared pair's 95% interval read as the effects it rules out (difference = worse - better, positive
    as declared): ``better`` ahead by more than the upper end, and ``worse`` ahead by more than minus the lower end
    (an interval above zero rules out every advantage of ``worse``). One line per pair, in the metric's units."""
    fmt, k = (metric.fmt, metric.scale) if metric else (".2f", 1.0)
    out = []
    for r in rows:
        lo, hi, a, b = k * r["ci_low"], k * r["ci_high"], r["better"], r["worse"]
        if not (math.isfinite(lo) and math.isfinite(hi)):
            out.append(f"{a} < {b}: no interval ({_seeds(r['n'], 'paired ')}); it rules out nothing")
            continue
        if lo >= 0:
            rest = f"{b} ahead at all, and {a} ahead by less than {_num_or_dash(lo, fmt)}"
        elif hi <= 0:
            rest = f"{a} ahead at all, and {b} ahead by less than {_num_or_dash(-hi, fmt)}"
        else:
            rest = f"{a} ahead by more than {_num_or_dash(hi, fmt)} and {b} ahead by more than {_num_or_dash(-lo, fmt)}"
        out.append(f"{a} < {b}: 95% CI [{_num_or_dash(lo, fmt)}, {_num_or_dash(hi, fmt)}]; rules out {rest}")
    return out


__all__ = ["verdict_table", "check_table", "verdict_lines", "pooled_agreement", "open_effect_lines", "family_summary",
           "per_seed_differences", "seed_lines", "ruled_out_lines"]
