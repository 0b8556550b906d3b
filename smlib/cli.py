"""The command line: ``python -m smlib <recipe> [options]``, the same recipes the notebooks call in-process.

    python -m smlib autoencoder --preset small --variant all --results results/autoencoders/small.json
    python -m smlib diffusion --preset small --variant all --seeds 0 1
    python -m smlib dctdiff --preset small --arm all --seeds 0 1 2
    python -m smlib repa --preset small --arm all --seeds 0 1 2
    python -m smlib spectral-reg --preset small --arm all --seeds 0 1 2
    torchrun --nproc_per_node 8 -m smlib diffusion --preset paper --variant dsm \\
        --autoencoder runs/autoencoders/paper/dsm-<key>

Every recipe takes the same flags for the same things (``--preset``, ``--variant``, ``--seeds``, ``--dataset``,
``--data-root``, ``--device``, ``--runs-dir``, ``--results``, ``--steps``, ``--set KEY=VALUE``, ``--progress``).
The configuration is resolved here, once, and handed to the library as an object; the device too. The library
raises; this module turns a bad input into one line on stderr and exit status 2.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from smlib.experiments.config import PRESET_NAMES

USAGE_ERROR = 2


def _value(text: str):
    """A ``--set`` value: JSON where it parses (numbers, lists, null), else the string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _overrides(args) -> dict:
    out = {}
    for item in args.set:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}.")
        value = _value(value)
        out[key.strip()] = tuple(value) if isinstance(value, list) else value
    if args.steps is not None:
        out["steps"] = args.steps
    if args.dataset is not None:
        out["dataset"] = args.dataset
    return out


def _common(p: argparse.ArgumentParser, variants: str) -> None:
    p.add_argument("--preset", default="ci", choices=PRESET_NAMES, help="named scale (default: ci)")
    p.add_argument("--variant", nargs="+", default=["all"], help=f"'all' or some of: {variants}")
    p.add_argument("--seeds", nargs="+", type=int, default=None, help="seeds to run (default: the preset's)")
    p.add_argument("--dataset", default=None, help="override the preset's dataset")
    p.add_argument("--data-root", default=None, help="dataset folder (default: $SMLIB_DATA, then the cache)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    p.add_argument("--runs-dir", default=None, help="checkpoints and caches (default: <repo>/runs)")
    p.add_argument("--results", default=None, help="results JSON to write (dctdiff: the results folder)")
    p.add_argument("--steps", type=int, default=None, help="override the preset's training steps")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any knob of the chapter's config (JSON value), e.g. --set n_fid=500")
    p.add_argument("--progress", action="store_true", help="show a progress bar")


def _variants(args, known) -> list[str] | None:
    names = [n for v in args.variant for n in v.split(",") if n]
    return None if names == ["all"] else names


def _run_line(label: str, r: dict, extra: str = "") -> str:
    """One printed line per run of a sweep: its final gFID and KID (and ``extra``), or how far an unfinished
    run got."""
    final = r.get("final") or {}
    if final.get("fid_label"):
        return f"{label}: {final['fid_label']} = {final['fid']:.2f}, KID = {final['kid']:.4f}{extra}"
    if r.get("completed"):
        return f"{label}: finished, not scored (n_fid = 0)"
    return f"{label}: stopped at step {r['steps']} of {r['config_steps']}"


# ------------------------------------------------------------------------------------------------ recipes
def autoencoder(args) -> None:
    from smlib.device import resolve_device
    from smlib.experiments import autoencoders as lab

    cfg = lab.AutoencoderConfig.at(args.preset, **_overrides(args))
    device = resolve_device(args.device)
    seeds = args.seeds or [0]
    variants = _variants(args, lab.ALL_VARIANTS)
    if args.shards:
        from smlib.experiments.autoencoders import shards
        rows = shards.run_shards(cfg, variants, seeds, results_dir=args.results, data_root=args.data_root,
                                 device=device, runs_dir=args.runs_dir, progress=args.progress)
        for row in shards.seed_rows([r for r in rows if r.get("completed")]):
            print(f"{row['variant']:20s} seeds {row['seeds']}: PSNR {row['psnr']:.2f}"
                  + (f" +- {row['psnr_std']:.2f}" if row.get("psnr_std") is not None else ""))
        return
    if args.results and len(seeds) > 1:
        raise ValueError("--results takes one seed at a time; run each seed with its own --results file "
                         "(or --shards: one committed file per variant and seed).")
    for seed in seeds:
        if args.regularizer is not None:
            spec = _value(args.regularizer)
            spec = spec.split(",") if isinstance(spec, str) else spec
            r = lab.fit_autoencoder("custom", cfg, data_root=args.data_root, device=device, seed=seed,
                                    regularizers=spec, runs_dir=args.runs_dir, force=args.force,
                                    progress=args.progress)
            results = {r["variant"]: r}
        else:
            results = lab.run_variants(variants, cfg, data_root=args.data_root, device=device, seed=seed,
                                       results_path=args.results, runs_dir=args.runs_dir, force=args.force,
                                       progress=args.progress)
        for row in lab.table_rows(results):
            print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()
                           if v is not None and not (isinstance(v, float) and math.isnan(v))))


