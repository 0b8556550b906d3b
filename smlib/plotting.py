"""The book's figure style: figures drawn at the width of the page's text column, read at that size.

A figure drawn 1,750 px wide and shown in a 700 px column has its legends shrunk to a few pixels, so every chapter
draws through these helpers instead of choosing a ``figsize`` per cell:

* :func:`use_book_style` sets fonts of at least :data:`MIN_FONT_PT` points and, inside a notebook, retina PNG
  output (twice the pixels, shown at the drawn size);
* :func:`subplots` makes a figure exactly :data:`COLUMN_WIDTH_IN` wide with at most two panels per row;
  :func:`image_grid` does the same for a grid of small images (samples, reconstructions), where a panel is a
  picture, not a plot;
* :func:`log_ticks` labels a log axis with a few readable major ticks and no minor labels, which matplotlib
  otherwise prints side by side ("3x10^-2 4x10^-2") when an axis spans about a decade.

    from smlib import plotting
    plotting.use_book_style()
    fig, (a, b) = plotting.subplots(1, 2)
    a.loglog(f, psd, label="CIFAR-10")
    plotting.log_ticks(a)
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib import ticker

#: width of the book's text column, in inches at :data:`DPI` (sphinx-book-theme shows ~700-770 CSS px of text)
COLUMN_WIDTH_IN = 7.0
#: dots per inch of a figure as shown: COLUMN_WIDTH_IN * DPI CSS pixels
DPI = 100
#: the smallest font the book draws, in points (tick labels and legends included)
MIN_FONT_PT = 9.0
#: at most this many plot panels side by side
MAX_PANELS_PER_ROW = 2
#: height of one row of panels, in inches, for one panel / two panels in the row
ROW_HEIGHT_IN = {1: 3.6, 2: 3.0}

STYLE = {
    "figure.dpi": DPI,
    "savefig.dpi": 2 * DPI,
    "figure.figsize": (COLUMN_WIDTH_IN, ROW_HEIGHT_IN[1]),
    "figure.constrained_layout.use": True,
    "font.size": 10.0,
    "axes.titlesize": 10.0,
    "axes.labelsize": 10.0,
    "xtick.labelsize": MIN_FONT_PT,
    "ytick.labelsize": MIN_FONT_PT,
    "legend.fontsize": MIN_FONT_PT,
    "legend.title_fontsize": MIN_FONT_PT,
    "figure.titlesize": 11.0,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "lines.linewidth": 1.6,
    "legend.framealpha": 0.85,
}


def use_book_style(retina: bool = True) -> None:
    """Apply :data:`STYLE` to matplotlib; inside IPython also switch the inline backend to retina PNG (the
    committed notebooks keep ``image/png`` outputs, which the book's tests look for)."""
    mpl.rcParams.update(STYLE)
    if not retina:
        return
    try:
        from IPython import get_ipython
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:      # plain Python: nothing to configure
        return
    if get_ipython() is not None:
        set_matplotlib_formats("retina")


def subplots(nrows: int = 1, ncols: int = 1, *, height: float | None = None, **kwargs):
    """``plt.subplots`` at the column's width: (fig, axes). ``height``: inches per row (default by panels per
    row, :data:`ROW_HEIGHT_IN`). More than :data:`MAX_PANELS_PER_ROW` panels in a row is refused: at the column's
    width each would be too narrow to read; stack them in rows instead."""
    if not 1 <= ncols <= MAX_PANELS_PER_ROW:
        raise ValueError(f"{ncols} panels per row: the book draws at most {MAX_PANELS_PER_ROW}; use more rows "
                         f"(nrows={math.ceil(ncols / MAX_PANELS_PER_ROW) * nrows}, ncols=2).")
    if nrows < 1:
        raise ValueError(f"nrows={nrows}: need at least one row.")
    row = ROW_HEIGHT_IN[ncols] if height is None else float(height)
    return plt.subplots(nrows, ncols, figsize=(COLUMN_WIDTH_IN, row * nrows), **kwargs)


def image_grid(nrows: int, ncols: int, *, width: float = COLUMN_WIDTH_IN, aspect: float = 1.0,
               label_space: float = 0.3):
    """A grid of small images at the column's width, axes off: (fig, axes of shape (nrows, ncols)).
    ``aspect``: image height / width; ``label_space``: inches per row kept for a title above each image."""
    if nrows < 1 or ncols < 1:
        raise ValueError(f"an image grid needs at least one row and column, got {nrows} x {ncols}.")
    if width > COLUMN_WIDTH_IN:
        raise ValueError(f"width {width} in is wider than the column ({COLUMN_WIDTH_IN} in).")
    cell = width / ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, nrows * (cell * aspect + label_space)), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    return fig, axes


