"""Run one notebook at a named preset with papermill, outside the book, with provenance.

    python tools/run_notebook.py notebooks/01_spectral_bias.py --preset small [-p device cuda -p seed 1]

Writes runs/<notebook>-<preset>[-<tag>].ipynb and a .json beside it with the command, commit, hardware and wall
time. Papermill cannot read jupytext .py files, so the notebook is converted in memory first.
"""
from __future__ import annotations

import argparse
import ast
import json
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from smlib.provenance import provenance  # noqa: E402


def parse_value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebook", type=Path)
    ap.add_argument("--preset", default="small")
    ap.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    ap.add_argument("--out-dir", type=Path, default=Path("runs"))
    ap.add_argument("--tag", default="")
    args = ap.parse_args()
    if not args.notebook.exists():
        sys.exit(f"no such notebook: {args.notebook} (see notebooks/*.py)")
    params = {"preset": args.preset, **{k: parse_value(v) for k, v in args.param}}
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{args.notebook.stem}-{args.preset}" + (f"-{args.tag}" if args.tag else "")
    src, out = args.out_dir / f"{stem}.src.ipynb", args.out_dir / f"{stem}.ipynb"
    nb = jupytext.read(args.notebook)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, src)
    start = time.time()
    papermill.execute_notebook(str(src), str(out), parameters=params, kernel_name="python3",
                               cwd=str(args.notebook.parent))
    src.unlink()
    record = {"notebook": str(args.notebook), "parameters": params, "output": str(out),
              "wall_time_s": round(time.time() - start, 1), **provenance()}
    (args.out_dir / f"{stem}.json").write_text(json.dumps(record, indent=2))
    print(f"wrote {out} in {record['wall_time_s']} s")


if __name__ == "__main__":
    main()
