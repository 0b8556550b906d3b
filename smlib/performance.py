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


# ------------------------------------------------------------------------------------------------ tables
def esm_rows(record: Mapping) -> list[dict]:
    """One row per shape: speedup of smlib over the authors' call path (one call; their VAE step's two calls) and
    the agreement of losses and z-gradients (relative)."""
    rows = []
    for name, c in record["cases"].items():
        a = c["agreement"]["smlib_vs_authors"]
        rows.append({"shape": name, "authors_ms": 1e3 * c["single"]["authors"]["median_s"],
                     "smlib_ms": 1e3 * c["single"]["smlib"]["median_s"], "single": c["speedup"]["single"],
                     "vae": c["speedup"]["vae"], "loss_rel": a["loss"], "grad_rel": a["grad"]})
    return rows


def inception_rows(record: Mapping, key: str = "input_32px") -> list[dict]:
    """One row per candidate: images/s, speedups over the shipped TorchScript and pytorch-fid, achieved GFLOP/s
    and its share of the float32 matmul rate measured in the same run."""
    r = record[key]
    return [{"candidate": name + (f" ({r['smlib_backend']})" if name == "smlib" else ""),
             "images_per_s": c["images_per_s"], "vs_torchscript": c["speedup_vs_shipped_torchscript"],
             "vs_pytorch_fid": c["speedup_vs_pytorch_fid"], "gflops": c["achieved_gflops"],
             "roofline_share": c["share_of_matmul_roofline"]} for name, c in r["candidates"].items()]


def frechet_rows(record: Mapping) -> list[dict]:
    """One row per case: seconds of pytorch-fid, smlib's exact and fast paths, and the fast path's agreement."""
    rows = []
    for name, c in record["cases"].items():
        t = c["timing"]
        rows.append({"case": name, "pytorch_fid_s": t["pytorch-fid"]["median_s"],
                     "exact_s": t["smlib-exact"]["median_s"], "fast_s": t["smlib-fast"]["median_s"],
                     "fast_speedup": t["smlib-fast"]["speedup_vs_pytorch_fid"],
                     "exact_rel": c["agreement"]["smlib-exact vs pytorch-fid"]["rel"],
                     "fast_rel": c["agreement"]["smlib-fast vs pytorch-fid"]["rel"]})
    return rows


def dit_rows(record: Mapping) -> list[dict]:
    """One row per size and loop: items/s of smlib's DiT and diffusers', their median-time ratio (> 1: smlib
    faster), and the paired ratio's interval and reading (:func:`ratio_reading`) where the record has them."""
    rows = []
    for size, r in record["results"].items():
        for loop in ("training", "sampling"):
            q = r[loop]
            paired = q.get("ratio_paired")
            rows.append({"size": f"{size}: {r['model'].get('name') or r['model'].get('hidden_size')}, "
                                 f"{r['tokens']} tokens", "loop": loop, "smlib": q["smlib_items_per_s"],
                         "diffusers": q["diffusers_items_per_s"], "ratio": q["ratio_smlib_over_diffusers"],
                         "interval": (paired or {}).get("interval"), "reading": ratio_reading(paired),
                         "unit": q["unit"]})
    return rows


def memory_rows(record: Mapping) -> list[dict]:
    """One row per recipe configuration: measured batch(es), and the step's peak and transient memory (MiB) at
    the per-GPU batch (``extrapolated`` from two batches on a CPU at paper size)."""
    rows = []
    for name, e in record["results"].items():
        pg = e.get("per_gpu") or {}
        last = e["measured"][-1]
        rows.append({"config": name, "per_gpu_batch": e["per_gpu_batch"],
                     "measured_at": ", ".join(str(m["batch"]) for m in e["measured"]),
                     "step_peak_mib": (pg.get("step_peak_mib") or {}).get("value"),
                     "step_transient_mib": (pg.get("step_transient_mib") or {}).get("value"),
                     "extrapolated": pg.get("extrapolated"), "error": last.get("error")})
    return rows


def gpu_rows(record: Mapping) -> list[dict]:
    """One row per recipe of a ``gpu-check`` record: images/s per GPU, batch, peak memory, or why not."""
    rows = []
    for name, r in record["recipes"].items():
        rows.append({"recipe": name, "images_per_s": r.get("images_per_s"), "batch": r.get("per_gpu_batch"),
                     "memory_gib": r.get("max_memory_allocated_gib"),
                     "note": r.get("error") or r.get("skipped") or "; ".join(r.get("substitutions", []))})
    return rows


