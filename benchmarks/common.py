"""Shared helpers for the benchmarks: interleaved timing (so that drift of a shared machine hits every
candidate alike) and a results file with provenance. Every benchmark reports ratios measured in one run."""
from __future__ import annotations

import statistics
import time
from pathlib import Path

from smlib.train import write_json
from smlib.provenance import REPO_ROOT, provenance

RESULTS = REPO_ROOT / "results" / "benchmarks"


def interleaved_times(candidates: dict, rounds: int = 7, repeats: int = 3, warmup: int = 2) -> dict[str, list[float]]:
    """Seconds per call of each ``candidates[name]()``, measured in rounds that visit every candidate in turn.

    Each round times ``repeats`` consecutive calls of each candidate and records the mean; the result holds one
    number per round and candidate, so the median over rounds resists a busy neighbour on the machine.
    """
    for fn in candidates.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, fn in candidates.items():
            t0 = time.perf_counter()
            for _ in range(repeats):
                fn()
            times[name].append((time.perf_counter() - t0) / repeats)
    return times


def ratio_table(times: dict[str, list[float]], baseline: str) -> dict[str, dict]:
    """Median seconds per call and the median of per-round ratios to ``baseline`` (same round, same conditions)."""
    base = times[baseline]
    return {name: {"median_s": statistics.median(ts),
                   "ratio_to_" + baseline: statistics.median(t / b for t, b in zip(ts, base))}
            for name, ts in times.items()}


def write_result(name: str, payload: dict) -> Path:
    """results/benchmarks/<name>.json with the payload and provenance (atomic)."""
    return write_json(RESULTS / f"{name}.json", {**payload, "provenance": provenance()})
