"""The learning curves that chose chapter 8's re-run (issue 25), read back for the chapter through
:mod:`smlib.learning_curves` (where they come from, and how they were made).

    run = curve("cifar16-unet32", "edm")           # a result dict, as a sweep's run
    steps, fid = fid_curve(run)                    # gFID-N at each evaluation
    again = resampled("cifar16-unet32", "edm")     # {"trained": ..., "rows": [{sampler, steps, fid, ...}]}
"""
from __future__ import annotations

from pathlib import Path

from smlib import learning_curves
from smlib.learning_curves import fid_at, fid_curve

#: the curves the chapter reads: name -> (folder under results/curves/, arm, what distinguishes it)
CURVES = {
    "uvit32-ddpm": ("cifar32", "ddpm", "U-ViT 128x4, 32 px, DDPM (the first sweep's network)"),
    "uvit32-edm": ("cifar32-uvit-edm", "edm", "U-ViT 128x4, 32 px, EDM sampled with EDM's Heun"),
    "unet16-ddpm": ("cifar16-unet32", "ddpm", "U-Net 32 ch, 16 px, DDPM"),
    "unet16-edm": ("cifar16-unet32", "edm", "U-Net 32 ch, 16 px, EDM (Heun, c_noise as EDM embeds it)"),
    "unet16-edm-time1000": ("cifar16-unet32-time1000", "edm", "U-Net 32 ch, 16 px, EDM fed 1000 c_noise"),
}


def curve(name: str, arm: str, seed: int = 0, results_dir: str | Path | None = None) -> dict:
    """The committed run ``results/curves/<name>/spectral_regularisation/small/<arm>-seed<k>.json``."""
    return learning_curves.curve("spectral_regularisation", name, arm, seed, command="spectral-reg",
                                 results_dir=results_dir)


def resampled(name: str, arm: str, seed: int = 0, results_dir: str | Path | None = None) -> dict:
    """The committed resampling of a curve's final model (``resampled/<arm>-seed<k>.json``)."""
    return learning_curves.resampled("spectral_regularisation", name, arm, seed, results_dir=results_dir)


__all__ = ["CURVES", "curve", "resampled", "fid_curve", "fid_at"]
