"""Run one notebook at a named preset with papermill, outside the book, with provenance.

    python tools/run_notebook.py notebooks/01_spectral_bias.py [--preset small] [-p device cuda -p seed 1]

Writes runs/<notebook>-<preset>[-<tag>].ipynb and a .json beside it with the parameters, command, commit, hardware
and wall time. The default preset is the notebook's own (its parameters cell: ``ci``). Every ``-p NAME VALUE`` is
checked against the notebook's parameters cell before anything runs: an unknown name, or a value of another type
than the default's (a seed that is not a non-negative integer, a preset that is not ci, small or paper), is refused
in one line naming the parameter and the known ones (exit 2).

The run executes in a hidden temporary folder inside the output folder; the notebook and its record are moved into
place together only when every cell ran. A failed run names the failing cell, leaves the last good pair untouched
and keeps its partial notebook as ``<stem>.failed.ipynb`` (exit 1); nothing else is left behind. Papermill cannot
read jupytext .py files, so the notebook is converted first.
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import jupytext
import nbformat
import papermill
from papermill.exceptions import PapermillExecutionError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from smlib.config import PRESET_NAMES  # noqa: E402
from smlib.provenance import provenance  # noqa: E402

USAGE_ERROR, RUN_FAILED = 2, 1
ANY = object()   # a default that is not a literal: any value is accepted


class UsageError(ValueError):
    """A parameter the notebook does not take, or a value of the wrong type; the message is one line."""


def parse_value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def notebook_parameters(nb) -> dict:
    """{name: default} of the notebook's cell tagged ``parameters`` (``ANY`` where the default is not a literal)."""
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    out = {}
    for node in ast.parse(cells[0].source).body if cells else []:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                out[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                out[node.targets[0].id] = ANY
    return out


def _fits(name: str, value, default) -> str | None:
    """What ``name`` takes when ``value`` does not fit it, else None: a seed a non-negative integer, a preset one of
    the named scales, otherwise the type of the notebook's default (None and non-literal defaults take anything)."""
    def is_int(v):
        return isinstance(v, int) and not isinstance(v, bool)

    if name == "seed" or name.endswith("_seed"):
        return None if value is None or (is_int(value) and value >= 0) else "a non-negative integer"
    if name == "seeds" or name.endswith("_seeds"):
        ok = value is None or (isinstance(value, (list, tuple)) and all(is_int(v) and v >= 0 for v in value))
        return None if ok else "a list of non-negative integers, e.g. [0, 1, 2]"
    if name == "preset":
        return None if value in PRESET_NAMES else f"one of {', '.join(PRESET_NAMES)}"
    if default is None or default is ANY:
        return None
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "True or False"
    if is_int(default):
        return None if is_int(value) else "an integer"
    if isinstance(default, float):
        return None if is_int(value) or isinstance(value, float) else "a number"
    if isinstance(default, (list, tuple)):
        return None if isinstance(value, (list, tuple)) else "a list, e.g. [0, 1]"
    return None if isinstance(value, type(default)) else f"a {type(default).__name__}"


def check_parameters(notebook: Path, given: dict, defaults: dict) -> None:
    """Refuse, in one line, a parameter the notebook does not declare or a value that does not fit its default."""
    known = ", ".join(defaults) or "none"
    for name, value in given.items():
        if name not in defaults:
            raise UsageError(f"{notebook} has no parameter {name!r}; its parameters are: {known}.")
        need = _fits(name, value, defaults[name])
        if need:
            raise UsageError(f"-p {name} {value!r}: {name} takes {need} (the notebook's default is "
                             f"{defaults[name]!r}); its parameters are: {known}.")


def failed_cell(nb, err: PapermillExecutionError) -> str:
    """Which source cell failed, in words: its number among the notebook's cells and its first line."""
    number = next((i + 1 for i, c in enumerate(nb.cells) if c.source.strip() == (err.source or "").strip()), None)
    first = next((ln.strip() for ln in (err.source or "").splitlines() if ln.strip()), "")
    where = f"cell {number} of {len(nb.cells)}" if number else f"In [{err.exec_count}]"
    return f"{where} (`{first[:80]}`)"


def run(notebook: Path, preset: str | None, given: dict, out_dir: Path, tag: str = "") -> int:
    """Check the parameters, execute, and move the notebook and its record into place on success. Returns 0, or
    :data:`RUN_FAILED` after printing which cell failed."""
    nb = jupytext.read(notebook)
    defaults = notebook_parameters(nb)
    if preset is not None:
        given = {"preset": preset, **given}
    check_parameters(notebook, given, defaults)
    preset = given.get("preset", defaults.get("preset", "ci"))
    params = {"preset": preset, **given}
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    stem = f"{notebook.stem}-{preset}" + (f"-{tag}" if tag else "")
    out, record, failed = out_dir / f"{stem}.ipynb", out_dir / f"{stem}.json", out_dir / f"{stem}.failed.ipynb"
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=f".{stem}-") as tmp:
        src, partial, partial_record = Path(tmp) / "src.ipynb", Path(tmp) / out.name, Path(tmp) / record.name
        nbformat.write(nb, src)
        start = time.time()
        try:
            papermill.execute_notebook(str(src), str(partial), parameters=params, kernel_name="python3",
                                       cwd=str(notebook.parent))
        except PapermillExecutionError as err:
            if partial.exists():
                os.replace(partial, failed)
            value = (str(err.evalue).strip().splitlines() or [""])[0]
            print(f"error: {notebook} failed in {failed_cell(nb, err)}: {err.ename}: {value}; the last good {out} and "
                  f"{record.name} are untouched; the failed run is {failed}.", file=sys.stderr)
            return RUN_FAILED
        payload = {"notebook": str(notebook), "parameters": params, "output": str(out),
                   "wall_time_s": round(time.time() - start, 1), **provenance()}
        partial_record.write_text(json.dumps(payload, indent=2))
        os.replace(partial, out)               # the pair moves together, only after every cell ran
        os.replace(partial_record, record)
    failed.unlink(missing_ok=True)
    print(f"wrote {out} in {payload['wall_time_s']} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebook", type=Path)
    ap.add_argument("--preset", default=None, help="default: the notebook's own (ci)")
    ap.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    ap.add_argument("--out-dir", type=Path, default=Path("runs"))
    ap.add_argument("--tag", default="")
    args = ap.parse_args(argv)
    if not args.notebook.is_file():
        print(f"error: no such notebook: {args.notebook} (see notebooks/*.py)", file=sys.stderr)
        return USAGE_ERROR
    # The kernel inherits this environment. MPLBACKEND=Agg (set by CI and many shells) would override the inline
    # backend, and every figure would silently vanish from the executed notebook.
    os.environ.pop("MPLBACKEND", None)
    try:
        return run(args.notebook, args.preset, {k: parse_value(v) for k, v in args.param}, args.out_dir, args.tag)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return USAGE_ERROR


if __name__ == "__main__":
    sys.exit(main())
