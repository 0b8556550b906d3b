"""Regenerate each committed notebooks/NN_name.ipynb from its .py source at the default (CI) parameters.

Order matters (see book/running.md): a *fresh* conversion from the .py (never `jupytext --sync`, which can
restore stale empty tags over new ones), then execution by papermill with kernel python3, written next to the
source. The .py is never modified.

    python tools/refresh_notebooks.py notebooks/01_spectral_bias.py [more.py ...]
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import jupytext
import nbformat
import papermill

# The kernel inherits this environment. MPLBACKEND=Agg (set by CI and many shells) would override the inline
# backend, and every figure would silently vanish from the executed notebook.
os.environ.pop("MPLBACKEND", None)


def refresh(py_path: Path) -> float:
    nb = jupytext.read(py_path)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    out = py_path.with_suffix(".ipynb")
    tmp = out.with_suffix(".tmp.ipynb")
    nbformat.write(nb, tmp)
    start = time.time()
    try:
        papermill.execute_notebook(str(tmp), str(tmp), kernel_name="python3", cwd=str(py_path.parent),
                                   progress_bar=False, log_output=False)
    except Exception:
        print(f"FAILED: {py_path} (partial output kept in {tmp})", file=sys.stderr)
        raise
    tmp.replace(out)  # the committed notebook is replaced only by a complete, successful run
    return time.time() - start


def main(paths: list[str]) -> None:
    if not paths:
        sys.exit("usage: python tools/refresh_notebooks.py notebooks/NN_name.py [...]")
    for p in paths:
        path = Path(p)
        if path.suffix != ".py" or not path.exists():
            sys.exit(f"not a notebook source: {p} (expected an existing notebooks/NN_name.py)")
        print(f"{path}: executing ...", flush=True)
        print(f"{path}: done in {refresh(path):.0f} s -> {path.with_suffix('.ipynb')}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
