"""Learning curves measured before a re-run, to choose its regime (issue 25), read back for the chapters.

Each is one run of a chapter's own command with ``--results results/curves/<name>``, from a commit without
uncommitted changes (its provenance holds the command and commit), so it is a sweep's run in another folder:
``results/curves/<name>/<chapter>/<preset>/<arm>-seed<k>.json``. ``resampled/`` beside it holds a finished run's final
model scored again with other samplers (chapter 8's ``--resample``).

    run = curve("spectral_regularisation", "cifar16-unet32", "edm")   # a result dict, as a sweep's run
    steps, fid = fid_curve(run)                                      # gFID-N at each evaluation
    fid_at(run, 1000)                                                # gFID-N at step 1,000, or None
"""
from __future__ import annotations

from pathlib import Path

from smlib.results import RESULTS_ROOT, read_result


def curve_folder(chapter: str, name: str, preset: str = "small", results_dir: str | Path | None = None) -> Path:
    """``<results>/curves/<name>/<chapter>/<preset>``."""
    root = Path(results_dir) if results_dir is not None else RESULTS_ROOT
    return root / "curves" / name / chapter / preset


def curve(chapter: str, name: str, arm: str, seed: int = 0, *, preset: str = "small", command: str | None = None,
          results_dir: str | Path | None = None) -> dict:
    """The committed curve run of ``arm`` and ``seed``; a missing one is one line naming the command that makes it
    (``command``: the chapter's subcommand, e.g. ``spectral-reg``; default the chapter's name)."""
    path = curve_folder(chapter, name, preset, results_dir) / f"{arm}-seed{seed}.json"
    run = read_result(path)
    if run is None:
        raise FileNotFoundError(f"no learning curve at {path}; run `python -m smlib {command or chapter} --preset "
                                f"{preset} --arm {arm} --seeds {seed} --results results/curves/{name}` with its --set "
                                "knobs.")
    return run


def resampled(chapter: str, name: str, arm: str, seed: int = 0, *, preset: str = "small",
              results_dir: str | Path | None = None) -> dict:
    """The committed resampling of a curve's final model (``resampled/<arm>-seed<k>.json``)."""
    path = curve_folder(chapter, name, preset, results_dir) / "resampled" / f"{arm}-seed{seed}.json"
    again = read_result(path)
    if again is None:
        raise FileNotFoundError(f"no resampled run at {path}; add `--resample SAMPLER:STEPS ...` to the curve's "
                                "command.")
    return again


def fid_curve(run: dict, key: str = "eval/fid") -> tuple[list[int], list[float]]:
    """(steps, score) at each evaluation of a run; gFID-N by default."""
    points = (run.get("curve") or {}).get(key) or []
    return [int(s) for s, _ in points], [float(v) for _, v in points]


def fid_at(run: dict, step: int, key: str = "eval/fid") -> float | None:
    """The score at evaluation ``step`` (None when the run was not evaluated there)."""
    return dict(zip(*fid_curve(run, key))).get(int(step))


__all__ = ["curve_folder", "curve", "resampled", "fid_curve", "fid_at"]
