"""Training records: ``metrics.csv`` in long format and ``summary.json``.

``metrics.csv`` has the columns ``step,key,value``, one row per (log step, metric). Long rather than wide
because the set of metrics changes during a run (the discriminator's appear at ``aux_start_step``, evaluation
metrics every ``eval_every`` steps): rows are only ever appended, and no header needs rewriting. Wide table:
``pandas.read_csv(p).pivot(index="step", columns="key", values="value")``. ``step`` counts completed optimiser
steps. On resume, rows after the checkpoint's step (written after it, before the crash) are dropped, so the file
reads as one unbroken run.
"""
from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

from smlib.atomic import atomic_path

HEADER = ["step", "key", "value"]


class MetricsLog:
    """Append-only long-format CSV at ``path``; ``truncate_after(step)`` drops rows with a later step."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def truncate_after(self, step: int) -> None:
        """Keep only rows with ``step <= step`` (all rows go when ``step`` is 0: a fresh run)."""
        if not self.path.exists():
            return
        with open(self.path, newline="") as f:
            rows = [r for r in csv.reader(f)][1:]
        keep = [r for r in rows if len(r) == 3 and r[0].isdigit() and int(r[0]) <= step]
        with atomic_path(self.path) as tmp, open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(HEADER)
            w.writerows(keep)

    def write(self, step: int, metrics: dict[str, float]) -> None:
        """Append one row per metric for ``step`` (keys sorted)."""
        new = not self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", newline="") as f:
            w = csv.writer(f)
            if new:
                w.writerow(HEADER)
            for k in sorted(metrics):
                w.writerow([int(step), k, repr(float(metrics[k]))])

    def read(self) -> list[tuple[int, str, float]]:
        """All rows as (step, key, value)."""
        if not self.path.exists():
            return []
        with open(self.path, newline="") as f:
            return [(int(r["step"]), r["key"], float(r["value"])) for r in csv.DictReader(f)]


class WindowMean:
    """Per-key running mean of the logs since the last flush (keys that appear on some steps only, like a
    discriminator's on odd steps, are averaged over the steps where they appear)."""

    def __init__(self):
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def add(self, logs: dict[str, float]) -> None:
        for k, v in logs.items():
            self.sums[k] = self.sums.get(k, 0.0) + float(v)
            self.counts[k] = self.counts.get(k, 0) + 1

    def flush(self) -> dict[str, float]:
        out = {k: self.sums[k] / self.counts[k] for k in self.sums}
        self.sums, self.counts = {}, {}
        return out


def _json_safe(obj):
    """NaN/inf -> strings (JSON has no such numbers); other non-JSON objects -> str."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return str(obj)


def write_json(path: str | os.PathLike, obj: dict) -> Path:
    """Write ``obj`` as indented JSON, atomically (tmp file + ``os.replace``)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_json_safe(obj), indent=2) + "\n")
    return path


def read_metrics(path: str | os.PathLike, keys=None) -> dict[str, list[tuple[int, float]]]:
    """{key: [(step, value), ...]} from a long-format ``metrics.csv`` (only ``keys`` when given; a missing file
    gives empty lists)."""
    out: dict[str, list] = {k: [] for k in keys} if keys is not None else {}
    if not Path(path).is_file():
        return out
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if keys is None or row["key"] in out:
                out.setdefault(row["key"], []).append((int(row["step"]), float(row["value"])))
    return out


__all__ = ["MetricsLog", "WindowMean", "write_json", "read_metrics"]