def diffusion(args) -> None:
    from smlib.device import resolve_device
    from smlib.experiments import diffusability as diff
    from smlib.train.distributed import init_distributed

    cfg = diff.DiffusabilityConfig.at(args.preset, setting=args.setting, **_overrides(args))
    variants = _variants(args, diff.VARIANTS)
    if args.ae_seeds is not None or cfg.ae_seeds:
        if args.autoencoder:
            raise ValueError("--autoencoder names one autoencoder; a sweep over --ae-seeds trains its own.")
        rows = diff.run_shards(cfg, variants, args.ae_seeds, args.seeds, results_dir=args.results,
                               data_root=args.data_root, device=resolve_device(args.device), runs_dir=args.runs_dir,
                               max_steps_this_call=args.max_steps_this_call, progress=args.progress)
        if init_distributed().is_main:
            for r in rows:
                print(_run_line(f"{r['label']:20s} ae {r['ae_seed']} seed {r['seed']}", r,
                                f", decoder floor {r['floor']['fid']:.2f}" if "floor" in r else ""))
        return
    if args.autoencoder and (variants is None or len(variants) != 1):
        raise ValueError("--autoencoder needs exactly one --variant (its name labels the results).")
    out = diff.run_sweep(cfg, variants, args.seeds, results_path=args.results, data_root=args.data_root,
                         device=resolve_device(args.device), runs_dir=args.runs_dir,
                         autoencoder_checkpoint=args.autoencoder, max_steps_this_call=args.max_steps_this_call,
                         progress=args.progress)
    if init_distributed().is_main:
        for e in out.get("table", {}).values():
            std = e["fid"]["std"]
            print(f"{e['label']:20s} {e['fid_label']} = {e['fid']['mean']:.2f}"
                  + (f" +- {std:.2f}" if std is not None else "") + f"  (seeds {e['seeds']})")


def dctdiff(args) -> None:
    from smlib.device import resolve_device
    from smlib.experiments import dctdiff as dct
    from smlib.train.distributed import init_distributed

    cfg = dct.DCTdiffConfig.at(args.preset, setting=args.setting, **_overrides(args))
    rows = dct.run_sweep(cfg, _variants(args, dct.ARMS), args.seeds, results_dir=args.results,
                         data_root=args.data_root, device=resolve_device(args.device), runs_dir=args.runs_dir,
                         max_steps_this_call=args.max_steps_this_call, progress=args.progress)
    if init_distributed().is_main:
        for r in rows:
            print(_run_line(f"{r['label']:20s} seed {r['seed']}", r))


def repa(args) -> None:
    from smlib.device import resolve_device
    from smlib.experiments import repa as rp
    from smlib.train.distributed import init_distributed

    cfg = rp.RepaConfig.at(args.preset, **_overrides(args))
    rows = rp.run_sweep(cfg, _variants(args, rp.ARMS), args.seeds, results_dir=args.results,
                        data_root=args.data_root, device=resolve_device(args.device), runs_dir=args.runs_dir,
                        max_steps_this_call=args.max_steps_this_call, progress=args.progress)
    if init_distributed().is_main:
        for r in rows:
            print(_run_line(f"{r['arm_label']:26s} seed {r['seed']}", r)
                  + (f"  [{r['encoder']}]" if "encoder" in r else ""))


