"""Where runs and results live, and how a result is written, read back and shown with its provenance.

Two folders, both inside the checkout unless a caller names another:

* ``runs/`` (ignored by git): checkpoints, latent and feature caches, one folder per run. Large, rebuildable.
* ``results/<chapter>/`` (committed): small JSON files a chapter prints, each with the :func:`smlib.provenance`
  record of the process that wrote it; sample grids packed as uint8 beside them (``<stem>_grids.json``).

Every path written into a result is repo-relative (:func:`smlib.provenance.recorded_path`; a path outside the checkout
keeps only its last parts), so a committed file names no folder of the machine that produced it; a run folder's own
record names its files relative to the folder. A notebook needs three things from here: :func:`load_result`,
:func:`provenance_lines` (the command, and the commit of *every* run when a table mixes them) and
:func:`html_table`.

    book = load_result("diffusability", "small")        # None if the sweep has not been committed yet
    print(provenance_lines(book, runs=book["runs"]))
    html_table(rows, columns={"variant": "variant", "fid": "gFID"})
"""
from __future__ import annotations

import base64
import html
import json
import math
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from smlib.provenance import REPO_ROOT, describe, recorded_path, repo_relative, resolve_repo_path
from smlib.train.checkpoint import canonical_config, config_diff
from smlib.train.distributed import init_distributed
from smlib.train.logs import write_json

#: default homes of runs (ignored) and committed results
RUNS_ROOT = REPO_ROOT / "runs"
RESULTS_ROOT = REPO_ROOT / "results"


def runs_root(runs_dir: str | os.PathLike | None = None) -> Path:
    """The folder holding run folders and caches: ``runs_dir`` if given, else ``<repo>/runs``."""
    return Path(runs_dir) if runs_dir is not None else RUNS_ROOT


def result_path(chapter: str, name: str, results_dir: str | os.PathLike | None = None) -> Path:
    """``results/<chapter>/<name>.json`` (``results_dir`` replaces ``results/``)."""
    root = Path(results_dir) if results_dir is not None else RESULTS_ROOT
    return root / chapter / f"{name}.json"


def shard_path(chapter: str, preset: str, name: str, results_dir: str | os.PathLike | None = None) -> Path:
    """``results/<chapter>/<preset>/<name>.json``: one run of a sweep, written (and committed) as it finishes."""
    root = Path(results_dir) if results_dir is not None else RESULTS_ROOT
    return root / chapter / preset / f"{name}.json"


