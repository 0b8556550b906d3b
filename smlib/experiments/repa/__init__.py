"""Chapter 6, representation alignment (notebook ``06_repa``): REPA, iREPA and our DoG-REPA on one latent recipe.

- :mod:`.config`  :class:`RepaConfig` (chapter 5's recipe + the alignment knobs), the arms, the presets
- :mod:`.recipe`  one run (chapter 5's run with the arm's alignment term) and the target-side spectra
- :mod:`.sweep`   every (arm, seed), each committed as ``results/repa/<preset>/<arm>-seed<k>.json``
- :mod:`.report`  the declared comparisons (:mod:`smlib.stats`) and the energy-vs-gain rank correlation

The alignment term itself is :mod:`smlib.diffusion.alignment`, its target tokens :mod:`smlib.data.targets`, its
readouts :mod:`smlib.metrics.alignment`.
"""
from smlib.experiments.repa.config import ARMS, Arm, RepaConfig, arm_of
from smlib.experiments.repa.recipe import (as_config, describe_encoder, latent_factor, run_arm, run_dir,
                                           target_encoder, target_spec_table, target_spectra)
from smlib.experiments.repa.report import DECLARED, energy_gain_correlation, judge_arms
from smlib.experiments.repa.sweep import CHAPTER, aggregate, load_sweep, run_sweep, shard_name

__all__ = ["ARMS", "Arm", "RepaConfig", "arm_of", "as_config", "describe_encoder", "latent_factor", "run_arm",
           "run_dir", "target_encoder", "target_spec_table", "target_spectra", "CHAPTER", "aggregate", "load_sweep",
           "run_sweep", "shard_name", "DECLARED", "energy_gain_correlation", "judge_arms"]
