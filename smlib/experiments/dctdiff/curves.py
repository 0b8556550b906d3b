"""The learning curves that set chapter 7's re-run (issue 25), read back for the chapter through
:mod:`smlib.learning_curves` (where they come from, and how they were made): the ladder's two ends, pixel diffusion
and DCTdiff as released, on the re-run's network and data, trained past the re-run's budget (seed 0).

    run = curve("cifar16-uvit", "pixel")           # a result dict, as a sweep's run
    steps, fid = fid_curve(run)                    # gFID-N at each evaluation
"""
from __future__ import annotations

from pathlib import Path

from smlib import learning_curves
from smlib.learning_curves import fid_at, fid_curve

#: the curves the chapter reads: name -> (folder under results/curves/, arm, what distinguishes it)
CURVES = {
    "uvit16-pixel": ("cifar16-uvit", "pixel", "U-ViT 128x4 on 16 tokens, 16 px, pixel patches"),
    "uvit16-ebfr": ("cifar16-uvit", "ebfr", "U-ViT 128x4 on 16 tokens, 16 px, DCTdiff as released"),
}


def curve(name: str, arm: str, seed: int = 0, results_dir: str | Path | None = None) -> dict:
    """The committed run ``results/curves/<name>/dctdiff/small/<arm>-seed<k>.json``."""
    return learning_curves.curve("dctdiff", name, arm, seed, command="dctdiff", results_dir=results_dir)


__all__ = ["CURVES", "curve", "fid_curve", "fid_at"]