def gpu_stage_lines(record: Mapping) -> list[str]:
    """The stages of a ``gpu-check`` record beyond the recipes, one line each: ``torch.compile`` per probe (speed-up
    or the error), the ``torchrun`` start (world size and seconds per step, or the error) and the benchmarks
    (which ran, which were skipped or failed, and why)."""
    lines = []
    for name, r in record.get("compile", {}).items():
        lines.append(f"compile {name}: " + (f"x{r['speedup']:.2f} after {r['compile_s']} s of compilation"
                                            if "speedup" in r else str(r.get("error") or r.get("skipped"))))
    t = record.get("torchrun", {})
    lines.append(f"torchrun: world {t['world_size']}, {t['sec_per_step']:.3f} s/step, checkpoint written "
                 f"{t.get('checkpoint_written')}" if "world_size" in t else f"torchrun: {t.get('error')}")
    bench = record.get("benchmarks", {})
    if "skipped" in bench and len(bench) == 1:
        lines.append(f"benchmarks: {bench['skipped']}")
    else:
        ran = [n for n, r in bench.items() if "error" not in r and "skipped" not in r]
        lines.append(f"benchmarks run: {', '.join(ran) or 'none'}")
        for n, r in bench.items():
            if n not in ran:
                why = r.get("error") or r.get("skipped")
                lines.append(f"  {n}: {why[-1] if isinstance(why, list) and why else why}")
    return lines


def _one_line(text, limit: int = 110) -> str:
    """The first line of an error (a list's last item), cut to ``limit`` characters: never a traceback."""
    if isinstance(text, (list, tuple)):
        text = text[-1] if text else ""
    line = str(text).strip().splitlines()[0] if str(text).strip() else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _budget(why) -> bool:
    return "time budget" in str(why)


def gpu_status_rows(record: Mapping) -> list[dict]:
    """One row per stage of a ``gpu-check`` record: the stage, what ran, on which GPU, and the result or
    ``failed: <one line>``. Stages the check's time budget did not reach say so once, in their row."""
    gpus = ", ".join(g["name"] for g in record.get("environment", {}).get("gpus", [])) or "no GPU"
    rows = []

    def row(stage, what, result):
        rows.append({"stage": stage, "what": what, "gpu": gpus, "result": result})

    rec = record.get("recipes", {})
    ok = [n for n, r in rec.items() if "sec_per_step" in r]
    bad = [f"{n} failed: {_one_line(r['error'])}" for n, r in rec.items() if "error" in r]
    late = [n for n, r in rec.items() if _budget(r.get("skipped"))]
    row("recipes", f"{len(rec)} recipes at the {record.get('preset')} presets, {record.get('steps_per_probe')} "
                   f"{record.get('precision')} steps",
        "; ".join([f"{len(ok)} of {len(rec)} trained"] + bad + ([f"{len(late)} not reached"] if late else [])))
    parts = []
    for name, r in record.get("compile", {}).items():
        c = r.get("compiled", r)   # records before the FLOP count keep speedup / error at the top
        if "speedup" in c:
            parts.append(f"{name} x{c['speedup']:.2f}")
        elif "error" in c or "error" in r:
            parts.append(f"{name} failed: {_one_line(c.get('error') or r.get('error'))}")
        elif not _budget(r.get("skipped")):
            parts.append(f"{name}: {_one_line(r.get('skipped'))}")
    row("compile", "the same step under torch.compile, eager time over compiled time",
        "; ".join(parts) or "not reached")
    lim = record.get("limits")
    if lim is not None:
        row("limits", f"where {lim.get('probe')}'s step spends its time",
            f"{lim['share_of_peak']:.0%} of the matmul peak; " + "; ".join(lim["reading"][1:3]) if "reading" in lim
            else f"failed: {_one_line(lim['error'])}" if "error" in lim else "not reached")
    peers = record.get("peers")
    if peers is not None:
        row("peers", "peer packages from carried wheels",
            "installed" if peers.get("installed") else f"failed: {_one_line(peers['error'])}" if "error" in peers
            else _one_line(peers.get("skipped")))
    bench = record.get("benchmarks", {})
    ran = [n for n, r in bench.items() if isinstance(r, Mapping) and not ({"error", "skipped"} & set(r))]
    failed = [f"{n} failed: {_one_line(r['error'])}" for n, r in bench.items() if isinstance(r, Mapping) and "error" in r]
    other = [n for n, r in bench.items() if isinstance(r, Mapping) and "skipped" in r and not _budget(r["skipped"])]
    row("benchmarks", "benchmarks/bench_*.py --device cuda --quick",
        "; ".join((["ran: " + ", ".join(ran)] if ran else
                   ["none ran" + (": not reached within the check's time" if any(_budget(r.get("skipped"))
                                  for r in bench.values() if isinstance(r, Mapping)) else "")]) + failed
                  + ([f"skipped (peer missing or CPU-only): {', '.join(other)}"] if other else [])))
    t = record.get("torchrun", {})
    row("torchrun", "two steps of the diffusion recipe under torchrun (DDP)",
        f"world {t['world_size']}, {t['sec_per_step']:.3f} s/step, "
        + ("checkpoint written" if t.get("checkpoint_written") else "no checkpoint") if "world_size" in t
        else f"failed: {_one_line(t.get('error'))}")
    return rows


