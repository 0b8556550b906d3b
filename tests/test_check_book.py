"""The browser check of the built book (tools/check_book.py) fails on what a reader meets broken and passes a clean
page. Tiny HTML pages are written here and opened in the real headless Chromium; no jupyter-book is needed."""
import importlib.util
import os
import sys
from pathlib import Path

import pytest

from smlib.results import html_table

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("check_book", ROOT / "tools" / "check_book.py")
check_book = importlib.util.module_from_spec(spec)
sys.modules["check_book"] = check_book
spec.loader.exec_module(check_book)
spec = importlib.util.spec_from_file_location("sphinx_chapter_numbers", ROOT / "tools" / "sphinx_chapter_numbers.py")
chapter_numbers = importlib.util.module_from_spec(spec)
spec.loader.exec_module(chapter_numbers)

STYLE = (ROOT / "_static" / "book.css").read_text()
# a 1x1 PNG, so that the clean page has an image that loads
PIXEL = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5"
         "ErkJggg==")


def page(body: str) -> str:
    """A page shaped like the book's: a 600 px content column (article.bd-article) and the book's stylesheet."""
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><style>{STYLE}</style></head><body>"
            f"<article class='bd-article' style='width: 600px; padding: 0 20px'><h1>A chapter</h1>{body}"
            f"</article></body></html>")


WIDE_ROWS = [{f"column {i}": f"{100 + i}.0 ± 0.5" for i in range(14)} for _ in range(3)]
PAGES = {
    "clean": page(f"<p>Prose with a number, 3.5, and money, $5 and $10.</p><img src='{PIXEL}' alt='a grey pixel'>"
                  "<pre><code>x = '$not tex$'  # \\frac in code is fine</code></pre>"
                  + html_table(WIDE_ROWS, caption="a wide table in its own scroll box")._repr_html_()
                  + "<div class='cell_output'><div class='output'><pre>one fact per line</pre></div></div>"),
    "wide_table": page("<table><tr>" + "".join(f"<td>{100 + i}.0&nbsp;±&nbsp;0.5</td>" for i in range(14))
                       + "</tr></table>"),
    "raw_tex": page("<p>The loss is $\\frac{1}{2}\\lVert x \\rVert^2$, left as typed.</p>"),
    "broken_image": page("<p>A figure:</p><img src='missing_figure.png' alt='a figure that is not there'>"),
    "hash_alt": page(f"<img src='{PIXEL}' alt='../_images/0bac7a813dde7a9dd138b74c0f7b92de4238efa526fd3e593d5502ce.png'>"),
    "wide_equation": page("<div class='math'><mjx-container display='true' style='display: block'>"
                          "<mjx-math style='display: inline-block; width: 900px'>x</mjx-math></mjx-container></div>"),
    "script_error": page("<script>const A = 1;</script><script>const A = 2;</script><p>two declarations</p>"),
    "cut_output": page("<div class='cell_output'><div class='output'><pre style='overflow: auto'>"
                       + "a fact far too long for the column " * 8 + "</pre></div></div>"),
}


@pytest.fixture(scope="module")
def findings(tmp_path_factory):
    why = check_book.browser_missing()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"the browser check cannot run in CI: {why}")
        pytest.skip(why)
    folder = tmp_path_factory.mktemp("pages")
    for name, html in PAGES.items():
        (folder / f"{name}.html").write_text(html)
    found = check_book.check_book(folder, width=1000)
    return {name: [f for f in found if f.page == f"{name}.html"] for name in PAGES}


def kinds(found):
    return sorted({f.kind for f in found})


def test_a_clean_page_passes(findings):
    assert findings["clean"] == [], [str(f) for f in findings["clean"]]


def test_a_table_wider_than_the_column_fails_and_names_it(findings):
    assert kinds(findings["wide_table"]) == ["table"]
    assert "column 600 px" in findings["wide_table"][0].detail


def test_raw_tex_in_prose_fails(findings):
    assert kinds(findings["raw_tex"]) == ["tex"]
    assert "frac" in findings["raw_tex"][0].detail or "$" in findings["raw_tex"][0].detail


def test_an_image_that_did_not_load_fails(findings):
    assert "image" in kinds(findings["broken_image"])
    assert any("missing_figure.png" in f.detail for f in findings["broken_image"])


def test_an_image_whose_alt_text_is_its_hash_fails(findings):
    assert kinds(findings["hash_alt"]) == ["alt"]


def test_a_display_equation_wider_than_the_column_fails(findings):
    assert kinds(findings["wide_equation"]) == ["equation"]


def test_a_console_error_fails(findings):
    assert kinds(findings["script_error"]) == ["console"]
    assert "already been declared" in findings["script_error"][0].detail


def test_an_output_line_cut_at_the_column_fails(findings):
    assert kinds(findings["cut_output"]) == ["output"]


def test_the_command_line_exits_1_on_findings_and_2_without_a_book(tmp_path, capsys):
    assert check_book.main([str(tmp_path / "nothing")]) == 2
    assert "build the book first" in capsys.readouterr().err


def test_html_table_marks_numbers_and_keeps_the_caption_outside_the_scroll_box():
    t = html_table([{"variant": "esm", "fid": "188.7 ± 0.7", "ci": "[0.12, 0.31]", "note": "x1.5 of 3"}],
                   caption="a caption")
    html = t._repr_html_()
    assert t.numeric_columns() == [False, True, True, False]
    assert '<td class="num">188.7&nbsp;±&nbsp;0.7</td>' in html
    assert html.index("a caption") < html.index("sm-table-scroll") < html.index("<table")


def test_figures_restart_on_every_page_and_carry_the_chapter_number():
    class Title:
        def __init__(self, text):
            self.text = text

        def astext(self):
            return self.text

    class Env:
        titles = {"ch1": Title("1. Why MSE diffusion learns low frequencies first"), "ch2": Title("2. RMS contrast"),
                  "perf": Title("Performance")}
        # what Sphinx assigns without a numbered toctree: one count through the book
        toc_fignumbers = {"ch1": {"figure": {"a": (1,), "b": (2,)}}, "ch2": {"figure": {"c": (4,), "d": (3,)}},
                          "perf": {"figure": {"e": (5,)}}}

    env = Env()
    chapter_numbers.prefix_figure_numbers(None, env)
    assert env.toc_fignumbers["ch1"]["figure"] == {"a": (1, 1), "b": (1, 2)}
    assert env.toc_fignumbers["ch2"]["figure"] == {"d": (2, 1), "c": (2, 2)}
    assert env.toc_fignumbers["perf"]["figure"] == {"e": (1,)}
    assert chapter_numbers.chapter_number("12. Twelve") == 12 and chapter_numbers.chapter_number("1.5 x") is None
    assert chapter_numbers.chapter_number("5b. Spectrum matching under intervention") == "5b"
