"""Every chapter's typed configuration: three presets, one-line refusal of an unknown knob or preset, overrides that
change only what they name, and the TrainConfig mapping done once."""
import dataclasses

import pytest

from smlib.pipelines.autoencoder import AutoencoderConfig
from smlib.config import PRESET_NAMES, ConfigError
from smlib.experiments.dctdiff import DCTdiffConfig
from smlib.experiments.diffusability import DiffusabilityConfig
from smlib.experiments.latent_spectra import LatentSpectraConfig
from smlib.experiments.repa import RepaConfig
from smlib.experiments.rmsc_identity import RMSCIdentityConfig
from smlib.experiments.spectral_bias import SpectralBiasConfig
from smlib.experiments.spectral_regularisation import SpectralRegConfig
from smlib.train import TrainConfig

CONFIGS = [SpectralBiasConfig, RMSCIdentityConfig, LatentSpectraConfig, AutoencoderConfig, DiffusabilityConfig,
           RepaConfig, DCTdiffConfig, SpectralRegConfig]


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_unknown_knob_is_refused_with_one_line_naming_it(cls):
    with pytest.raises(ConfigError) as err:
        cls.at("ci", learning_rate=1e-3)
    message = str(err.value)
    assert "\n" not in message and "learning_rate" in message and "known:" in message
    with pytest.raises(ConfigError, match="unknown preset 'huge'"):
        cls.at("huge")


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_presets_are_frozen_labelled_and_overrides_change_only_what_they_name(cls):
    assert tuple(cls.PRESETS) == PRESET_NAMES
    for name in PRESET_NAMES:
        cfg = cls.at(name)
        assert cfg.preset == name
        with pytest.raises(dataclasses.FrozenInstanceError):
            cfg.preset = "other"
    knob = next(f.name for f in dataclasses.fields(cls) if f.name != "preset" and isinstance(getattr(cls.at("ci"),
                                                                                                   f.name), int))
    base = cls.at("small")
    changed = cls.at("small", **{knob: getattr(base, knob) + 1})
    diff = [f.name for f in dataclasses.fields(cls) if getattr(changed, f.name) != getattr(base, f.name)]
    assert diff == [knob]
    assert cls.at("small", **{knob: None}) == base     # None means "the preset's value"


def test_train_config_takes_every_shared_knob_and_nothing_else():
    cfg = DiffusabilityConfig.at("small")
    tc = cfg.train_config(seed=3, device="cpu", out_dir="runs/x")
    shared = {f.name for f in dataclasses.fields(TrainConfig)} & set(cfg.knobs())
    assert shared >= {"steps", "batch_size", "lr", "ema_decay", "eval_every", "grad_clip", "warmup_steps"}
    assert all(getattr(tc, k) == getattr(cfg, k) for k in shared)
    assert (tc.seed, tc.device, tc.out_dir) == (3, "cpu", "runs/x")
    ae = AutoencoderConfig.at("paper").train_config(seed=0, device="cpu", out_dir="o", aux_start_step=50_000)
    assert ae.ema_decay is None and ae.aux_start_step == 50_000 and ae.lr == 5e-5


def test_paper_settings_layer_between_preset_and_overrides():
    celeba = DiffusabilityConfig.at("paper", setting="celebahq256", steps=10)
    assert celeba.model["arch"] == "uvit" and celeba.formulation == "ddpm-linear" and celeba.steps == 10
    assert DiffusabilityConfig.at("paper").setting == "imagenet256"
    with pytest.raises(ConfigError, match="unknown setting 'mars256'"):
        DiffusabilityConfig.at("paper", setting="mars256")


def test_the_run_identity_leaves_out_only_what_does_not_change_a_result():
    cfg = DCTdiffConfig.at("small")
    ident = cfg.run_identity()
    assert "steps" not in ident and "seeds" not in ident and "arms" not in ident and "preset" not in ident
    assert set(ident) == set(cfg.knobs()) - {"steps", "seeds", "arms", "preset", "parallel"}
    assert "steps" in AutoencoderConfig.at("small").run_identity()             # the lab checks its steps again
    assert "n_boot" not in DiffusabilityConfig.at("ci").run_identity()         # added later, at its old value
    assert DiffusabilityConfig.at("small").run_identity()["n_boot"] == 50
    assert not any(k.startswith("toy_") for k in SpectralRegConfig.at("small").run_identity())
    with pytest.raises(ConfigError, match="has no settings"):
        RepaConfig.at("paper", setting="imagenet256")
