"""Sphinx extension: number a chapter's figures after the chapter, "Figure 5.3", so a verdict can cite them.

The chapters carry their numbers in their titles ("# 5. Diffusability ...") rather than through a numbered
toctree (jupyter-book restarts a numbered toctree at every part, and would number the sections again). Sphinx's
``numfig`` then counts figures through the whole book: 1 to 5 in chapter 1, 6 in chapter 2, ... After Sphinx has
assigned those numbers, this restarts them on every page and prefixes them with the number that opens the page's
title, so the caption reads "Figure 5.3" and ``{numref}`` gives the same.
Pages whose title has no number (the introduction, the reference pages) get plain numbers from 1.

Loaded by ``_config.yml`` (``sphinx.local_extensions``).
"""
from __future__ import annotations

import re

_CHAPTER = re.compile(r"^\s*(\d+[a-z]?)\.\s")


def chapter_number(title: str) -> int | str | None:
    """The number a chapter title opens with ("5. Diffusability" -> 5, "5b. Intervention" -> "5b"), or None."""
    m = _CHAPTER.match(title)
    if not m:
        return None
    return int(m.group(1)) if m.group(1).isdigit() else m.group(1)


def prefix_figure_numbers(app, env) -> list[str]:
    """After Sphinx's own numbering (env-get-updated, priority 500). Without section numbers Sphinx counts each
    kind of figure across the whole book (chapter 3's first figure would be "Figure 7"), so every page restarts at
    1, in Sphinx's order, and a page whose title opens with a chapter number gets it in front: (chapter, n)."""
    for docname, by_type in env.toc_fignumbers.items():
        title = env.titles.get(docname)
        chapter = chapter_number(title.astext()) if title is not None else None
        for numbers in by_type.values():
            if any(len(n) != 1 for n in numbers.values()):
                continue        # already numbered by a numbered toctree: leave it
            ordered = sorted(numbers, key=lambda fig_id: numbers[fig_id])
            for i, fig_id in enumerate(ordered, start=1):
                numbers[fig_id] = (i,) if chapter is None else (chapter, i)
    return []


def setup(app):
    app.connect("env-get-updated", prefix_figure_numbers, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
