"""Sphinx extension: number a chapter's figures after the chapter, "Figure 5.3", so a verdict can cite them.

The chapters carry their numbers in their titles ("# 5. Diffusability ...") rather than through a numbered
toctree (jupyter-book restarts a numbered toctree at every part, and would number the sections again). Sphinx's
``numfig`` then counts figures per page: 1, 2, 3. After Sphinx has assigned those numbers, this prefixes them
with the number that opens the page's title, so the caption reads "Figure 5.3" and ``{numref}`` gives the same.
Pages whose title has no number (the introduction, the reference pages) keep plain numbers.

Loaded by ``_config.yml`` (``sphinx.local_extensions``).
"""
from __future__ import annotations

import re

_CHAPTER = re.compile(r"^\s*(\d+)\.\s")


def chapter_number(title: str) -> int | None:
    """The number a chapter title opens with ("5. Diffusability" -> 5), or None."""
    m = _CHAPTER.match(title)
    return int(m.group(1)) if m else None


def prefix_figure_numbers(app, env) -> list[str]:
    """After Sphinx's own numbering (env-get-updated, priority 500): (n,) -> (chapter, n) on numbered pages."""
    for docname, by_type in env.toc_fignumbers.items():
        title = env.titles.get(docname)
        chapter = chapter_number(title.astext()) if title is not None else None
        if chapter is None:
            continue
        for numbers in by_type.values():
            for fig_id, n in numbers.items():
                if len(n) == 1:
                    numbers[fig_id] = (chapter, *n)
    return []


def setup(app):
    app.connect("env-get-updated", prefix_figure_numbers, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
