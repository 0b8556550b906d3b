"""Typed configurations with named scales: one frozen dataclass per recipe, with a ``ci``, a ``small`` and a
``paper`` instance.

A recipe (a chapter, or a pipeline several chapters share) declares its knobs once, each with a comment saying
what it does, and its three presets beside them:

    @dataclass(frozen=True)
    class SpectralBiasConfig(PresetConfig):
        train_steps: int = 400      # optimiser steps of the denoiser
        ...
    SpectralBiasConfig.PRESETS = {"ci": SpectralBiasConfig(), "small": ..., "paper": ...}

The entry point (a notebook's parameters cell or the command line) resolves it once,

    cfg = SpectralBiasConfig.at("small", train_steps=2000)      # None overrides are ignored

and passes the object down. An unknown knob or preset raises :class:`ConfigError` with one line naming the known
ones, in every chapter. ``cfg.train_config(...)`` maps the knobs the training loop shares with the chapter onto a
:class:`~smlib.train.TrainConfig`, so no recipe copies that mapping by hand, and ``cfg.run_identity()`` says what
determines one run's result, so a committed run is only ever reported under the recipe that made it.
"""
from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from smlib.train.config import TrainConfig

PRESET_NAMES = ("ci", "small", "paper")


class ConfigError(ValueError):
    """A knob, preset or value a recipe does not know; the message is one line saying what to do."""


