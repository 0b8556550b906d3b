"""The structure of smlib holds: imports point down the layers, modules stay readable, recipes are named after their
chapters, and notebooks use only public names."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "smlib"

#: bottom to top; a module may import its own layer and any layer below (smlib/__init__.py says the same)
LAYERS = [
    {"device", "atomic", "provenance", "weights", "plotting", "book", "players"},
    {"spectral"},
    {"theory"},
    {"data"},
    {"models"},
    {"regularizers"},
    {"diffusion"},
    {"metrics"},
    {"stats"},
    {"train", "config"},
    {"results", "performance", "learning_curves"},
    {"learning_bar"},
    {"sweep", "verdicts"},
    {"pipelines", "audit", "audio"},
    {"experiments"},
    {"cli", "__main__", "gpu_check", "gpu_sweep", "scorecard"},
]
MAX_LINES = 450
CHAPTERS = {"spectral_bias": "01", "rmsc_identity": "02", "latent_spectra": "03", "autoencoders": "04", "repa": "06",
            "diffusability": "05", "intervention": "05b", "dctdiff": "07", "spectral_regularisation": "08"}


def layer_of(top: str) -> int:
    for i, names in enumerate(LAYERS):
        if top in names:
            return i
    raise AssertionError(f"smlib.{top} is in no layer of tests/test_layers.py: add it where it belongs")


def modules():
    for path in sorted(PKG.rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        yield name.removesuffix(".__init__"), path


def smlib_imports(path: Path, module: str) -> list[str]:
    """Every smlib module imported anywhere in the file (top level or inside functions), absolute names."""
    out = []
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names if a.name.startswith("smlib")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name == "smlib":
                out += [f"smlib.{a.name}" for a in node.names]
            elif name.startswith("smlib"):
                out.append(name)
    return out


def test_every_import_points_down_the_layers():
    bad = []
    for module, path in modules():
        parts = module.split(".")
        if len(parts) < 2:
            continue
        own = layer_of(parts[1])
        for target in smlib_imports(path, module):
            t = target.split(".")
            if len(t) < 2 or t[1] == "__version__" or t[1] == "resolve_device":
                continue
            if layer_of(t[1]) > own:
                bad.append(f"{module} imports {target}")
    assert not bad, "imports that run up the layers:\n" + "\n".join(bad)


def test_no_chapter_imports_another_chapter():
    """What two chapters share lives in a layer below them (smlib.pipelines, smlib.sweep, ...): a chapter package
    imports no other chapter's module, so each can be read, changed and run on its own."""
    bad = []
    for module, path in modules():
        parts = module.split(".")
        if parts[:2] != ["smlib", "experiments"] or len(parts) < 3:
            continue
        for target in smlib_imports(path, module):
            t = target.split(".")
            if t[:2] == ["smlib", "experiments"] and len(t) > 2 and t[2] != parts[2]:
                bad.append(f"{module} imports {target}")
    assert not bad, "chapters importing other chapters:\n" + "\n".join(bad)


def test_no_import_cycle_between_modules():
    graph = {m: set() for m, _ in modules()}
    for module, path in modules():
        for target in smlib_imports(path, module):
            while target not in graph and "." in target:
                target = target.rpartition(".")[0]
            if target in graph and target != module and not module.startswith(target + "."):
                graph[module].add(target)
    # a package importing its own submodules is how a package exports; a submodule importing its package back is
    # the cycle that matters, so drop edges from a package to its children
    for m in graph:
        graph[m] = {t for t in graph[m] if not t.startswith(m + ".")}
    state, stack = {}, []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for t in graph[m]:
            if state.get(t) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(t):] + [t]))
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m)


def test_modules_stay_readable_in_one_sitting():
    long = [f"{p.relative_to(ROOT)}: {n} lines" for _, p in modules()
            if (n := len(p.read_text().splitlines())) > MAX_LINES]
    assert not long, f"modules over {MAX_LINES} lines (split by concept):\n" + "\n".join(long)


def test_every_recipe_is_named_after_its_chapter_and_says_so():
    found = {p.stem if p.suffix == ".py" else p.name for p in (PKG / "experiments").iterdir()
             if not p.name.startswith("__")}
    assert found == set(CHAPTERS), f"recipes {sorted(found)} vs chapters {sorted(CHAPTERS)}"
    for name, number in CHAPTERS.items():
        path = PKG / "experiments" / name
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        first = ast.get_docstring(ast.parse(path.read_text())).splitlines()[0]
        assert f"Chapter {number.lstrip('0')}" in first, f"{path}: first line does not name its chapter: {first!r}"
        assert (ROOT / "notebooks" / f"{number}_{name}.py").is_file(), f"no notebook {number}_{name}.py"


@pytest.mark.parametrize("notebook", sorted((ROOT / "notebooks").glob("[0-9]*.py")), ids=lambda p: p.stem)
def test_notebooks_import_no_private_name(notebook):
    text = notebook.read_text()
    private = re.findall(r"from smlib[\w.]* import [^\n]*\b(_\w+)", text)
    private += re.findall(r"\b(?:lab|diff|report|sb|rx|ls|stats|results)\.(_\w+)", text)
    assert not private, f"{notebook.name} uses private smlib names: {private}"