def image_rows(rows: Mapping[str, np.ndarray], ncols: int = 8):
    """One titled row of images per entry of ``rows`` (title -> (N, C, H, W) images, the first ``ncols`` drawn):
    uint8 colour (C = 3) or grey (C = 1), or floats in [-1, 1] drawn grey. Returns (fig, axes)."""
    fig, axes = image_grid(len(rows), ncols, label_space=0.35)
    for (title, images), ax_row in zip(rows.items(), axes):
        for ax, img in zip(ax_row, np.asarray(images)[:ncols]):
            if img.shape[0] == 3:
                ax.imshow(img.transpose(1, 2, 0))
            else:
                ax.imshow(img[0], cmap="gray", **({"vmin": 0, "vmax": 255} if img.dtype == np.uint8
                                                   else {"vmin": -1, "vmax": 1}))
        ax_row[0].set_title(title, loc="left", fontsize=9)
    return fig, axes


def seed_curves(ax, steps, mean, per_seed=(), *, color: str, label: str | None = None) -> None:
    """A curve's mean over seeds (thick, with markers, labelled) and each seed's own (thin) on ``ax``."""
    ax.plot(steps, mean, "o-", color=color, lw=2, ms=4, label=label)
    for run_curve in per_seed:
        ax.plot(steps, run_curve, color=color, lw=0.6, alpha=0.5)


def _plain(value: float, _pos=None) -> str:
    """A tick label as a plain number (0.03, 0.5, 20), in scientific notation only outside [1e-3, 1e4]."""
    if value == 0 or not math.isfinite(value):
        return ""
    if 1e-3 <= abs(value) < 1e4:
        return f"{value:g}"
    exponent = math.floor(math.log10(abs(value)))
    mantissa = value / 10 ** exponent
    return f"$10^{{{exponent}}}$" if abs(mantissa - 1) < 1e-9 else f"${mantissa:g}\\times10^{{{exponent}}}$"


def log_ticks(ax, axis: str = "both", max_labels: int = 6) -> None:
    """Readable ticks on the log-scaled axes of ``ax`` (call after plotting, once the limits are known).

    Minor ticks stay as marks without labels. An axis spanning fewer than two decades gets majors at 1, 2 and 5
    times each power of ten (so it has several labels, not one or none); a wider axis gets powers of ten, at most
    ``max_labels`` of them. Labels are plain numbers (0.03 rather than 3x10^-2) between 1e-3 and 1e4."""
    if axis not in ("x", "y", "both"):
        raise ValueError(f"axis={axis!r}: use 'x', 'y' or 'both'.")
    for name in ("x", "y") if axis == "both" else (axis,):
        scale = ax.get_xscale() if name == "x" else ax.get_yscale()
        if scale != "log":
            continue
        target = ax.xaxis if name == "x" else ax.yaxis
        lo, hi = sorted(ax.get_xlim() if name == "x" else ax.get_ylim())
        decades = math.log10(hi / lo) if lo > 0 else math.inf
        subs = (1.0, 2.0, 5.0) if decades < 2 else (1.0,)
        target.set_major_locator(ticker.LogLocator(base=10, subs=subs, numticks=max_labels + 2))
        target.set_major_formatter(ticker.FuncFormatter(_plain))
        target.set_minor_locator(ticker.LogLocator(base=10, subs=tuple(range(2, 10)), numticks=12))
        target.set_minor_formatter(ticker.NullFormatter())


def shared_legend(fig, axes, ncol: int = 3, **kwargs) -> None:
    """One legend under the figure for the labelled lines of all ``axes``, each label once (first handle wins), so
    panels that draw different subsets of the arms share one key."""
    handles, labels = [], []
    for ax in np.ravel(axes):
        for handle, label in zip(*ax.get_legend_handles_labels()):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    fig.legend(handles, labels, loc="outside lower center", ncol=ncol, **kwargs)


__all__ = ["COLUMN_WIDTH_IN", "DPI", "MIN_FONT_PT", "MAX_PANELS_PER_ROW", "ROW_HEIGHT_IN", "STYLE",
           "use_book_style", "subplots", "image_grid", "image_rows", "seed_curves", "log_ticks", "shared_legend"]