@dataclass(frozen=True)
class PresetConfig:
    """Base of every recipe's configuration. Subclasses add fields and set ``PRESETS``."""

    preset: str = "ci"          # which named scale this is: "ci", "small" or "paper"

    PRESETS: ClassVar[dict[str, PresetConfig]] = {}
    #: knobs that do not change a run's result: its name, how many steps (a longer run continues a finished one),
    #: how ranks share a step (DDP and FSDP average the same gradients) and the sweep's own lists
    NOT_IDENTITY: ClassVar[tuple[str, ...]] = ("preset", "steps", "parallel", "arms", "seeds", "variants",
                                               "ae_seeds")
    #: knobs added after runs were committed, with the value that reproduces the earlier behaviour: left out of the
    #: identity at that value, so those runs keep theirs
    ADDED_KNOBS: ClassVar[dict[str, Any]] = {}
    #: named protocols of the paper preset (a ``setting`` knob picks one): setting -> the knobs it overrides
    SETTINGS: ClassVar[dict[str, dict]] = {}
    #: the names an ``arms`` knob may hold (a sweep's arms); empty: not checked
    ARM_NAMES: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self):
        arms = getattr(self, "arms", None)
        unknown = [a for a in arms or () if self.ARM_NAMES and a not in self.ARM_NAMES]
        if unknown:
            raise ConfigError(f"unknown arm(s) {', '.join(unknown)}; choose from {', '.join(self.ARM_NAMES)}.")

    @classmethod
    def knobs(cls) -> list[str]:
        """The names a caller may set."""
        return [f.name for f in fields(cls)]

    @classmethod
    def resolve(cls, cfg: PresetConfig | str) -> PresetConfig:
        """A config object as it is, or the preset of that name."""
        return cls.at(cfg) if isinstance(cfg, str) else cfg

    @classmethod
    def at(cls, preset: str = "ci", **overrides: Any) -> PresetConfig:
        """The ``preset`` instance, then its ``setting``'s overrides (:data:`SETTINGS`), then every non-None
        override (unknown names raise ConfigError)."""
        if preset not in cls.PRESETS:
            raise ConfigError(f"unknown preset {preset!r} for {cls.__name__}; choose one of: "
                              f"{', '.join(cls.PRESETS)}.")
        base = cls.PRESETS[preset]
        setting = overrides.get("setting") or getattr(base, "setting", None)
        if setting is not None:
            if setting not in cls.SETTINGS:
                raise ConfigError(f"unknown setting {setting!r} for {cls.__name__}; choose one of: "
                                  f"{', '.join(cls.SETTINGS) or 'none (this recipe has no settings)'}.")
            base = dataclasses.replace(base, setting=setting, **cls.SETTINGS[setting])
        return base.replace(**overrides)

    def replace(self, **overrides: Any) -> PresetConfig:
        """A copy with the non-None ``overrides``; an unknown knob raises one line listing the known ones."""
        unknown = sorted(k for k in overrides if k not in self.knobs())
        if unknown:
            raise ConfigError(f"unknown {type(self).__name__} setting(s) {', '.join(unknown)}; known: "
                              f"{', '.join(self.knobs())}.")
        return dataclasses.replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def to_dict(self) -> dict:
        """Every knob, JSON-ready (tuples stay tuples; :func:`smlib.train.checkpoint.canonical_config` lists them)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def run_identity(self) -> dict:
        """What determines one run's result: every knob but :data:`NOT_IDENTITY` (and :data:`ADDED_KNOBS` at their
        earlier value)."""
        return {k: v for k, v in self.to_dict().items() if k not in self.NOT_IDENTITY
                and not (k in self.ADDED_KNOBS and v == self.ADDED_KNOBS[k])}

    def train_config(self, *, seed: int, device, out_dir, **extra: Any) -> TrainConfig:
        """The :class:`TrainConfig` of a run: every TrainConfig field this chapter also declares (``steps``,
        ``batch_size``, ``lr``, ...) taken from it, plus ``seed``, ``device``, ``out_dir`` and ``extra``."""
        shared = {f.name: getattr(self, f.name) for f in fields(TrainConfig) if f.name in self.knobs()}
        shared.update(seed=int(seed), device=str(device), out_dir=str(out_dir), **extra)
        return TrainConfig(**shared)


@dataclass(frozen=True)
class DiffusionRecipeConfig(PresetConfig):
    """The knobs every diffusion recipe shares with :class:`~smlib.train.TrainConfig` (same names): the budget, the
    optimiser, EMA and the cadence of evaluations, checkpoints and logs. A recipe redeclares a field to change its
    default (DCTdiff's AdamW betas, say)."""

    steps: int = 100
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float | None = 1.0
    warmup_steps: int = 10
    ema_decay: float | None = 0.98
    eval_every: int | None = None            # gFID-N every this many steps (None: at the end only)
    ckpt_every: int | None = None
    log_every: int = 10
    parallel: str = "ddp"                    # under torchrun: "ddp", or "fsdp" to shard weights and AdamW state


def register_presets(cls: type[PresetConfig], ci: PresetConfig, small: PresetConfig,
                     paper: PresetConfig) -> type[PresetConfig]:
    """Attach the three named instances to ``cls`` (each labelled with its preset name)."""
    cls.PRESETS = {name: dataclasses.replace(cfg, preset=name)
                   for name, cfg in zip(PRESET_NAMES, (ci, small, paper))}
    return cls


# ------------------------------------------------------------------------------ --set KEY=VALUE overrides
def knob_value(text: str):
    """A ``--set`` value: JSON where it parses (numbers, lists, null), else the string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def typed_knob(value, hint, text: str | None = None):
    """``value`` as the type ``hint`` declares (a JSON int for a float knob becomes a float, a list a tuple, the raw
    ``text`` a string knob's value); TypeError where it does not fit. Unknown kinds of hint pass the value."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for a in (a for a in args if a is not type(None)):
            try:
                return typed_knob(value, a, text)
            except TypeError:
                pass
        raise TypeError
    if value is None:
        raise TypeError
    if hint is bool or hint is int:
        if isinstance(value, bool) != (hint is bool):
            raise TypeError
        if hint is int and isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, (int, bool)):
            return value
        raise TypeError
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise TypeError
    if hint is str:
        if isinstance(value, str) or text is not None:      # --set dataset=123 is the string "123"
            return value if isinstance(value, str) else text
        raise TypeError
    if hint is tuple or origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise TypeError
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(typed_knob(v, args[0]) for v in value)
        if args and len(args) != len(value):
            raise TypeError
        return tuple(typed_knob(v, a) for v, a in zip(value, args)) if args else tuple(value)
    if (hint is dict or origin is dict) and not isinstance(value, dict):
        raise TypeError
    return value


def knob_kind(hint) -> str:
    """What a knob of type ``hint`` takes, in words."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(knob_kind(a) for a in args)
    if origin is tuple:     # tuple[int, ...]: "a list of integers"; tuple[float, float]: "a list of 2 numbers"
        count = "" if len(args) == 2 and args[1] is Ellipsis else f"{len(args)} "
        return f"a list of {count}{knob_kind(args[0]).split(' ', 1)[1]}s"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string", dict: "a JSON object",
            type(None): "null"}.get(hint, f"a {getattr(hint, '__name__', hint)}")


def set_overrides(cls, preset: str, items) -> dict:
    """``--set KEY=VALUE`` items, each checked against the knob's declared type (and seeds non-negative); one line
    naming the item otherwise. Unknown knobs are left to :meth:`PresetConfig.at`, which lists the known ones."""
    hints = typing.get_type_hints(cls)
    default = cls.PRESETS.get(preset)
    out = {}
    for item in items:
        key, eq, text = item.partition("=")
        key = key.strip()
        if not eq or not key:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}.")
        value = knob_value(text)
        if key in {f.name for f in dataclasses.fields(cls)}:
            try:
                value = typed_knob(value, hints[key], text)
            except TypeError:
                now = f" (the {preset} preset's value is {json.dumps(getattr(default, key, None), default=str)})"
                raise ValueError(f"--set {item}: {key} takes {knob_kind(hints[key])}{now if default else ''}.") from None
            seeds = value if isinstance(value, tuple) else (value,)
            if (key == "seed" or key.endswith(("_seed", "seeds"))) and any(isinstance(v, int) and v < 0
                                                                            for v in seeds):
                raise ValueError(f"--set {item}: seeds must be non-negative integers.")
        out[key] = value
    return out


__all__ = ["PresetConfig", "DiffusionRecipeConfig", "ConfigError", "PRESET_NAMES", "register_presets",
           "knob_value", "typed_knob", "knob_kind", "set_overrides"]
