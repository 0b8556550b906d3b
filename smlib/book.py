"""What a chapter uses to show things to its reader: check facts one per line, and the library's own source.

* :func:`facts` prints the facts of a check cell one per line, each wrapped to :data:`FACT_WIDTH` characters (the
  width of the book's output box), so that no fact runs past the column's edge where a reader cannot see it.
* :func:`show_source` shows the lines that implement a library object, read from the library's source file at
  the moment the notebook runs (``inspect.getsource``), as a highlighted code block: the book quotes the code it
  runs, so the two cannot drift apart.

    from smlib import book
    book.facts(f"identity holds to 1e-12: {err < 1e-12}", {"RMSC raw": 0.412, "RMSC DoG": 0.873})
    book.show_source(smlib.spectral.spectrum_distribution)
"""
from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Mapping
from pathlib import Path

import numpy as np

#: characters of one output line that the book's output box shows without scrolling (monospace, ~700 px)
FACT_WIDTH = 80
#: continuation lines of a wrapped fact are indented by this much
INDENT = "    "


def fact_lines(*items, width: int = FACT_WIDTH) -> str:
    """The text :func:`facts` prints. ``items``: strings (one fact each), ``(label, value)`` pairs, or mappings
    {label: value} (one fact per entry). A fact longer than ``width`` wraps at spaces, continuation lines indented
    by :data:`INDENT`; a single word longer than ``width`` (a path) is kept whole."""
    if width < 20:
        raise ValueError(f"width={width}: a fact needs at least 20 characters per line.")
    lines = []
    for item in items:
        if isinstance(item, Mapping):
            facts_ = [f"{k}: {v}" for k, v in item.items()]
        elif isinstance(item, tuple) and len(item) == 2:
            facts_ = [f"{item[0]}: {item[1]}"]
        else:
            facts_ = [str(item)]
        for fact in facts_:
            for part in fact.splitlines() or [""]:
                lines += textwrap.wrap(part, width, subsequent_indent=INDENT, break_long_words=False,
                                       break_on_hyphens=False) or [""]
    return "\n".join(lines)


def facts(*items, width: int = FACT_WIDTH) -> None:
    """Print check facts one per line, wrapped to the column (see :func:`fact_lines` for what ``items`` may be)."""
    print(fact_lines(*items, width=width))


def paste(name: str, value) -> None:
    """Glue ``value`` for the prose as ``{glue:text}`name``` (myst-nb), as a plain Python int or float so that a
    format spec such as ``:.1f`` applies to a numpy scalar too."""
    from myst_nb import glue

    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        value = int(value)
    elif isinstance(value, (float, np.floating)):
        value = float(value)
    glue(name, value, display=False)


class Source:
    """Lines of a library object's source: shown as a highlighted Python block (``_repr_markdown_``), with the
    file and line numbers it came from; ``str()`` is the code alone."""

    def __init__(self, name: str, path: str, first: int, last: int, code: str):
        self.name, self.path, self.first, self.last, self.code = name, path, first, last, code

    def header(self) -> str:
        return f"{self.name}: {self.path}, lines {self.first}-{self.last}"

    def _repr_markdown_(self) -> str:
        fence = "````" if "```" in self.code else "```"
        return (f"`{self.name}` (`{self.path}`, lines {self.first}–{self.last}):\n\n"
                f"{fence}python\n{self.code}\n{fence}\n")

    def __str__(self) -> str:
        return self.code

    def __repr__(self) -> str:
        return f"{self.header()}\n{self.code}"


def _relative(path: str) -> str:
    """``path`` from the folder that holds the package (``smlib/...``), else as given."""
    p = Path(path).resolve()
    for parent in p.parents:
        if (parent / "__init__.py").is_file():
            continue
        try:
            return p.relative_to(parent).as_posix()
        except ValueError:
            break
    return p.as_posix()


def _without_docstring(code: str) -> str:
    """``code`` (one dedented def or class) without the docstring that opens its body."""
    node = ast.parse(code).body[0]
    first = node.body[0] if getattr(node, "body", None) else None
    if not (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)):
        return code
    lines = code.splitlines()
    return "\n".join(lines[: first.lineno - 1] + lines[first.end_lineno:])


def show_source(obj, *, docstring: bool = True) -> Source:
    """The source of a function, class or method of the library, to display in a notebook (the last expression
    of a cell, or ``display(show_source(...))``). ``docstring=False`` leaves out the docstring that opens its body.
    Raises ValueError for an object without Python source (a builtin, a C extension)."""
    target = inspect.unwrap(obj)
    try:
        lines, first = inspect.getsourcelines(target)
        path = inspect.getsourcefile(target)
    except (OSError, TypeError) as exc:
        raise ValueError(f"no Python source for {obj!r}: pass a function, class or method defined in a .py file "
                         f"({exc}).") from None
    name = f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', getattr(target, '__name__', '?'))}"
    code = textwrap.dedent("".join(lines)).rstrip("\n")
    last = first + len(lines) - 1
    return Source(name, _relative(path), first, last, code if docstring else _without_docstring(code))


__all__ = ["FACT_WIDTH", "INDENT", "fact_lines", "facts", "Source", "show_source"]