def spectral_reg(args) -> None:
    from smlib.device import resolve_device
    from smlib.experiments import spectral_regularisation as sr
    from smlib.train.distributed import init_distributed

    cfg = sr.SpectralRegConfig.at(args.preset, **_overrides(args))
    if args.toy:
        for arm, runs in sr.run_toy(cfg, args.seeds, results_dir=args.results, device=resolve_device(args.device),
                                    runs_dir=args.runs_dir, progress=args.progress).items():
            print(f"toy {arm:8s} PSD error per seed: " + ", ".join(f"{r['psd_error']:.3f}" for r in runs))
        return
    rows = sr.run_sweep(cfg, _variants(args, sr.ARMS), args.seeds, results_dir=args.results,
                        data_root=args.data_root, device=resolve_device(args.device), runs_dir=args.runs_dir,
                        max_steps_this_call=args.max_steps_this_call, progress=args.progress)
    if init_distributed().is_main:
        for r in rows:
            psd = (r.get("final") or {}).get("psd_error")
            print(_run_line(f"{r['label']:46s} seed {r['seed']}", r, f", PSD error = {psd:.3f}" if psd is not None else ""))


def gpu_check(args) -> None:
    from smlib import gpu_check as check

    if args.worker:  # one rank of the check's torchrun stage
        check.torchrun_worker(args.preset, args.device, args.steps or 2, Path(args.results))
        return
    record = check.gpu_check(dry=args.dry, steps=args.steps, budget_s=args.budget_s, results=args.results,
                             only=args.only)
    print("\n".join(check.summary_lines(record)))