def read_shards(chapter: str, preset: str, results_dir: str | os.PathLike | None = None) -> list[dict]:
    """Every run file of a sharded sweep (:func:`shard_path`), in name order; [] when none is committed yet."""
    folder = shard_path(chapter, preset, "x", results_dir).parent
    return [read_result(p) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []


@dataclass(frozen=True)
class RunContext:
    """Where and how the runs of one command execute, the same for every run: the data root, the device (resolved
    once by the caller), the folders of runs and results, the Inception feature extractor (None: the shared
    TF-Inception, built when first needed; tests pass a cheap stand-in), and how far to train in this call."""

    data_root: str | os.PathLike | None = None
    device: str = "cpu"
    runs_dir: str | os.PathLike | None = None
    results_dir: str | os.PathLike | None = None
    features: Any = None
    max_steps_this_call: int | None = None
    progress: bool = False

    @property
    def is_main(self) -> bool:
        """Whether this process writes results (rank 0 under torchrun, always otherwise)."""
        return init_distributed().is_main

    def check_folders(self, results: bool = True) -> None:
        """Before any training: the runs folder (and, with ``results``, the results root) can be created and written;
        otherwise one line naming the folder and the option to change (:func:`check_writable`)."""
        check_writable(runs_root(self.runs_dir), "runs folder (runs_dir, --runs-dir)")
        if results:
            check_writable(Path(self.results_dir) if self.results_dir is not None else RESULTS_ROOT,
                           "results folder (results_dir, --results)")

    def inception(self):
        """The feature extractor runs are scored with: ``features`` when given, else the shared TF-Inception."""
        if self.features is not None:
            return self.features
        from smlib.metrics.inception import shared_inception

        return shared_inception(str(self.device))


def check_writable(folder: str | os.PathLike, what: str = "folder") -> Path:
    """``folder`` as a Path when files can be written there: it exists or can be created (its nearest existing
    ancestor is a folder) and a file can be created in it, tried for real (permission bits do not bind root, a
    read-only mount binds everyone). Nothing is left behind. Otherwise one ValueError naming ``what`` and the path."""
    folder = Path(folder)
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise ValueError(f"the {what} {folder} cannot be created: {probe} is a file; pass another folder.")
    try:
        fd, name = tempfile.mkstemp(dir=probe, prefix=".write-check-")
        os.close(fd)
        os.unlink(name)
    except OSError as e:
        raise ValueError(f"the {what} {folder} is not writable ({e.strerror or e}); pass a folder you can write to."
                         ) from None
    return folder


def mean_curve(runs: Sequence[Mapping], key: str = "eval/fid") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(steps (T,), mean (T,), per-run values (S, T)) of a metric curve (``run["curve"][key]``, [step, value]
    rows) over runs, typically the seeds of one arm, on the steps every run evaluated."""
    curves = [dict(map(tuple, r["curve"][key])) for r in runs if r.get("curve") and r["curve"].get(key)]
    if not curves:
        raise KeyError(f"no {key!r} curve in these runs.")
    steps = sorted(set.intersection(*(set(c) for c in curves)))
    values = np.array([[c[s] for s in steps] for c in curves], dtype=float)
    return np.asarray(steps, dtype=int), values.mean(axis=0), values


def write_result(path: str | os.PathLike, payload: Mapping) -> Path:
    """Write a result file atomically (indented JSON; NaN becomes null). Returns the path."""
    return write_json(path, dict(payload))


def read_result(path: str | os.PathLike) -> dict | None:
    """A result file's content, or None when it does not exist; a file that is not valid JSON (cut short, edited by
    hand) is named in one line."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{repo_relative(path)} is not a readable result file ({e}); restore it from git "
                         "(git checkout -- <file>) or delete it to re-run that run.") from None


def finished_run(folder: str | os.PathLike, identity: Mapping, steps: int) -> dict | None:
    """The ``result.json`` of a run folder when it holds a completed run of this ``identity`` and step count; None
    when there is none or it is unfinished or shorter; a folder holding another recipe is refused in one line."""
    done = read_result(Path(folder) / "result.json")
    if done is None:
        return None
    changed = config_diff(done.get("config", {}), canonical_config(dict(identity)))
    if changed:
        raise ValueError(f"{repo_relative(folder)} holds a run of another configuration (differs in: "
                         f"{', '.join(changed)}); delete it or pass --runs-dir.")
    return done if done.get("completed") and done.get("config_steps") == steps else None


def load_result(chapter: str, name: str, path: str | os.PathLike | None = None) -> dict | None:
    """The committed ``results/<chapter>/<name>.json`` (or ``path``), None when it does not exist yet."""
    return read_result(path if path is not None else result_path(chapter, name))


# --------------------------------------------------------------------------------------------------- grids
def pack_uint8(x: torch.Tensor | np.ndarray) -> dict:
    """Images (N, 3, H, W), uint8 or float in [-1, 1], -> {"shape", "b64"}: raw uint8 bytes in base64, small enough
    to commit example grids in JSON."""
    x = torch.as_tensor(x)
    if x.dtype != torch.uint8:
        x = torch.round((x.clamp(-1, 1) + 1) * 127.5).to(torch.uint8)
    u8 = x.cpu().numpy()
    return {"shape": list(u8.shape), "b64": base64.b64encode(u8.tobytes()).decode()}


def unpack_uint8(packed: Mapping) -> np.ndarray:
    """Inverse of :func:`pack_uint8`: -> (N, 3, H, W) uint8 array."""
    return np.frombuffer(base64.b64decode(packed["b64"]), dtype=np.uint8).reshape(packed["shape"])


