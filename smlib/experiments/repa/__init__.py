"""Chapter 6, representation alignment (notebook ``06_repa``): REPA, iREPA and our DoG-REPA on one latent recipe.

- :mod:`.config`  :class:`RepaConfig` (the latent diffusion recipe + the alignment knobs), the arms, the presets
- :mod:`.recipe`  one run (the latent diffusion pipeline with the arm's alignment term), the target-side spectra,
  the sweep and its declared comparisons, and the energy-vs-gain rank correlation

The alignment term itself is :mod:`smlib.diffusion.alignment`, its target tokens :mod:`smlib.data.targets`, its
readouts :mod:`smlib.metrics.alignment`.
"""
from smlib.experiments.repa.config import ARMS, Arm, RepaConfig, arm_of
from smlib.experiments.repa.recipe import (DECLARED, FAMILIES, METRICS, SWEEP, describe_encoder,
                                           energy_gain_correlation, energy_gain_from_runs, latent_factor, run_arm,
                                           target_encoder, target_spec_table, target_spectra)

__all__ = ["ARMS", "Arm", "RepaConfig", "arm_of", "DECLARED", "FAMILIES", "METRICS", "SWEEP", "describe_encoder",
           "energy_gain_correlation", "energy_gain_from_runs", "latent_factor", "run_arm", "target_encoder",
           "target_spec_table", "target_spectra"]
