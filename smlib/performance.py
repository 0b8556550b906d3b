"""The book's Performance page, as functions of the benchmark records (``results/benchmarks/*.json``).

Every benchmark in ``benchmarks/`` writes one JSON record with its provenance; this module reads them and draws
the three scaling figures (ESM against latent size, a training step against token count, an FID evaluation
against N), so that the page computes what it shows from the committed records and nothing else.
"""
from __future__ import annotations

from collections.abc import Mapping

import matplotlib.ticker

from smlib.results import read_result, result_path

CHAPTER = "benchmarks"


def load(name: str, device: str = "cpu") -> dict | None:
    """The record of ``benchmarks/bench_<name>.py`` (``<name>_<device>.json`` off the CPU), or None if absent."""
    return read_result(result_path(CHAPTER, name if device == "cpu" else f"{name}_{device}"))


def speedup(row: Mapping, baseline: str) -> float:
    """Throughput ratio of a :func:`benchmarks.common.ratio_table` row to ``baseline``: 1 / median time ratio."""
    return 1.0 / row[f"ratio_to_{baseline}"]


def plot_esm_scaling(record: Mapping, ax) -> None:
    """ESM forward + backward (ms) of the authors' call path and of smlib against the latent side, log-log,
    each point labelled with the speedup (authors' time / smlib's)."""
    s = record["scaling"]
    ax.loglog(s["z_side"], s["authors_ms"], "o-", label="authors (torch-dct, conv blur, bicubic)")
    ax.loglog(s["z_side"], s["smlib_ms"], "s-", label="smlib (per-axis matrices)")
    for side, t, q in zip(s["z_side"], s["authors_ms"], s["speedup"]):
        ax.annotate(f"{q:.0f}x" if q >= 10 else f"{q:.1f}x", (side, t), textcoords="offset points",
                    xytext=(0, 6), ha="center", fontsize=8)
    ax.set_xticks(s["z_side"], [f"{z}\n({i} px)" for z, i in zip(s["z_side"], s["image_side"])])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.margins(y=0.15)
    ax.set(xlabel="latent side (image side), f8, 4 latent channels", ylabel="forward + backward (ms)",
           title=f"ESM loss, batch {s['batch']}, {record['threads']} threads, {record['device']}")
    ax.legend(fontsize=8)


def plot_step_vs_tokens(record: Mapping, ax) -> None:
    """Training-step time (ms) of smlib's DiT and diffusers' against the token count T, log-log, with a line
    proportional to T through smlib's first point."""
    sc = record["scaling"]
    tokens = [p["tokens"] for p in sc["points"]]
    for name, style in (("smlib", "o-"), ("diffusers", "s--")):
        ax.plot(tokens, [1e3 * p[f"{name}_step_s"] for p in sc["points"]], style, label=name)
    first = 1e3 * sc["points"][0]["smlib_step_s"]
    ax.plot(tokens, [first * t / tokens[0] for t in tokens], ":", color="gray", label="$\\propto T$")
    ax.set(xscale="log", yscale="log", xlabel="tokens T = (side / patch)$^2$", ylabel="training step (ms)",
           title=f"DiT {sc['model'].get('hidden_size')}x{sc['model'].get('depth')}, batch {sc['batch']}, "
                 f"{record['device']}")
    ax.set_xticks(tokens, [str(t) for t in tokens])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.legend(fontsize=8)


def plot_fid_vs_n(record: Mapping, ax) -> None:
    """Seconds per FID-N evaluation (features + statistics + distance) against N for each candidate, log-log,
    and the statistics + distance part alone."""
    data = record["fid_vs_n"]
    for (name, rows), color in zip(data["rows"].items(), ("C0", "C1")):
        ax.loglog([r["n"] for r in rows], [r["total_s"] for r in rows], "o-", color=color,
                  label=f"{name} ({data['backends'][name]})")
    rows = data["rows"]["smlib"]
    ax.loglog([r["n"] for r in rows], [r["statistics_s"] + r["distance_s"] for r in rows], "s:", color="0.4",
              label="statistics + distance alone")
    ax.set(xlabel="N (images, 32 px)", ylabel="seconds per FID-N evaluation",
           title=f"FID-N ({record['device']}, {record['threads']} threads)")
    ax.legend(fontsize=8)


__all__ = ["load", "speedup", "plot_esm_scaling", "plot_step_vs_tokens", "plot_fid_vs_n"]