def gpu_efficiency_rows(record: Mapping) -> list[dict]:
    """One row per recipe whose step was measured alone: FLOPs per step (torch's counter), achieved TFLOP/s and
    share of the matmul peak measured in the same run, eager and compiled, and peak memory (GiB). Empty for a
    record written before gpu-check counted FLOPs."""
    rows = []
    for name, r in record.get("recipes", {}).items():
        step = r.get("step")
        if not step or "eager" not in step:
            continue
        e = step["eager"]
        c = record.get("compile", {}).get(name, {}).get("compiled", {})
        rows.append({"recipe": name, "batch": r.get("per_gpu_batch"), "gflop": step["flops_per_step"] / 1e9,
                     "eager_tflops": e["achieved_tflops"], "eager_share": e["share_of_peak"],
                     "compiled_tflops": c.get("achieved_tflops"), "compiled_share": c.get("share_of_peak"),
                     "memory_gib": c.get("peak_memory_gib", e.get("peak_memory_gib"))})
    return rows


# ------------------------------------------------------------------------------------------------ scaling facts
def esm_scaling_facts(record: Mapping) -> dict:
    """From the ESM scaling sweep: the speedup at each latent side, whether it grows with the side at every step,
    and the side where it is largest."""
    s = record["scaling"]
    q = list(s["speedup"])
    return {"speedup_by_side": dict(zip(s["z_side"], q)), "monotone": all(b >= a for a, b in zip(q, q[1:])),
            "largest_at": s["z_side"][max(range(len(q)), key=q.__getitem__)]}


def step_scaling_facts(record: Mapping) -> dict:
    """From the step-against-tokens sweep: how much a step's time grows per step of the token grid (smlib), and
    smlib's speed relative to diffusers at each token count (> 1: smlib faster)."""
    pts = record["scaling"]["points"]
    growth = [(b["tokens"] / a["tokens"], b["smlib_step_s"] / a["smlib_step_s"]) for a, b in zip(pts, pts[1:])]
    return {"tokens": [p["tokens"] for p in pts], "growth": growth,
            "ratio_by_tokens": {p["tokens"]: p["ratio_smlib_over_diffusers"] for p in pts},
            "paired_by_tokens": {p["tokens"]: p["ratio_paired"] for p in pts if p.get("ratio_paired")}}


def ratio_reading(paired: Mapping | None) -> str:
    """A paired speed ratio read against 1 by its interval: "faster" (above 1), "slower" (below) or "tie" (spans
    1); "unmeasured" without an interval (fewer than two rounds, or a record from before intervals)."""
    interval = (paired or {}).get("interval")
    if not interval:
        return "unmeasured"
    lo, hi = interval
    return "faster" if lo > 1 else "slower" if hi < 1 else "tie"


def fid_scaling_facts(record: Mapping, name: str = "smlib") -> dict:
    """From the FID-N sweep of one candidate: the share of each evaluation spent on Inception features, and how
    the total time grows from the smallest to the largest N."""
    rows = record["fid_vs_n"]["rows"][name]
    return {"n": [r["n"] for r in rows], "feature_share": [r["features_s"] / r["total_s"] for r in rows],
            "time_growth": rows[-1]["total_s"] / rows[0]["total_s"], "n_growth": rows[-1]["n"] / rows[0]["n"]}


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


__all__ = ["load", "speedup", "esm_rows", "inception_rows", "frechet_rows", "dit_rows", "memory_rows", "gpu_rows",
           "gpu_stage_lines", "gpu_status_rows", "gpu_efficiency_rows", "esm_scaling_facts", "step_scaling_facts", "ratio_reading", "fid_scaling_facts", "plot_esm_scaling", "plot_step_vs_tokens",
           "plot_fid_vs_n"]
