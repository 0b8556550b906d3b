"""The learning curves that chose chapter 8's re-run (issue 25), read back for the chapter.

Each is one run (seed 0) of the chapter's own command with ``--results results/curves/<name>`` from a commit without
uncommitted changes (the command and commit are in its provenance), and ``resampled/`` holds a finished run's final
model scored again with other samplers (:func:`~smlib.experiments.spectral_regularisation.recipe.resample_arm`).

    run = curve("cifar16-unet32", "edm")           # a result dict, as a sweep's run
    steps, fid = fid_curve(run)                    # gFID-N at each evaluation
    again = resampled("cifar16-unet32", "edm")     # {"trained": ..., "rows": [{sampler, steps, fid, ...}]}
"""
from __future__ import annotations

from pathlib import Path

from smlib.results import RESULTS_ROOT, read_result

#: the curves the chapter reads: name -> (folder under results/curves/, arm, what distinguishes it)
CURVES = {
    "uvit32-ddpm": ("cifar32", "ddpm", "U-ViT 128x4, 32 px, DDPM (the first sweep's network)"),
    "uvit32-edm": ("cifar32-uvit-edm", "edm", "U-ViT 128x4, 32 px, EDM sampled with EDM's Heun"),
    "unet16-ddpm": ("cifar16-unet32", "ddpm", "U-Net 32 ch, 16 px, DDPM"),
    "unet16-edm": ("cifar16-unet32", "edm", "U-Net 32 ch, 16 px, EDM (Heun, c_noise as EDM embeds it)"),
    "unet16-edm-time1000": ("cifar16-unet32-time1000", "edm", "U-Net 32 ch, 16 px, EDM fed 1000 c_noise"),
}


def _folder(name: str, results_dir: str | Path | None = None) -> Path:
    root = Path(results_dir) if results_dir is not None else RESULTS_ROOT
    return root / "curves" / name / "spectral_regularisation" / "small"


def curve(name: str, arm: str, seed: int = 0, results_dir: str | Path | None = None) -> dict:
    """The committed run ``results/curves/<name>/spectral_regularisation/small/<arm>-seed<k>.json``; a missing one
    is one line naming the command that makes it."""
    path = _folder(name, results_dir) / f"{arm}-seed{seed}.json"
    run = read_result(path)
    if run is None:
        raise FileNotFoundError(f"no learning curve at {path}; run `python -m smlib spectral-reg --preset small "
                                f"--arm {arm} --seeds {seed} --results results/curves/{name}` with its --set knobs.")
    return run


def resampled(name: str, arm: str, seed: int = 0, results_dir: str | Path | None = None) -> dict:
    """The committed resampling of a curve's final model (``resampled/<arm>-seed<k>.json``)."""
    path = _folder(name, results_dir) / "resampled" / f"{arm}-seed{seed}.json"
    again = read_result(path)
    if again is None:
        raise FileNotFoundError(f"no resampled run at {path}; add `--resample SAMPLER:STEPS ...` to the curve's "
                                "command.")
    return again


def fid_curve(run: dict) -> tuple[list[int], list[float]]:
    """(steps, gFID-N) at each evaluation of a run."""
    points = (run.get("curve") or {}).get("eval/fid") or []
    return [int(s) for s, _ in points], [float(v) for _, v in points]


def fid_at(run: dict, step: int) -> float | None:
    """gFID-N at evaluation ``step`` (None when the run was not evaluated there)."""
    return dict(zip(*fid_curve(run))).get(int(step))


__all__ = ["CURVES", "curve", "resampled", "fid_curve", "fid_at"]
