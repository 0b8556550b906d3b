"""Every notebook source (.py) has a committed, executed .ipynb that matches it cell for cell."""
from pathlib import Path

import jupytext
import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SOURCES = sorted(NOTEBOOKS.glob("[0-9]*.py"))
REQUIRED_PARAMETERS = ("preset", "dataset", "data_root", "device", "seed")


def refresh_command(py: Path) -> str:
    """The one command that re-executes this notebook and rewrites its .ipynb (``make notebooks`` re-runs all)."""
    return f"python tools/refresh_notebooks.py notebooks/{py.name}"


def cells(nb):
    return [(c.cell_type, c.source.strip(), sorted(c.metadata.get("tags", []))) for c in nb.cells]


def test_there_are_notebooks():
    assert SOURCES, "no notebooks/NN_name.py found"


@pytest.mark.parametrize("py", SOURCES, ids=lambda p: p.stem)
def test_ipynb_is_fresh_and_executed(py):
    ipynb = py.with_suffix(".ipynb")
    assert ipynb.exists(), f"{ipynb.name} is missing: run `{refresh_command(py)}`"
    src, built = jupytext.read(py), nbformat.read(ipynb, as_version=4)
    assert cells(src) == cells(built), f"{ipynb.name} is stale against {py.name}: run `{refresh_command(py)}`"
    assert built.metadata["kernelspec"]["name"] == "python3"
    code = [c for c in built.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") is not None for c in code), \
        f"{ipynb.name} has unexecuted cells: run `{refresh_command(py)}`"
    assert not any(o.get("output_type") == "error" for c in code for o in c.get("outputs", []))


@pytest.mark.parametrize("py", SOURCES, ids=lambda p: p.stem)
def test_notebook_anatomy(py):
    nb = jupytext.read(py)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", f"{py.name}: header must set kernelspec python3"
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, f"{py.name}: needs exactly one cell tagged 'parameters'"
    for name in REQUIRED_PARAMETERS:
        assert f"{name} =" in params[0].source, f"{py.name}: parameters cell lacks `{name}`"
    checks = [c for c in nb.cells if "nbval-check-output" in c.metadata.get("tags", [])]
    assert checks, f"{py.name}: no check cell tagged 'nbval-check-output'"


@pytest.mark.parametrize("py", SOURCES, ids=lambda p: p.stem)
def test_committed_notebook_keeps_its_figures(py):
    # a kernel started under MPLBACKEND=Agg executes every plotting cell without error and without a figure
    built = nbformat.read(py.with_suffix(".ipynb"), as_version=4)
    plotting = [c for c in built.cells if c.cell_type == "code" and "plt.show()" in c.source]
    with_png = [c for c in plotting if any("image/png" in o.get("data", {}) for o in c.get("outputs", []))]
    assert len(with_png) == len(plotting), (f"{py.stem}.ipynb: {len(plotting) - len(with_png)} plotting cells have no "
                                            f"figure; run `{refresh_command(py)}`")


def smlib_references(source: str) -> list[tuple[str, str]]:
    """Every (module, name) a notebook takes from smlib: ``from smlib.m import name`` and ``alias.name`` where
    ``alias`` is an smlib module it imported (``from smlib import book``, ``from smlib.experiments import x as lab``,
    ``import smlib.y as y``)."""
    import ast
    tree, aliases, refs = ast.parse(source), {}, []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("smlib"):
            for a in node.names:
                refs.append((node.module, a.name))
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
        elif isinstance(node, ast.Import):
            aliases.update({a.asname: a.name for a in node.names if a.name.startswith("smlib.") and a.asname})
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            refs.append((aliases[node.value.id], node.attr))
    return refs


@pytest.mark.parametrize("py", SOURCES, ids=lambda p: p.stem)
def test_notebook_names_exist_in_smlib(py):
    # a renamed or moved library function fails here in a second, not after the notebook's minutes under nbval
    import importlib
    missing = []
    for module, name in smlib_references(py.read_text()):
        try:
            target = importlib.import_module(module)
        except ImportError:
            continue                                   # `alias.attr` on an imported class or function, not a module
        if not hasattr(target, name):
            try:
                importlib.import_module(f"{module}.{name}")
            except ImportError:
                missing.append(f"{module}.{name}")
    assert not missing, f"{py.name} uses names smlib does not have: {sorted(set(missing))}"


def test_reference_finder_sees_module_aliases():
    src = ("from smlib.experiments import autoencoders as lab\nfrom smlib.sweep import Metric\n"
           "lab.pooled_agreement(1)\nMetric.x\n")
    refs = smlib_references(src)
    assert ("smlib.experiments.autoencoders", "pooled_agreement") in refs and ("smlib.sweep", "Metric") in refs
    assert ("smlib.sweep.Metric", "x") in refs     # resolved later only if smlib.sweep.Metric is a module
