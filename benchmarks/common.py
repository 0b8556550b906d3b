"""Shared helpers for the benchmarks: interleaved timing (so that drift of a shared machine hits every
candidate alike) and a results file with provenance. Every benchmark reports ratios measured in one run."""
from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

# `python benchmarks/bench_x.py` puts benchmarks/ first on the path, not the checkout: without this, `import smlib`
# would find whatever smlib is installed (another checkout) instead of the one beside this file
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from smlib.train import write_json  # noqa: E402
from smlib.provenance import REPO_ROOT, provenance  # noqa: E402

RESULTS = REPO_ROOT / "results" / "benchmarks"


def bench_args(description: str, rounds: int = 30) -> argparse.Namespace:
    """The flags every benchmark takes, so that ``make bench`` and ``python -m smlib gpu-check`` drive them alike.

    ``--device`` (cpu, cuda, ...), ``--rounds`` (medians are over this many interleaved rounds), ``--quick`` (a
    few rounds at the smallest shapes: checks that the benchmark runs, its ratios mean little) and ``--results``
    (where the JSON goes; default ``results/benchmarks/<name>.json``, or ``<name>_<device type>.json`` off CPU).
    """
    p = argparse.ArgumentParser(description=description.strip().splitlines()[0])
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:1, ...")
    p.add_argument("--rounds", type=int, default=rounds, help=f"interleaved rounds (default {rounds})")
    p.add_argument("--quick", action="store_true", help="few rounds, smallest shapes: a smoke run")
    p.add_argument("--results", default=None, help="results JSON (default results/benchmarks/<name>.json)")
    args = p.parse_args()
    if args.quick:
        args.rounds = min(args.rounds, 3)
    return args


def results_path(name: str, args: argparse.Namespace) -> Path:
    """Where a benchmark writes: ``--results`` if given, else results/benchmarks/<name>[_<device type>].json."""
    if args.results:
        return Path(args.results)
    kind = str(args.device).split(":")[0]
    return RESULTS / (f"{name}.json" if kind == "cpu" else f"{name}_{kind}.json")


def interleaved_times(candidates: dict, rounds: int = 7, repeats: int = 3, warmup: int = 2) -> dict[str, list[float]]:
    """Seconds per call of each ``candidates[name]()``, measured in rounds that visit every candidate in turn.

    Each round times ``repeats`` consecutive calls of each candidate and records the mean; the result holds one
    number per round and candidate, so the median over rounds resists a busy neighbour on the machine. Odd rounds
    visit the candidates in reverse order, so that no candidate always runs first (or right after another).
    """
    for fn in candidates.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in candidates}
    order = list(candidates.items())
    for r in range(rounds):
        for name, fn in (order if r % 2 == 0 else order[::-1]):
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


def paired_ratio(times: dict[str, list[float]], baseline: str, name: str, level: float = 0.95) -> dict:
    """How many times faster ``name`` is than ``baseline`` (baseline seconds / name seconds), from rounds paired in
    time: the geometric mean of the per-round ratios and a Student-t interval on their logarithms (the round is the
    unit, so drift of the machine between rounds cancels). {"ratio", "interval" [lo, hi], "level", "rounds"};
    the interval is None with fewer than two rounds."""
    from scipy import stats as st

    logs = [math.log(b / t) for t, b in zip(times[name], times[baseline])]
    n, mean = len(logs), statistics.fmean(logs)
    interval = None
    if n > 1:
        half = st.t.ppf(0.5 + level / 2, n - 1) * statistics.stdev(logs) / math.sqrt(n)
        interval = [math.exp(mean - half), math.exp(mean + half)]
    return {"ratio": math.exp(mean), "interval": interval, "level": level, "rounds": n}


def write_result(name: str, payload: dict, path: str | Path | None = None) -> Path:
    """``path`` (default results/benchmarks/<name>.json) with the payload and provenance (atomic)."""
    return write_json(Path(path) if path is not None else RESULTS / f"{name}.json",
                      {**payload, "provenance": provenance()})
