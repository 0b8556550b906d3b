"""Regenerate each committed notebooks/NN_name.ipynb from its .py source at the default (CI) parameters.

Order matters (see book/running.md): a *fresh* conversion from the .py (never `jupytext --sync`, which can
restore stale empty tags over new ones), then execution by papermill with kernel python3. The .py is never modified.
The notebook executes in a hidden temporary folder beside the source (``notebooks/.refresh-*``, which neither git
nor pytest looks into) and replaces the committed .ipynb only when every cell ran; a failed run names the failing
cell, leaves the committed notebook as it was and nothing behind (exit 1).

    python tools/refresh_notebooks.py notebooks/01_spectral_bias.py [more.py ...]
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import jupytext
import nbformat
import papermill
from papermill.exceptions import PapermillExecutionError


class NotebookFailed(RuntimeError):
    """A cell of a notebook raised; the message is one line naming the notebook, the cell and the error."""


def failed_cell(nb, err: PapermillExecutionError) -> str:
    """Which source cell failed, in words: its number among the notebook's cells and its first line."""
    number = next((i + 1 for i, c in enumerate(nb.cells) if c.source.strip() == (err.source or "").strip()), None)
    first = next((ln.strip() for ln in (err.source or "").splitlines() if ln.strip()), "")
    where = f"cell {number} of {len(nb.cells)}" if number else f"In [{err.exec_count}]"
    return f"{where} (`{first[:80]}`)"


def refresh(py_path: Path) -> float:
    """Execute ``py_path`` and replace its .ipynb; returns the wall time in seconds. Raises NotebookFailed."""
    nb = jupytext.read(py_path)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    out = py_path.with_suffix(".ipynb")
    with tempfile.TemporaryDirectory(dir=py_path.parent, prefix=".refresh-") as tmp:
        executed = Path(tmp) / out.name
        nbformat.write(nb, executed)
        start = time.time()
        try:
            papermill.execute_notebook(str(executed), str(executed), kernel_name="python3", cwd=str(py_path.parent),
                                       progress_bar=False, log_output=False)
        except PapermillExecutionError as err:
            value = (str(err.evalue).strip().splitlines() or [""])[0]
            raise NotebookFailed(f"{py_path} failed in {failed_cell(nb, err)}: {err.ename}: {value}; {out.name} is "
                                 "unchanged.") from None
        os.replace(executed, out)  # the committed notebook is replaced only by a complete, successful run
    return time.time() - start


def main(paths: list[str]) -> None:
    if not paths:
        sys.exit("usage: python tools/refresh_notebooks.py notebooks/NN_name.py [...]")
    # The kernel inherits this environment. MPLBACKEND=Agg (set by CI and many shells) would override the inline
    # backend, and every figure would silently vanish from the executed notebook.
    os.environ.pop("MPLBACKEND", None)
    for p in paths:
        path = Path(p)
        if path.suffix != ".py" or not path.exists():
            sys.exit(f"not a notebook source: {p} (expected an existing notebooks/NN_name.py)")
        print(f"{path}: executing ...", flush=True)
        try:
            took = refresh(path)
        except NotebookFailed as e:
            print(f"FAILED: {e}", file=sys.stderr)
            sys.exit(1)
        print(f"{path}: done in {took:.0f} s -> {path.with_suffix('.ipynb')}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
