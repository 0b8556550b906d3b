"""What chapters show their reader: facts one per line within the column, and library source read from its file."""
import inspect

import pytest

from smlib import book
from smlib.spectral import power


def test_facts_are_one_per_line_and_never_wider_than_the_column(capsys):
    long = "the trained denoiser meets the bar (>= 90% of cells within x1.5): True (93%) " * 2
    book.facts("short fact: True", ("pair", 1.5), {"a": 1, "b": False}, long.strip())
    out = capsys.readouterr().out.splitlines()
    assert out[:4] == ["short fact: True", "pair: 1.5", "a: 1", "b: False"]
    assert len(out) > 5                                             # the long fact wrapped
    assert all(len(line) <= book.FACT_WIDTH for line in out)
    assert all(line.startswith(book.INDENT) for line in out[5:])   # continuation lines are indented
    assert " ".join(w.strip() for w in out[4:]).split() == long.split()   # nothing lost or reordered


def test_a_word_longer_than_the_column_is_kept_whole():
    path = "results/autoencoders/small/" + "x" * 90 + ".json"
    assert book.fact_lines(f"file {path}", width=40).splitlines() == ["file", f"{book.INDENT}{path}"]
    with pytest.raises(ValueError, match="at least 20"):
        book.fact_lines("x", width=5)


def test_show_source_quotes_the_file_with_its_line_numbers():
    src = book.show_source(power.spectrum_distribution)
    lines, first = inspect.getsourcelines(power.spectrum_distribution)
    assert src.path == "smlib/spectral/power.py"
    assert (src.first, src.last) == (first, first + len(lines) - 1)
    assert src.code == "".join(lines).rstrip("\n")
    md = src._repr_markdown_()
    assert md.count("```python") == 1 and md.rstrip().endswith("```")
    assert f"lines {first}–{src.last}" in md and "smlib.spectral.power.spectrum_distribution" in md


def test_show_source_can_leave_the_docstring_out_and_keeps_methods_dedented():
    class Probe:
        def method(self, x):
            """A docstring
            over two lines."""
            return x + 1  # the body

    src = book.show_source(Probe.method, docstring=False)
    assert src.code.splitlines() == ["def method(self, x):", "    return x + 1  # the body"]
    assert "docstring" in book.show_source(Probe.method).code


def test_show_source_refuses_what_has_no_python_source():
    with pytest.raises(ValueError, match="no Python source"):
        book.show_source(len)


def test_paste_glues_plain_python_numbers(monkeypatch):
    import myst_nb
    import numpy as np

    glued = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=True: glued.update({name: (value, display)}))
    book.paste("n", np.int64(3))
    book.paste("x", np.float32(0.25))
    book.paste("ok", np.bool_(True))
    book.paste("s", "holds")
    assert glued == {"n": (3, False), "x": (0.25, False), "ok": (True, False), "s": ("holds", False)}
    assert type(glued["n"][0]) is int and type(glued["x"][0]) is float
