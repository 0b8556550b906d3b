"""A learning bar: what a sweep's baseline must reach before the methods built on it are compared at all.

A comparison of two training tricks on a generator that has not learned its data measures noise around a failure,
so a chapter declares, in its ``declared.toml`` and before its runs, what "learned" means for its baseline:

    [[bar]]
    arm = "ddpm"                         # the baseline
    metric = "board_share"               # a metric of the chapter's sweep
    threshold = 0.5
    direction = "at least"               # or "at most" (a gFID, say)
    rule = "every seed"                  # or "mean": the mean over seeds
    declared = "commit abc1234, before the runs"
    commit = "abc1234"
    note = "half the samples are a checkerboard of the data's periods (best-matching board r > 0.9)"

and the chapter prints :func:`bar_lines` of :func:`check_bars` before its verdicts, and states them only under
:func:`bars_met`:

    rows = check_bars(SWEEP.bars, SWEEP.values, runs)      # one row per bar: its values per seed and whether met
    if bars_met(rows): ... the verdicts ...
"""
from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

RULES = ("every seed", "mean")
DIRECTIONS = ("at least", "at most")


@dataclass(frozen=True)
class LearningBar:
    """``arm`` must score ``direction`` ``threshold`` on ``metric``, at every seed or on the mean over seeds
    (``rule``); ``declared`` and ``commit`` say when it was written down, ``note`` why this bar."""

    arm: str
    metric: str
    threshold: float
    direction: str = "at least"
    rule: str = "every seed"
    declared: str = ""
    commit: str = ""
    note: str = ""
    sweep: str | None = None     # a second sweep of the same chapter (a toy) has its own bars

    def __post_init__(self):
        if self.direction not in DIRECTIONS:
            raise ValueError(f"learning bar on {self.arm}: direction must be one of {DIRECTIONS}, got "
                             f"{self.direction!r}.")
        if self.rule not in RULES:
            raise ValueError(f"learning bar on {self.arm}: rule must be one of {RULES}, got {self.rule!r}.")

    def passes(self, value: float) -> bool:
        return value >= self.threshold if self.direction == "at least" else value <= self.threshold

    def check(self, per_seed: Mapping[int, float]) -> dict:
        """{"bar", "arm", "metric", "values" (seed -> value), "n", "mean", "worst", "met"}; ``met`` is None when
        the arm has no run with the metric (not checked yet), else whether the rule holds."""
        values = {int(s): float(v) for s, v in per_seed.items() if v is not None and math.isfinite(v)}
        row = {"bar": self, "arm": self.arm, "metric": self.metric, "values": values, "n": len(values),
               "mean": float("nan"), "worst": float("nan"), "met": None}
        if values:
            xs = list(values.values())
            row["mean"] = sum(xs) / len(xs)
            row["worst"] = min(xs) if self.direction == "at least" else max(xs)
            row["met"] = self.passes(row["mean"] if self.rule == "mean" else row["worst"])
        return row


def load_bars(path: str | Path, sweep: str | None = None) -> tuple[LearningBar, ...]:
    """The ``[[bar]]`` entries of a chapter's ``declared.toml`` that belong to ``sweep`` (None: the main one)."""
    with open(path, "rb") as f:
        entries = tomllib.load(f).get("bar", [])
    known = set(LearningBar.__dataclass_fields__)
    for e in entries:
        extra = set(e) - known
        if extra:
            raise ValueError(f"{path}: a [[bar]] has unknown keys {sorted(extra)}; known: {sorted(known)}.")
    return tuple(LearningBar(**{**e, "threshold": float(e["threshold"])}) for e in entries
                 if e.get("sweep") == sweep)


def check_bars(bars: Sequence[LearningBar], values: Callable[[Sequence[Mapping], str], Mapping],
               runs: Sequence[Mapping]) -> list[dict]:
    """Each bar checked on the runs; ``values(runs, metric)`` is the sweep's {arm: {seed: value}} (for instance
    :meth:`smlib.sweep.Sweep.values`)."""
    return [bar.check(values(runs, bar.metric).get(bar.arm, {})) for bar in bars]


def bars_met(rows: Sequence[Mapping]) -> bool:
    """Whether every declared bar is met (False while one is unmet or not checked yet; True with no bar)."""
    return all(r["met"] is True for r in rows)


def bar_lines(rows: Sequence[Mapping], fmt: str = ".2f") -> list[str]:
    """One printed line per bar: what was declared, the values per seed, and whether it is met."""
    lines = []
    for r in rows:
        bar = r["bar"]
        head = (f"learning bar: {bar.arm} {bar.metric} {bar.direction} {bar.threshold:{fmt}} "
                f"({'at every seed' if bar.rule == 'every seed' else 'mean over seeds'}; declared {bar.declared})")
        if r["met"] is None:
            lines.append(f"{head}: not checked yet (no run of {bar.arm})")
            continue
        seeds = ", ".join(f"seed {s} {v:{fmt}}" for s, v in sorted(r["values"].items()))
        lines.append(f"{head}: {'met' if r['met'] else 'NOT met'} ({seeds}; mean {r['mean']:{fmt}})")
    return lines


__all__ = ["LearningBar", "RULES", "DIRECTIONS", "load_bars", "check_bars", "bars_met", "bar_lines"]
