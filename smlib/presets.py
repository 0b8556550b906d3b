"""Named scales for every chapter: ``ci`` (the default: minutes on 2 CPU cores), ``small`` (the book's numbers),
``paper`` (the authors' settings, for multi-GPU runs).

A preset is a plain dict of knobs per chapter. Notebooks resolve it once in their parameters cell:

    cfg = presets.resolve("spectral_bias", preset, dataset=dataset, seed=seed)

Explicit keyword overrides win over the preset; ``None`` overrides are ignored, so a notebook can expose every knob
as an optional parameter.
"""
from __future__ import annotations

from copy import deepcopy
from types import SimpleNamespace

PRESET_NAMES = ("ci", "small", "paper")

PRESETS: dict[str, dict[str, dict]] = {
    # Chapter 1: Prop. 3.1. PSD of real images, and a pixel denoiser trained with MSE vs the Gaussian prediction.
    "spectral_bias": {
        "ci": dict(resolution=32, n_psd_images=512, n_train=2048, n_test=256, denoiser_width=32, denoiser_depth=7,
                   train_steps=400, batch_size=64, lr=2e-3, sigmas=(0.1, 0.3, 0.6, 0.9)),
        "small": dict(resolution=32, n_psd_images=5000, n_train=20000, n_test=1000, denoiser_width=64,
                      denoiser_depth=7, train_steps=4000, batch_size=128, lr=2e-3, sigmas=(0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 0.95)),
        "paper": dict(resolution=64, n_psd_images=50000, n_train=50000, n_test=5000, denoiser_width=128,
                      denoiser_depth=9, train_steps=50000, batch_size=256, lr=1e-3, sigmas=(0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 0.95)),
    },
    # Chapter 2: Prop. 3.2 on random tokens and on pretrained encoder features.
    "rmsc_identity": {
        "ci": dict(resolution=64, n_images=16, encoder="efficientnet-lite2", encoder_input=260, dog_sigmas=(0.5, 2.0),
                   irepa_gamma=0.6),
        "small": dict(resolution=64, n_images=256, encoder="efficientnet-lite2", encoder_input=260,
                      dog_sigmas=(0.5, 2.0), irepa_gamma=0.6),
        "paper": dict(resolution=256, n_images=5000, encoder="dinov2-vitb14", encoder_input=224, dog_sigmas=(0.5, 2.0),
                      irepa_gamma=0.6),
    },
}


def resolve(chapter: str, preset: str, **overrides) -> SimpleNamespace:
    """The knobs of ``chapter`` at ``preset``, with non-None ``overrides`` applied. Raises one clear line if unknown."""
    if chapter not in PRESETS:
        raise KeyError(f"unknown chapter {chapter!r}; known: {', '.join(sorted(PRESETS))}.")
    table = PRESETS[chapter]
    if preset not in table:
        raise ValueError(f"unknown preset {preset!r} for {chapter}; choose one of: {', '.join(table)}.")
    cfg = deepcopy(table[preset])
    cfg.update({k: v for k, v in overrides.items() if v is not None})
    cfg["preset"] = preset
    return SimpleNamespace(**cfg)


def register(chapter: str, table: dict[str, dict]) -> None:
    """Add a chapter's presets (used by modules that own their chapter's knobs)."""
    missing = set(PRESET_NAMES) - set(table)
    if missing:
        raise ValueError(f"presets for {chapter} must define {', '.join(PRESET_NAMES)}; missing {sorted(missing)}.")
    PRESETS[chapter] = deepcopy(table)
