"""Chapter 5, diffusability (notebook ``05_diffusability``): which latents does one diffusion recipe generate best
from?

- :mod:`.config`  :class:`DiffusabilityConfig`: the latent diffusion recipe's presets, the variants, the paper settings
- :mod:`.recipe`  one run (an autoencoder diffused and scored, with its decoder floor), the sweep of them, the
  declared comparisons, and the comparisons read at every logged step
- :mod:`.report`  reading the sweeps: what the decoder floor explains, the floor as a covariate, means with
  intervals, the probe analysis' inputs, and the lines the chapter's check cells print

The pipeline itself (latent cache, training, sampling, scores) is :mod:`smlib.pipelines.latent_diffusion`.
"""
from smlib.experiments.diffusability.config import (BOOK_VARIANTS, CI_VARIANTS, PAPER_SETTINGS, VARIANTS,
                                                    DiffusabilityConfig)
from smlib.experiments.diffusability.recipe import (DECLARED, DIFFUSION_SEED, FAMILIES, FIRST_SWEEP, METRICS,
                                                    N_SAMPLES, SWEEP, curve_metric, judge_by_step, run_variant)

__all__ = ["BOOK_VARIANTS", "CI_VARIANTS", "PAPER_SETTINGS", "VARIANTS", "DiffusabilityConfig", "DECLARED",
           "DIFFUSION_SEED", "FAMILIES", "FIRST_SWEEP", "METRICS", "N_SAMPLES", "SWEEP", "curve_metric",
           "judge_by_step", "run_variant"]
