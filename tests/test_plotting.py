"""The book's figure style: column-wide figures, fonts of at least 9 pt, log axes whose labels do not collide."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.font_manager import FontProperties  # noqa: E402

from smlib import plotting  # noqa: E402


@pytest.fixture(autouse=True)
def _style():
    with matplotlib.rc_context():
        plotting.use_book_style(retina=False)
        yield
    plt.close("all")


def _labels(fig, axis):
    """(visible major tick labels with their pixel boxes, visible minor tick label texts) of one axis."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    lo, hi = sorted(axis.get_view_interval())
    lo, hi = lo * (1 - 1e-9), hi * (1 + 1e-9)
    major = [(t.get_text(), t.get_window_extent(renderer)) for t, loc in
             zip(axis.get_ticklabels(which="major"), axis.get_majorticklocs()) if t.get_text() and lo <= loc <= hi]
    minor = [t.get_text() for t, loc in zip(axis.get_ticklabels(which="minor"), axis.get_minorticklocs())
             if t.get_text() and lo <= loc <= hi]
    return major, minor


def _overlapping(boxes):
    return [(a[0], b[0]) for i, a in enumerate(boxes) for b in boxes[i + 1:] if a[1].overlaps(b[1])]


def test_every_font_the_style_sets_is_at_least_9_pt():
    keys = [k for k in plotting.STYLE if k.endswith(("size", "fontsize")) and k != "figure.figsize"]
    assert keys
    for k in keys + ["legend.fontsize", "xtick.labelsize", "ytick.labelsize"]:
        size = FontProperties(size=matplotlib.rcParams[k]).get_size_in_points()
        assert size >= plotting.MIN_FONT_PT, f"{k} = {size} pt"


def test_subplots_are_the_column_wide_and_refuse_three_panels_per_row():
    fig, axes = plotting.subplots(2, 2)
    assert fig.get_figwidth() == pytest.approx(plotting.COLUMN_WIDTH_IN)
    assert fig.get_figwidth() * fig.dpi == pytest.approx(plotting.COLUMN_WIDTH_IN * plotting.DPI)
    assert axes.shape == (2, 2)
    with pytest.raises(ValueError, match="at most 2"):
        plotting.subplots(1, 3)


def test_image_grid_stays_inside_the_column():
    fig, axes = plotting.image_grid(2, 6)
    assert axes.shape == (2, 6) and fig.get_figwidth() == pytest.approx(plotting.COLUMN_WIDTH_IN)
    assert not any(ax.axison for ax in axes.flat)
    with pytest.raises(ValueError, match="wider than the column"):
        plotting.image_grid(1, 4, width=plotting.COLUMN_WIDTH_IN + 1)


def test_a_log_axis_over_about_a_decade_gets_readable_labels_and_no_minor_ones():
    f = np.linspace(1 / 32, 0.5, 16)
    fig, ax = plotting.subplots()
    ax.loglog(f, f ** -2.0)
    # the problem the helper exists for: matplotlib's default labels minor ticks on a short log axis
    _, default_minor = _labels(fig, ax.xaxis)
    assert default_minor, "matplotlib no longer labels minor ticks here; the helper may be unneeded"
    plotting.log_ticks(ax)
    major, minor = _labels(fig, ax.xaxis)
    assert minor == []
    assert len(major) >= 3, [m[0] for m in major]
    assert not _overlapping(major)
    assert all("10^" not in text for text, _ in major), [m[0] for m in major]   # 0.05, not 5x10^-2


def test_a_wide_log_axis_gets_at_most_the_asked_number_of_labels():
    x = np.geomspace(1e-6, 1e6, 50)
    fig, ax = plotting.subplots()
    ax.loglog(x, x)
    plotting.log_ticks(ax, max_labels=6)
    for axis in (ax.xaxis, ax.yaxis):
        major, minor = _labels(fig, axis)
        assert 2 <= len(major) <= 7 and minor == [] and not _overlapping(major)


def test_log_ticks_leaves_linear_axes_alone_and_names_a_bad_axis():
    fig, ax = plotting.subplots()
    ax.semilogx([0.1, 1, 10], [1, 2, 3])
    before = ax.yaxis.get_major_locator()
    plotting.log_ticks(ax)
    assert ax.yaxis.get_major_locator() is before
    with pytest.raises(ValueError, match="'x', 'y' or 'both'"):
        plotting.log_ticks(ax, axis="z")


def test_shared_legend_lists_each_label_once_in_first_seen_order():
    fig, axes = plotting.subplots(1, 2, layout="constrained")
    axes[0].plot([0, 1], label="sd-vae")
    axes[0].plot([0, 1], label="esm")
    axes[1].plot([0, 1], label="esm")
    axes[1].plot([0, 1], label="dsm")
    axes[1].plot([0, 1])                       # unlabelled: not in the key
    plotting.shared_legend(fig, axes)
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["sd-vae", "esm", "dsm"]


def test_image_rows_draws_colour_and_grey_rows_with_titles():
    colour = np.zeros((8, 3, 4, 4), dtype=np.uint8)
    colour[:, 0] = 255                                           # red
    grey = np.linspace(-1, 1, 8 * 16, dtype=np.float32).reshape(8, 1, 4, 4)
    fig, axes = plotting.image_rows({"red": colour, "ramp": grey}, ncols=4)
    assert axes.shape == (2, 4) and axes[0, 0].get_title(loc="left") == "red"
    assert axes[0, 0].images[0].get_array().shape == (4, 4, 3)
    ramp = axes[1, 0].images[0]
    assert ramp.get_array().shape == (4, 4) and ramp.get_clim() == (-1, 1)
    assert len(axes[1, 3].images) == 1 and axes[1, 3].get_title(loc="left") == ""
    plt.close(fig)


def test_seed_curves_draws_the_mean_labelled_and_each_seed_thin():
    fig, ax = plotting.subplots()
    plotting.seed_curves(ax, [1, 2], [3.0, 2.0], [[3.5, 2.5], [2.5, 1.5]], color="C1", label="arm")
    mean, *seeds = ax.get_lines()
    assert mean.get_label() == "arm" and mean.get_linewidth() > seeds[0].get_linewidth()
    assert [list(line.get_ydata()) for line in seeds] == [[3.5, 2.5], [2.5, 1.5]]
    plt.close(fig)