def pack_int16(x: torch.Tensor | np.ndarray) -> dict:
    """Waveforms (any shape), int16 or float in [-1, 1], -> {"shape", "b64"}: little-endian int16 PCM in base64, so
    a result can carry a few audio samples that the book plays."""
    x = torch.as_tensor(x)
    if x.dtype != torch.int16:
        x = (x.float().clamp(-1, 1) * 32767).round().to(torch.int16)
    pcm = x.cpu().numpy().astype("<i2")
    return {"shape": list(pcm.shape), "b64": base64.b64encode(pcm.tobytes()).decode()}


def unpack_int16(packed: Mapping) -> np.ndarray:
    """Inverse of :func:`pack_int16`: -> an int16 array of the packed shape."""
    return np.frombuffer(base64.b64decode(packed["b64"]), dtype="<i2").reshape(packed["shape"])


def grids_path(results_file: str | os.PathLike) -> Path:
    """Where the sample grids of a results file live: ``<stem>_grids.json`` beside it."""
    results_file = Path(results_file)
    return results_file.with_name(results_file.stem + "_grids.json")


def write_grids(results_file: str | os.PathLike, grids: Mapping[str, torch.Tensor | np.ndarray]) -> Path:
    """Pack {name: (n, 3, H, W) uint8 images} into :func:`grids_path` of ``results_file``."""
    return write_json(grids_path(results_file), {k: pack_uint8(v) for k, v in grids.items()})


def read_grids(results_file: str | os.PathLike) -> dict[str, np.ndarray]:
    """{name: (n, 3, H, W) uint8} from :func:`grids_path` of ``results_file`` ({} when there is none)."""
    packed = read_result(grids_path(results_file)) or {}
    return {k: unpack_uint8(v) for k, v in packed.items() if v}


# ----------------------------------------------------------------------------------------------- provenance
def relative_paths(record: Mapping, keys: Iterable[str] = ("run_dir", "checkpoint", "grid", "out_dir", "init_run"),
                   ) -> dict:
    """Copy of ``record`` with the path-valued ``keys`` made repo-relative; a path outside the checkout keeps no
    folder of the machine (:func:`smlib.provenance.recorded_path`)."""
    out = dict(record)
    for k in keys:
        if isinstance(out.get(k), str) and out[k]:
            out[k] = recorded_path(out[k])
    return out


def run_commits(runs: Iterable[Mapping], label=lambda r: r.get("variant", "?")) -> list[tuple[str, str, bool | None]]:
    """(label, commit[:12], dirty) of every run that carries a provenance record, in order."""
    out = []
    for r in runs:
        prov = r.get("provenance") or {}
        out.append((str(label(r)), (prov.get("git_commit") or "unknown")[:12], prov.get("git_dirty")))
    return out


def provenance_lines(result: Mapping, runs: Sequence[Mapping] | None = None,
                     label=lambda r: f"{r.get('variant', '?')} seed {r.get('seed', '?')}") -> str:
    """What a reader needs beside a table: the file's own command, commit, hardware and time, then, when ``runs``
    are given, whether they share one clean commit, and if not, every run's commit line by line."""
    text = describe(result.get("provenance", {}))
    if not runs:
        return text
    commits = run_commits(runs, label)
    distinct = {(c, d) for _, c, d in commits}
    if len(distinct) == 1 and not next(iter(distinct))[1]:
        return text + f"\nruns:     all {len(commits)} at commit {commits[0][1]} (no uncommitted changes)"
    lines = [f"runs:     {len(commits)} runs from {len({c for _, c, _ in commits})} commit(s); "
             f"{sum(bool(d) for _, _, d in commits)} with uncommitted changes:"]
    lines += [f"  {name:28s} {c}{' (uncommitted changes)' if d else ''}" for name, c, d in commits]
    return text + "\n" + "\n".join(lines)


# --------------------------------------------------------------------------------------------------- tables
def _cell(value, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}" if abs(value) >= 10 ** -digits or value == 0 else f"{value:.2e}"
    return str(value)


