"""Chapter configurations: one frozen dataclass per chapter, with a ``ci``, a ``small`` and a ``paper`` instance.

A chapter declares its knobs once, each with a comment saying what it does, and its three presets beside them:

    @dataclass(frozen=True)
    class SpectralBiasConfig(ChapterConfig):
        train_steps: int = 400      # optimiser steps of the denoiser
        ...
    SpectralBiasConfig.PRESETS = {"ci": SpectralBiasConfig(), "small": ..., "paper": ...}

The entry point (a notebook's parameters cell or the command line) resolves it once,

    cfg = SpectralBiasConfig.at("small", train_steps=2000)      # None overrides are ignored

and passes the object down. An unknown knob or preset raises :class:`ConfigError` with one line naming the known
ones, in every chapter. ``cfg.train_config(...)`` maps the knobs the training loop shares with the chapter onto a
:class:`~smlib.train.TrainConfig`, so no recipe copies that mapping by hand.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from smlib.train.config import TrainConfig

PRESET_NAMES = ("ci", "small", "paper")


class ConfigError(ValueError):
    """A knob, preset or value a chapter does not know; the message is one line saying what to do."""


@dataclass(frozen=True)
class ChapterConfig:
    """Base of every chapter's configuration. Subclasses add fields and set ``PRESETS``."""

    preset: str = "ci"          # which named scale this is: "ci", "small" or "paper"

    PRESETS: ClassVar[dict[str, ChapterConfig]] = {}

    @classmethod
    def knobs(cls) -> list[str]:
        """The names a caller may set."""
        return [f.name for f in fields(cls)]

    @classmethod
    def at(cls, preset: str = "ci", **overrides: Any) -> ChapterConfig:
        """The ``preset`` instance with every non-None override applied (unknown names raise ConfigError)."""
        if preset not in cls.PRESETS:
            raise ConfigError(f"unknown preset {preset!r} for {cls.__name__}; choose one of: "
                              f"{', '.join(cls.PRESETS)}.")
        return cls.PRESETS[preset].replace(**overrides)

    def replace(self, **overrides: Any) -> ChapterConfig:
        """A copy with the non-None ``overrides``; an unknown knob raises one line listing the known ones."""
        unknown = sorted(k for k in overrides if k not in self.knobs())
        if unknown:
            raise ConfigError(f"unknown {type(self).__name__} setting(s) {', '.join(unknown)}; known: "
                              f"{', '.join(self.knobs())}.")
        return dataclasses.replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def to_dict(self) -> dict:
        """Every knob, JSON-ready (tuples stay tuples; :func:`smlib.train.checkpoint.canonical_config` lists them)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def train_config(self, *, seed: int, device, out_dir, **extra: Any) -> TrainConfig:
        """The :class:`TrainConfig` of a run: every TrainConfig field this chapter also declares (``steps``,
        ``batch_size``, ``lr``, ...) taken from it, plus ``seed``, ``device``, ``out_dir`` and ``extra``."""
        shared = {f.name: getattr(self, f.name) for f in fields(TrainConfig) if f.name in self.knobs()}
        shared.update(seed=int(seed), device=str(device), out_dir=str(out_dir), **extra)
        return TrainConfig(**shared)


def register_presets(cls: type[ChapterConfig], ci: ChapterConfig, small: ChapterConfig,
                     paper: ChapterConfig) -> type[ChapterConfig]:
    """Attach the three named instances to ``cls`` (each labelled with its preset name)."""
    cls.PRESETS = {name: dataclasses.replace(cfg, preset=name)
                   for name, cfg in zip(PRESET_NAMES, (ci, small, paper))}
    return cls


__all__ = ["ChapterConfig", "ConfigError", "PRESET_NAMES", "register_presets"]