def build_parser() -> argparse.ArgumentParser:
    from smlib.experiments.autoencoders.variants import list_variants
    from smlib.experiments.dctdiff.config import ARMS as DCT_ARMS
    from smlib.experiments.dctdiff.config import PAPER_SETTINGS as DCT_SETTINGS
    from smlib.experiments.diffusability.config import PAPER_SETTINGS, VARIANTS
    from smlib.experiments.repa.config import ARMS as REPA_ARMS
    from smlib.experiments.spectral_regularisation.config import ARMS as SR_ARMS

    parser = argparse.ArgumentParser(prog="python -m smlib", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="recipe", metavar="<recipe>")
    ae = sub.add_parser("autoencoder", help="train / evaluate autoencoder variants (chapter 4)",
                        description="Train and evaluate autoencoder variants (resumable; finished runs are reused).")
    _common(ae, ", ".join(list_variants()))
    ae.add_argument("--regularizer", default=None,
                    help="custom recipe instead of a variant: comma-separated regularizer names, or a JSON spec "
                         "like '{\"esm\": {\"delta\": 0.6}}'")
    ae.add_argument("--force", action="store_true", help="retrain from scratch and re-evaluate")
    ae.add_argument("--shards", action="store_true",
                    help="one committed file per (variant, seed) under results/autoencoders/<preset>/ "
                         "(--results: another results root); a committed one is skipped")
    ae.set_defaults(run=autoencoder)
    df = sub.add_parser("diffusion", help="train / sample / score latent diffusion on each AE (chapter 5)",
                        description="Every stage is cached and resumable: the same command continues where it stopped.")
    _common(df, ", ".join(VARIANTS))
    df.add_argument("--setting", default=None, choices=tuple(PAPER_SETTINGS), help="paper preset: which protocol")
    df.add_argument("--autoencoder", default=None,
                    help="a lab run folder (runs/autoencoders/...) to use instead of training (one variant)")
    df.add_argument("--max-steps-this-call", type=int, default=None, help="stop after this many steps (resumable)")
    df.add_argument("--ae-seeds", type=int, nargs="+", default=None,
                    help="autoencoder seeds: one committed shard per (variant, AE seed, seed) under "
                         "results/diffusability/<preset>/ (default: the preset's, if it has any)")
    df.set_defaults(run=diffusion)
    dc = sub.add_parser("dctdiff", help="the ladder from pixel to DCT-space diffusion (chapter 7)",
                        description="Every (arm, seed) is resumable and writes results/dctdiff/<preset>/<arm>-seed<k>"
                                    ".json when it completes: the same command continues where it stopped.")
    _common(dc, ", ".join(DCT_ARMS))
    dc.set_defaults(variant=["all"])
    dc.add_argument("--arm", dest="variant", nargs="+", metavar="ARM", help=f"'all' or some of: {', '.join(DCT_ARMS)}")
    dc.add_argument("--setting", default=None, choices=tuple(DCT_SETTINGS), help="paper preset: which dataset")
    dc.add_argument("--max-steps-this-call", type=int, default=None, help="stop after this many steps (resumable)")
    dc.set_defaults(run=dctdiff)
    rp = sub.add_parser("repa", help="REPA, iREPA and DoG-REPA on one latent diffusion recipe (chapter 6)",
                        description="Every (arm, seed) is resumable and writes results/repa/<preset>/<arm>-seed<k>.json "
                                    "when it completes; committed runs are skipped.")
    _common(rp, ", ".join(REPA_ARMS))
    rp.set_defaults(variant=["all"])
    rp.add_argument("--arm", dest="variant", nargs="+", metavar="ARM", help=f"'all' or some of: {', '.join(REPA_ARMS)}")
    rp.add_argument("--max-steps-this-call", type=int, default=None, help="stop after this many steps (resumable)")
    rp.set_defaults(run=repa)
    sr = sub.add_parser("spectral-reg", help="Fourier / wavelet terms on DDPM and EDM pixel diffusion (chapter 8)",
                        description="Every (arm, seed) is resumable and writes results/spectral_regularisation/<preset>/"
                                    "<arm>-seed<k>.json when it completes; committed runs are skipped. Fine-tune "
                                    "from a checkpoint with --set init_from=PATH.")
    _common(sr, ", ".join(SR_ARMS))
    sr.add_argument("--arm", dest="variant", nargs="+", metavar="ARM", help=f"'all' or some of: {', '.join(SR_ARMS)}")
    sr.add_argument("--max-steps-this-call", type=int, default=None, help="stop after this many steps (resumable)")
    sr.add_argument("--toy", action="store_true", help="run the checkerboard toy (both arms, the toy's seeds) instead")
    sr.set_defaults(run=spectral_reg)
    gc = sub.add_parser("gpu-check", help="every recipe at paper scale on this GPU machine, timed (~8 min)",
                        description="Every recipe's paper configuration for a few dozen bf16 steps, torch.compile "
                                    "measured, the benchmarks on the GPU and a 2-step torchrun; writes "
                                    "results/benchmarks/gpu.json. --dry runs the stages on the CPU at ci size.")
    gc.add_argument("--dry", action="store_true", help="CPU, ci presets, 2 steps (needs --results)")
    gc.add_argument("--steps", type=int, default=None, help="steps per recipe (default 24; dry: 2)")
    gc.add_argument("--budget-s", type=float, default=420.0, help="time budget in seconds (default 420; torchrun adds <= 60)")
    gc.add_argument("--results", default=None, help="record to write (default results/benchmarks/gpu.json)")
    gc.add_argument("--only", nargs="+", default=None, help="probe names, e.g. diffusion/imagenet256")
    gc.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    gc.add_argument("--preset", default="paper", help=argparse.SUPPRESS)
    gc.add_argument("--device", default="cuda", help=argparse.SUPPRESS)
    gc.set_defaults(run=gpu_check)
    from smlib.gpu_sweep import add_subcommand as gpu_sweep_subcommand
    gpu_sweep_subcommand(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse, run one recipe, and turn a library error into one line (exit 2). Returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.recipe is None:
        parser.print_help()
        return 0
    from smlib.data.roots import DatasetNotFoundError
    from smlib.models.encoders import WeightsUnavailableError
    from smlib.regularizers.perceptual import LPIPSUnavailableError

    try:
        args.run(args)
    except (ValueError, KeyError, FileNotFoundError, DatasetNotFoundError, WeightsUnavailableError,
            LPIPSUnavailableError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"error: {message}", file=sys.stderr)
        return USAGE_ERROR
    return 0


__all__ = ["main", "build_parser", "USAGE_ERROR"]