def mean_pm_std(mean: float | None, std: float | None = None, fmt: str = ".1f", scale: float = 1.0) -> str:
    """``"m ± s"`` (``"m"`` without a spread, ``"–"`` without a value), both times ``scale``, in format ``fmt``."""
    if mean is None:
        return "–"
    text = f"{scale * mean:{fmt}}"
    return text + (f" ± {scale * std:{fmt}}" if std is not None else "")


def html_table(rows: Sequence[Mapping], columns: Mapping[str, str] | Sequence[str] | None = None, *,
               digits: int = 2, caption: str | None = None):
    """A table a notebook displays as HTML (wide tables stay readable in the book) and prints as aligned text.

    rows: dicts; columns: {key: header} or keys (default: the keys of the first row). Floats get ``digits``
    decimals. Returns an object with ``_repr_html_`` and a plain-text ``__repr__``."""
    if columns is None:
        columns = list(rows[0]) if rows else []
    if not isinstance(columns, Mapping):
        columns = {c: c for c in columns}
    body = [[_cell(r.get(k), digits) for k in columns] for r in rows]
    return _Table(list(columns.values()), body, caption)


class _Table:
    """Rows of text cells shown as a styled table: in the book (``_static/book.css``) cells are padded, columns of
    numbers right-aligned and never wrapped ("188.7 ± 0.7" stays on one line), and a table wider than the column
    scrolls inside its own box while its caption stays in view above it."""

    #: a cell made only of a number's characters: 188.7 ± 0.7, [0.12, 0.31], 1.2e-05, 93%, 3/3, x1.5, – (missing)
    NUMERIC = re.compile(r"^[\s\d.,;:/%+\-−–±×x\[\]()eE]*$")

    def __init__(self, header: list[str], body: list[list[str]], caption: str | None):
        self.header, self.body, self.caption = header, body, caption

    def numeric_columns(self) -> list[bool]:
        """Whether each column holds numbers (every cell numeric or missing, and at least one digit)."""
        cols = list(zip(*self.body)) if self.body else [() for _ in self.header]
        return [bool(col) and all(self.NUMERIC.match(c) for c in col) and any(ch.isdigit() for c in col for ch in c)
                for col in cols]

    def _repr_html_(self) -> str:
        num = self.numeric_columns()

        def cell(tag: str, text: str, i: int) -> str:
            text = html.escape(text)
            if num[i]:
                return f'<{tag} class="num">{text.replace(" ± ", "&nbsp;±&nbsp;")}</{tag}>'
            return f"<{tag}>{text}</{tag}>"

        cap = f'<figcaption class="sm-table-caption">{html.escape(self.caption)}</figcaption>' if self.caption else ""
        head = "".join(cell("th", h, i) for i, h in enumerate(self.header))
        rows = "".join("<tr>" + "".join(cell("td", c, i) for i, c in enumerate(row)) + "</tr>" for row in self.body)
        return (f'<figure class="sm-table">{cap}<div class="sm-table-scroll" style="overflow-x: auto">'
                f'<table class="sm-table"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div></figure>')

    def __repr__(self) -> str:
        widths = [max(len(h), *(len(r[i]) for r in self.body)) if self.body else len(h)
                  for i, h in enumerate(self.header)]
        fmt = lambda cells: "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731
        lines = ([self.caption] if self.caption else []) + [fmt(self.header)] + [fmt(r) for r in self.body]
        return "\n".join(lines)


__all__ = ["RUNS_ROOT", "RESULTS_ROOT", "runs_root", "result_path", "shard_path", "read_shards", "RunContext",
           "check_writable",
           "finished_run", "mean_curve", "write_result", "read_result", "load_result",
           "pack_uint8", "unpack_uint8", "pack_int16", "unpack_int16", "grids_path", "write_grids", "read_grids",
           "relative_paths", "run_commits",
           "provenance_lines", "mean_pm_std", "html_table", "resolve_repo_path", "repo_relative"]
