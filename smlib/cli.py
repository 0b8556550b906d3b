"""The command line: ``python -m smlib <recipe> [options]``, the same recipes the notebooks call in-process.

    python -m smlib autoencoder --preset small --variant all --seeds 0 1 2
    python -m smlib diffusion --preset small --variant all --seeds 0 1 2
    python -m smlib dctdiff --preset small --arm all --seeds 0 1 2
    python -m smlib repa --preset small --arm all --seeds 0 1 2
    python -m smlib spectral-reg --preset small --arm all --seeds 0 1 2
    python -m smlib audio --preset small --arm ddpm ddpm-ap-1 --seeds 0 1 2 3 4
    python -m smlib audit --autoencoder runs/autoencoders/small/dsm-<key> --n-images 512
    torchrun --nproc_per_node 8 -m smlib diffusion --preset paper --variant dsm \\
        --autoencoder runs/autoencoders/paper/dsm-<key>

Every recipe takes the same flags for the same things (``--preset``, ``--variant``, ``--seeds``, ``--dataset``,
``--data-root``, ``--device``, ``--runs-dir``, ``--results``, ``--steps``, ``--set KEY=VALUE``, ``--progress``).
The configuration is resolved here, once, and handed to the library as an object; the device and the folders too
(:class:`smlib.results.RunContext`). Every chapter command runs that chapter's sweep (:mod:`smlib.sweep`): the
missing runs of the named arms and seeds, each written as ``results/<chapter>/<preset>/<arm>-seed<k>.json`` when it
finishes (``--results`` names another results root), committed runs skipped. The library raises; this module turns
a bad input into one line on stderr and exit status 2.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from pathlib import Path

from smlib.config import PRESET_NAMES, knob_value, set_overrides

USAGE_ERROR = 2


def _config(cls, args, **fixed):
    """The chapter's config: the preset, ``fixed`` (a paper setting), ``--steps``, ``--dataset`` and the typed
    ``--set`` values. ``--set KEY=null`` sets the knob to None (in-process, a None override means "keep the preset's",
    so the CLI applies those after the preset)."""
    sets = set_overrides(cls, args.preset, args.set)
    flags = {k: v for k, v in (("steps", args.steps), ("dataset", args.dataset)) if v is not None}
    cfg = cls.at(args.preset, **{**fixed, **sets, **flags})   # unknown knobs, None-valued ones too, refused here
    nones = {k: None for k, v in sets.items() if v is None and k not in flags}
    return dataclasses.replace(cfg, **nones) if nones else cfg


def _common(p: argparse.ArgumentParser, variants: str) -> None:
    p.add_argument("--preset", default="ci", choices=PRESET_NAMES, help="named scale (default: ci)")
    p.add_argument("--variant", nargs="+", default=["all"], help=f"'all' or some of: {variants}")
    p.add_argument("--seeds", nargs="+", type=int, default=None, help="seeds to run (default: the preset's)")
    p.add_argument("--dataset", default=None, help="override the preset's dataset")
    p.add_argument("--data-root", default=None, help="dataset folder (default: $SMLIB_DATA, then the cache)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    p.add_argument("--runs-dir", default=None, help="checkpoints and caches (default: <repo>/runs)")
    p.add_argument("--results", default=None, help="results root (default: <repo>/results)")
    p.add_argument("--steps", type=int, default=None, help="override the preset's training steps")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any knob of the chapter's config (JSON value), e.g. --set n_fid=500")
    p.add_argument("--progress", action="store_true", help="show a progress bar")


def _arm_recipe(sub, name: str, summary: str, results_dir: str, arms, run, more: str = "") -> argparse.ArgumentParser:
    """The subcommand of a chapter whose sweep is arms x seeds: the common flags, ``--arm`` and
    ``--max-steps-this-call``."""
    p = sub.add_parser(name, help=summary,
                       description=f"Every (arm, seed) is resumable and writes results/{results_dir}/<preset>/"
                                   f"<arm>-seed<k>.json when it completes; committed runs are skipped.{more}")
    _common(p, ", ".join(arms))
    p.set_defaults(variant=["all"], run=run)
    p.add_argument("--arm", dest="variant", nargs="+", metavar="ARM", help=f"'all' or some of: {', '.join(arms)}")
    p.add_argument("--max-steps-this-call", type=int, default=None, help="stop after this many steps (resumable)")
    return p


def _variants(args, known) -> list[str] | None:
    """The arms named by ``--variant`` / ``--arm`` (comma- or space-separated); None for "all"."""
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
def _device(name: str) -> str:
    """``--device`` resolved (auto -> cuda, mps, cpu); one line naming the flag when it is not there."""
    from smlib.device import DeviceUnavailableError, resolve_device

    try:
        return str(resolve_device(name))
    except DeviceUnavailableError as e:
        raise ValueError(f"--device {name}: {e}") from None


def _context(args, results: bool = True):
    """Where and how this command's runs execute, resolved once (the device included) and checked before any
    training: the device is there, the runs folder (and, with ``results``, the results folder) can be written."""
    from smlib.results import RunContext

    ctx = RunContext(data_root=args.data_root, device=_device(args.device), runs_dir=args.runs_dir,
                     results_dir=args.results, max_steps_this_call=getattr(args, "max_steps_this_call", None),
                     progress=args.progress)
    ctx.check_folders(results=results)
    return ctx


def _sweep(sweep, cfg, args, label, extra=lambda r: "", seeds=None) -> None:
    """Run a chapter's sweep (committed runs skipped, each finished run written as its file) and print a line per
    run on the main rank."""
    ctx = _context(args)
    rows = sweep.run(cfg, ctx, _variants(args, sweep.arms), seeds if seeds is not None else args.seeds)
    if ctx.is_main:
        for r in rows:
            print(_run_line(f"{label(r)} seed {sweep.seed_of(r)}", r, extra(r)))


def autoencoder(args) -> None:
    from smlib.experiments.autoencoders import SWEEP, flat_row
    from smlib.pipelines.autoencoder import AutoencoderConfig, fit_autoencoder

    cfg = _config(AutoencoderConfig, args)
    if args.regularizer is not None:         # a custom recipe: trained and printed, not part of the sweep
        spec = knob_value(args.regularizer)
        spec = spec.split(",") if isinstance(spec, str) else spec
        ctx = _context(args, results=False)
        for seed in args.seeds or [0]:
            r = fit_autoencoder("custom", cfg, data_root=ctx.data_root, device=ctx.device, seed=seed,
                                regularizers=spec, runs_dir=ctx.runs_dir, force=args.force, progress=args.progress)
            row = flat_row(r)
            print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()
                           if v is not None and not (isinstance(v, float) and math.isnan(v))))
        return
    ctx = _context(args)
    rows = SWEEP.run(cfg, ctx, _variants(args, SWEEP.arms), args.seeds or [0])
    for r in rows:
        m = r.get("metrics") or {}
        rfid = f", rFID {m['rfid']:.1f}" if m.get("rfid") is not None else ""       # fid_n = 0: not scored
        print(f"{r['variant']:20s} seed {r['seed']}: " + (f"PSNR {m['psnr']:.2f}{rfid}" if "psnr" in m
                                                          else f"stopped at step {r.get('steps')}"))


def diffusion(args) -> None:
    from smlib.experiments import diffusability as diff

    cfg = _config(diff.DiffusabilityConfig, args, setting=args.setting)
    if args.autoencoder:
        _external_autoencoder(cfg, args)
        return
    _sweep(diff.SWEEP, cfg, args, lambda r: f"{r['label']:20s} ae",
           lambda r: f", decoder floor {r['floor']['fid']:.2f}" if "floor" in r else "")


def _external_autoencoder(cfg, args) -> None:
    """``--autoencoder FOLDER``: one variant's label on an autoencoder of the user's, diffused and printed (not a
    run of the chapter's sweep: the sweep's runs are identified by the lab's own autoencoders)."""
    import hashlib
    from pathlib import Path

    from smlib.pipelines import latent_diffusion as ld

    variants = _variants(args, None)
    if variants is None or len(variants) != 1:
        raise ValueError("--autoencoder needs exactly one --variant (its name labels the results).")
    ctx = _context(args, results=False)
    tag = hashlib.sha1(str(Path(args.autoencoder).resolve()).encode()).hexdigest()[:8]
    for seed in args.seeds or [0]:
        ae = ld.obtain_autoencoder(variants[0], cfg, ctx, seed, folder=args.autoencoder)
        out = ld.run_dir(ctx.runs_dir, "diffusability", cfg.preset, cfg.dataset, variants[0], seed)
        r = ld.run(variants[0], cfg, seed, ctx, out_dir=out.parent / f"external-{tag}-seed{seed}", ae=ae)
        if ctx.is_main:
            print(_run_line(f"{variants[0]} ({args.autoencoder}) seed {seed}", r))


def intervention(args) -> None:
    from smlib.experiments import intervention as iv

    cfg = _config(iv.InterventionConfig, args)
    _sweep(iv.SWEEP, cfg, args, lambda r: f"{r['arm']:10s}",
           lambda r: f", reconstructions identical to {r['reconstruction_gap']:.1e}" if "reconstruction_gap" in r
           else "")


def dctdiff(args) -> None:
    from smlib.experiments import dctdiff as dct

    cfg = _config(dct.DCTdiffConfig, args, setting=args.setting)
    _sweep(dct.SWEEP, cfg, args, lambda r: f"{r['label']:20s}")


def repa(args) -> None:
    from smlib.experiments import repa as rp

    cfg = _config(rp.RepaConfig, args)
    _sweep(rp.SWEEP, cfg, args, lambda r: f"{r['arm_label']:26s}",
           lambda r: f"  [{r['encoder']}]" if "encoder" in r else "")


def spectral_reg(args) -> None:
    from smlib.experiments import spectral_regularisation as sr

    cfg = _config(sr.SpectralRegConfig, args)
    if args.toy:
        ctx = _context(args)
        for r in sr.TOY_SWEEP.run(cfg, ctx, arms=args.variant, seeds=args.seeds or cfg.toy_seeds):
            boards = f", boards {r['board_share']:.2f}" if r.get("board_share") is not None else ""
            print(f"toy {r['arm']:12s} seed {r['seed']}: PSD error {r['psd_error']:.3f}{boards}")
        return
    if args.resample:
        _resample(sr, cfg, args)
        return
    _sweep(sr.SWEEP, cfg, args, lambda r: f"{r['label']:46s}", lambda r: (
        f", PSD error = {r['final']['psd_error']:.3f}" if (r.get("final") or {}).get("psd_error") is not None
        else ""))


def _resample(sr, cfg, args) -> None:
    """``spectral-reg --resample SAMPLER:STEPS ...``: each finished run's final model scored again with each sampler,
    written to ``<results>/spectral_regularisation/<preset>/resampled/<arm>-seed<k>.json``."""
    from smlib.results import shard_path, write_result

    samplers = []
    for spec in args.resample:
        name, _, steps = spec.partition(":")
        if not steps.isdigit():
            raise ValueError(f"--resample takes SAMPLER:STEPS (e.g. edm:18 dpmpp_2m:25), got {spec!r}.")
        samplers.append((name, int(steps)))
    ctx = _context(args)
    for arm in _variants(args, sr.SWEEP.arms) or list(sr.SWEEP.arms):
        for seed in args.seeds or [0]:
            r = sr.resample_arm(arm, seed, cfg, ctx, samplers)
            write_result(shard_path("spectral_regularisation", f"{cfg.preset}/resampled", f"{arm}-seed{seed}",
                                    ctx.results_dir), r)
            for row in r["rows"]:
                print(f"{arm} seed {seed}, {row['sampler']} {row['steps']} steps: {r['fid_label']} "
                      f"{row['fid']:.1f}, PSD error {row['psd_error']:.3f}")


def audio(args) -> None:
    from smlib import audio as au

    cfg = _config(au.AudioConfig, args)
    ctx = _context(args)
    rows = au.AUDIO_SWEEP.run(cfg, ctx, _variants(args, au.AUDIO_SWEEP.arms), args.seeds)
    for r in rows if ctx.is_main else ():
        f = r.get("final") or {}
        print(f"{r['label']:46s} seed {r['seed']}: " + (
            f"recognised {f['recognised']:.2f}, FD {f['fd']:.1f}, log-mel error {f['log_mel_error_db']:.2f} dB"
            if f else f"stopped at step {r.get('steps')}"))


def gpu_check(args) -> None:
    from smlib import gpu_check as check

    if args.worker:  # one rank of the check's torchrun stage
        check.torchrun_worker(args.preset, args.device, args.steps or 2, Path(args.results))
        return
    record = check.gpu_check(dry=args.dry, steps=args.steps, budget_s=args.budget_s, results=args.results,
                             only=args.only)
    print("\n".join(check.summary_lines(record)))


def audit(args) -> None:
    from smlib.audit import audit as run_audit, summary_lines

    record = run_audit(args.autoencoder, dataset=args.dataset, n_images=args.n_images, resolution=args.resolution,
                       data_root=args.data_root, device=_device(args.device), out_dir=args.out, split=args.split,
                       seed=args.seed, batch_size=args.batch_size, n_bands=args.bands)
    print("\n".join(summary_lines(record)))


def build_parser() -> argparse.ArgumentParser:
    from smlib.audio import AUDIO_ARMS
    from smlib.experiments.dctdiff.config import ARMS as DCT_ARMS
    from smlib.experiments.dctdiff.config import PAPER_SETTINGS as DCT_SETTINGS
    from smlib.experiments.diffusability.config import PAPER_SETTINGS, VARIANTS
    from smlib.experiments.intervention.config import ARMS as IV_ARMS
    from smlib.experiments.repa.config import ARMS as REPA_ARMS
    from smlib.experiments.spectral_regularisation.config import ARMS as SR_ARMS
    from smlib.audit.report import add_arguments as audit_arguments
    from smlib.gpu_sweep import add_subcommand as gpu_sweep_subcommand
    from smlib.pipelines.autoencoder_config import list_variants

    parser = argparse.ArgumentParser(prog="python -m smlib", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="recipe", metavar="<recipe>")
    ae = sub.add_parser("autoencoder", help="train / evaluate autoencoder variants (chapter 4)",
                        description="Train and evaluate autoencoder variants (resumable; finished runs are reused); "
                                    "each run writes results/autoencoders/<preset>/<variant>-seed<k>.json.")
    _common(ae, ", ".join(list_variants()))
    ae.add_argument("--regularizer", default=None,
                    help="custom recipe instead of a variant: comma-separated regularizer names, or a JSON spec "
                         "like '{\"esm\": {\"delta\": 0.6}}'")
    ae.add_argument("--force", action="store_true", help="with --regularizer: retrain from scratch and re-evaluate")
    ae.set_defaults(run=autoencoder)
    df = sub.add_parser("diffusion", help="train / sample / score latent diffusion on each AE (chapter 5)",
                        description="Every stage is cached and resumable: the same command continues where it "
                                    "stopped. --seeds are the autoencoders' lab seeds; each writes "
                                    "results/diffusability/<preset>/<variant>-seed<k>.json.")
    _common(df, ", ".join(VARIANTS))
    df.add_argument("--setting", default=None, choices=tuple(PAPER_SETTINGS), help="paper preset: which protocol")
    df.add_argument("--autoencoder", default=None,
                    help="a lab run folder (runs/autoencoders/...) to diffuse instead of the lab's (one variant; "
                         "printed, not written as a run of the sweep)")
    df.add_argument("--max-steps-this-call", type=int, default=None, help="stop after this many steps (resumable)")
    df.set_defaults(run=diffusion)
    _arm_recipe(sub, "intervention", "one autoencoder, its latent spectrum changed, diffused (chapter 5b)",
                "intervention", IV_ARMS, intervention)
    dc = _arm_recipe(sub, "dctdiff", "the ladder from pixel to DCT-space diffusion (chapter 7)", "dctdiff", DCT_ARMS,
                     dctdiff)
    dc.add_argument("--setting", default=None, choices=tuple(DCT_SETTINGS), help="paper preset: which dataset")
    _arm_recipe(sub, "repa", "REPA, iREPA and DoG-REPA on one latent diffusion recipe (chapter 6)", "repa", REPA_ARMS,
                repa)
    sr = _arm_recipe(sub, "spectral-reg", "Fourier / wavelet terms on DDPM and EDM pixel diffusion (chapter 8)",
                     "spectral_regularisation", SR_ARMS, spectral_reg,
                     " Fine-tune from a checkpoint with --set init_from=PATH.")
    sr.add_argument("--resample", nargs="+", default=None, metavar="SAMPLER:STEPS",
                    help="score each finished run's final model again with these samplers (e.g. edm:18 dpmpp_2m:25); "
                         "writes results/spectral_regularisation/<preset>/resampled/<arm>-seed<k>.json")
    sr.add_argument("--toy", action="store_true", help="run the checkerboard toy instead (--arm toy-ddpm toy-ddpm-ap or all; "
                    "default the toy's seeds)")
    _arm_recipe(sub, "audio", "spoken digits with and without the spectral term (chapter 8's audio section)",
                "audio", AUDIO_ARMS, audio)
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
    au = sub.add_parser("audit", help="spectrum audit of any autoencoder (smlib run or diffusers AutoencoderKL)",
                        description="Latent vs image spectrum, ESM distance, scale and posterior noise, "
                                    "high-frequency share, DSM decoding correspondence: one JSON and one figure.")
    audit_arguments(au)
    au.set_defaults(run=audit)
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
        _check_seeds(args)
        args.run(args)
    except (ValueError, KeyError, FileNotFoundError, DatasetNotFoundError, WeightsUnavailableError,
            LPIPSUnavailableError) as err:
        if isinstance(err, KeyError) and not (err.args and " " in str(err.args[0])):
            raise                 # a bare KeyError('rfid') is a bug, not a bad input: keep its traceback
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"error: {message}", file=sys.stderr)
        return USAGE_ERROR
    except OSError as err:        # the filesystem: a folder that cannot be written, a full disk, a vanished file
        where = f"{err.filename}: " if err.filename else ""
        print(f"error: {where}{err.strerror or err}; check that path (permissions, free space) or pass another "
              "--runs-dir / --results.", file=sys.stderr)
        return USAGE_ERROR
    return 0


def _check_seeds(args) -> None:
    """``--seeds`` / ``--seed`` are non-negative (a negative seed would train, but as no run the book plans)."""
    for flag, given in (("--seeds", getattr(args, "seeds", None)), ("--seed", getattr(args, "seed", None))):
        bad = [s for s in (given if isinstance(given, list) else [given]) if s is not None and s < 0]
        if bad:
            raise ValueError(f"{flag} takes non-negative integers, got {bad[0]}.")


__all__ = ["main", "build_parser", "USAGE_ERROR"]
